"""What the last axis of a pose tensor holds: its channel description.

A pose tensor has shape ``(..., J, C)``. Its channels are one of:

========  ===  ==============================================================
channels  C    meaning
========  ===  ==============================================================
``xy``    2    image or world coordinates; a joint of all zeros is missing
``xyc``   3    x, y and a detector confidence in [0, 1]; confidence 0 = missing
``xyz``   3    3D coordinates (for example Kinect camera space, y up); a joint
               of all zeros is missing
``xyzc``  4    3D coordinates and a confidence; confidence 0 = missing
========  ===  ==============================================================

A joint with a NaN is missing whatever the channels. C = 3 is ambiguous: it is ``xyc`` unless the
data says ``xyz``. ``None`` means the default for C (:func:`default_channels`); the data readers and
preprocessing functions take C = 4 only with an explicit ``"xyzc"``.
"""

from __future__ import annotations

from har_tf.errors import InvalidInputError

CHANNELS = ("xy", "xyc", "xyz", "xyzc")
_DEFAULT_BY_C = {2: "xy", 3: "xyc", 4: "xyzc"}


def default_channels(num_channels: int) -> str:
    """The channel description a pose tensor with C channels has when nothing says otherwise."""
    try:
        return _DEFAULT_BY_C[int(num_channels)]
    except (KeyError, TypeError, ValueError):
        raise InvalidInputError(
            f"a pose tensor has C = 2 (x, y), 3 (x, y, confidence or x, y, z) or 4 (x, y, z, confidence) "
            f"channels, got C={num_channels}"
        ) from None


def check_channels(channels: str) -> str:
    """``channels`` if it is one of :data:`CHANNELS`, else a clear error."""
    if not isinstance(channels, str) or channels not in CHANNELS:
        raise InvalidInputError(f"pose channels must be one of {list(CHANNELS)}, got {channels!r}")
    return channels


def resolve_channels(channels: str | None, num_channels: int | None = None) -> str:
    """The channel description for a tensor with ``num_channels`` channels.

    ``None`` gives :func:`default_channels`; a given description must be valid and, when
    ``num_channels`` is known, have exactly that many letters.
    """
    if channels is None:
        if num_channels is None:
            raise InvalidInputError("pose channels are unknown: give channels or the channel count C")
        return default_channels(num_channels)
    channels = check_channels(channels)
    if num_channels is not None and len(channels) != int(num_channels):
        raise InvalidInputError(
            f"pose channels {channels!r} describe C={len(channels)} values per joint but the poses have "
            f"C={num_channels}"
        )
    return channels


def spatial_dims(channels: str) -> int:
    """How many coordinates a joint has: 2 for ``xy``/``xyc``, 3 for ``xyz``/``xyzc``."""
    return 3 if "z" in check_channels(channels) else 2


def has_confidence(channels: str) -> bool:
    """Whether the last channel is a detector confidence."""
    return check_channels(channels).endswith("c")


def channel_count(num_channels: int | None, channels: str | None, default: int = 3) -> int:
    """C from a model's arguments: ``num_channels`` if given, else the length of ``channels``, else ``default``."""
    if num_channels is not None:
        return int(num_channels)
    return len(check_channels(channels)) if channels is not None else default


def describe_channels(channels: str) -> str:
    """Human words for a channel description: ``"xyc"`` -> ``"x, y, confidence"``."""
    names = {"x": "x", "y": "y", "z": "z", "c": "confidence"}
    return ", ".join(names[letter] for letter in check_channels(channels))
