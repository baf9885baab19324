"""Checks on the poses and frames handed to HAR-TF, one set for every door, with messages that say what was
expected.

Used by every entry point that takes poses or frames: the datasets read for training and evaluation
(:class:`~har_tf.data.pose_npz.PoseDataset`, :func:`~har_tf.data.pipeline.make_pose_dataset`), the
predictor (:class:`~har_tf.inference.HARPredictor`), the TF Serving client, the streaming recogniser and
:meth:`~har_tf.models.MultiModalFusionModel.predict_proba`. A bad array never reaches TensorFlow and
never comes back as a raw stack trace or as a silently wrong answer.

The rule for each kind of bad value, the same at every door:

==================================  =========================================================================
value                               rule
==================================  =========================================================================
pose dtype not a number (strings,   refused
bool, objects)
+Inf / -Inf coordinate              refused
coordinate beyond +-1e6             refused (normalisation in float32 would lose it; pixels and metres are
(``MAX_COORDINATE``)                far below)
confidence outside [0, 1]           refused (channels with a confidence only)
NaN in a joint                      masked: the joint is missing (like confidence 0 or all zeros)
a clip with every joint missing     predictor, client, stream: refused (nothing to classify); a dataset:
                                    kept and counted (:func:`empty_clips`, shown in ``summary()``)
a split with every joint missing    refused (nothing to learn from or evaluate on)
frames of bool or non-numbers       refused
frames outside [0, 255], or not     refused, never cast: float frames scaled to [0, 1] or values such as
whole numbers                       300 would turn into other pictures as uint8; integer or float frames
                                    of whole numbers in [0, 255] are taken as they are by the predictor
                                    and the client; one frame for a pose estimator (a stream) must be
                                    uint8 itself, as the estimators take
==================================  =========================================================================
"""

from __future__ import annotations

import numbers

import numpy as np

from har_tf.errors import InvalidInputError
from har_tf.skeleton.channels import describe_channels, has_confidence, resolve_channels, spatial_dims

MAX_COORDINATE = 1e6
"""The largest coordinate magnitude taken (pixels or metres); larger ones are refused."""


def numeric_array(
    values,
    name: str,
    shape: str,
    kinds: str = "fiu",
    what: str = "numbers",
    error: type[InvalidInputError] = InvalidInputError,
) -> np.ndarray:
    """``values`` as a NumPy array of numbers, or a one-line error: ragged input (``name`` must be a
    rectangular array ``shape``), or a dtype whose kind is not in ``kinds`` (``name`` must hold ``what``)."""
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise error(f"{name} must be a rectangular array {shape}, got ragged input ({err})") from None
    if array.dtype.kind not in kinds:
        raise error(f"{name} must hold {what}, got dtype {array.dtype}")
    return array


# --- arguments ---------------------------------------------------------------------------------------
def positive_int(value, name: str, what: str = "a positive whole number") -> int:
    """``value`` as an int >= 1, or a one-line error (bools, floats and strings are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidInputError(f"{name} must be {what}, got {value!r}")
    return int(value)


def probability(value, name: str) -> float:
    """``value`` as a float in [0, 1], or a one-line error (strings, bools and NaN are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise InvalidInputError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


# --- poses -------------------------------------------------------------------------------------------
def _where(index) -> str:
    return f"clip {index[0]}, frame {index[1]}, joint {index[2]}"


def check_pose_values(
    array: np.ndarray, name: str, channels: str, error: type[InvalidInputError] = InvalidInputError, hint: str = ""
) -> None:
    """Refuse infinite values, coordinates beyond ``MAX_COORDINATE`` and confidences outside [0, 1] (the
    message ends with ``hint``) in float poses ``(N, T, J, C)`` whose C values are ``channels`` (NaN passes:
    it marks a missing joint)."""
    if np.isinf(array).any():
        raise error(
            f"{name} holds infinite values (first at {_where(np.argwhere(np.isinf(array))[0])}): coordinates "
            "must be finite; NaN marks a missing joint"
        )
    coordinates = array[..., : spatial_dims(channels)]
    if any(((value > MAX_COORDINATE) | (value < -MAX_COORDINATE)).any() for value in _channels_of(coordinates)):
        i = np.argwhere(np.abs(np.nan_to_num(coordinates)) > MAX_COORDINATE)[0]
        raise error(
            f"{name} holds coordinates too large to normalise ({coordinates[tuple(i)]:g} at {_where(i)}): "
            f"coordinates must lie within +-{MAX_COORDINATE:g} (pixels or metres)"
        )
    if has_confidence(channels):
        conf = array[..., -1]
        bad = np.isfinite(conf) & ((conf < 0) | (conf > 1))
        if bad.any():
            i = np.argwhere(bad)[0]
            raise error(
                f"{name} confidences must lie in [0, 1] (0 = missing joint), got {conf[tuple(i)]:g} at "
                f"{_where(i)}{hint}"
            )


def present_joints(array: np.ndarray, channels: str) -> np.ndarray:
    """Bool ``(N, T, J)``: the joints that are there (finite, not all zeros, confidence > 0 when there is one)."""
    values = _channels_of(array)
    finite, nonzero = np.isfinite(values[0]), values[0] != 0
    for c, value in enumerate(values[1:], start=1):
        finite &= np.isfinite(value)
        if c < spatial_dims(channels):
            nonzero |= value != 0
    present = finite & nonzero
    if has_confidence(channels):
        present &= values[-1] > 0
    return present


def _channels_of(array: np.ndarray) -> list[np.ndarray]:
    """The C channel planes of ``(..., C)`` (element-wise work on them is much faster than reducing over C)."""
    return [array[..., c] for c in range(array.shape[-1])]


def empty_clips(array: np.ndarray, channels: str) -> np.ndarray:
    """Bool ``(N,)``: the clips of ``(N, T, J, C)`` in which every joint of every frame is missing."""
    return ~present_joints(array, channels).any(axis=(1, 2))


def _missing_how(channels: str) -> str:
    how = "confidence 0, all zeros or NaN" if has_confidence(channels) else "all zeros or NaN"
    return f"{how}; channels {channels!r}"


def check_training_poses(
    x: np.ndarray, name: str, channels: str | None, error: type[InvalidInputError] = InvalidInputError
) -> None:
    """The value rules for one split of a dataset ``(N, T, J, C)`` (see the module docstring): refuse what
    :func:`check_pose_values` refuses, and a split in which every joint of every clip is missing.
    ``channels`` None: the default for C (``xyc`` for C = 3)."""
    hint = "; if the third value is z (3D poses), give channels 'xyz'" if channels is None and x.shape[-1] == 3 else ""
    channels = resolve_channels(channels, x.shape[-1])
    check_pose_values(x, name, channels, error, hint)
    if len(x) and empty_clips(x, channels).all():
        raise error(
            f"{name} has every joint missing in every clip ({_missing_how(channels)}): nothing to learn "
            "from or evaluate on"
        )


def check_pose_batch(
    pose, expected: tuple[int, int, int] | None = None, name: str = "pose", channels: str | None = None
) -> tuple[np.ndarray, bool]:
    """Raw poses as float32 ``(N, T, J, C)``, and whether one clip ``(T, J, C)`` was given.

    ``expected`` is the model's ``(T, J, C)`` and ``channels`` its channel description (``xy``,
    ``xyc``, ``xyz``, ``xyzc``; ``None``: the default for the model's C, and without a model C must be
    2 or 3). Refused, each with its own message: a dtype that is not a number (bool included), a rank
    other than 3 or 4, an empty batch, T / J / C that differ from the model's, the values
    :func:`check_pose_values` refuses, and a clip in which every joint of every frame is missing
    (nothing to classify). NaN marks a missing joint.
    """
    array = numeric_array(pose, name, "(N, T, J, C)", "fiu", "numbers (float32 pixels)")
    if array.ndim not in (3, 4):
        raise InvalidInputError(
            f"{name} must be (N, T, J, C) or one clip (T, J, C), got {array.ndim} dimensions {array.shape}"
        )
    single = array.ndim == 3
    array = array[None] if single else array
    if array.shape[0] == 0:
        raise InvalidInputError(f"{name} is an empty batch (0 clips): give at least one clip (N >= 1)")
    _, T, J, C = array.shape
    model_c = len(channels) if channels is not None else (expected[2] if expected is not None else None)
    if C not in (2, 3, 4) or (C == 4 and model_c != 4):
        raise InvalidInputError(
            f"{name} must have C = 2 (x, y) or 3 (x, y, confidence) channels, got C = {C}"
            + ("" if model_c is None or model_c < 4 else " (or C = 4 for x, y, z, confidence)")
        )
    if expected is not None and channels is not None and len(channels) != expected[2]:
        raise InvalidInputError(f"channels {channels!r} do not fit a model that takes C = {expected[2]}")
    channels = resolve_channels(channels, model_c if model_c is not None else C)
    if expected is not None:
        eT, eJ, eC = expected
        if T != eT:
            raise InvalidInputError(
                f"{name} has T = {T} frames but the model takes T = {eT}: take a window of {eT} "
                f"frames (har_tf.data.preprocessing.center_window) or resample the clip"
            )
        if J != eJ:
            raise InvalidInputError(
                f"{name} has J = {J} joints but the model takes J = {eJ}: the poses come from "
                f"another joint layout (convert them with har_tf.convert_pose)"
            )
        if C != eC:
            raise InvalidInputError(
                f"{name} has C = {C} channels but the model takes C = {eC} ({describe_channels(channels)})"
            )
    if C != len(channels):
        raise InvalidInputError(
            f"{name} has C = {C} channels but its channels {channels!r} are "
            f"{len(channels)} values ({describe_channels(channels)})"
        )
    array = array.astype(np.float32)
    check_pose_values(array, name, channels)
    empty = empty_clips(array, channels)
    if empty.any():
        raise InvalidInputError(
            f"clip {int(np.argmax(empty))} of {name} has every joint missing in every frame "
            f"({_missing_how(channels)}): nothing to classify"
        )
    return array, single


# --- frames ------------------------------------------------------------------------------------------
def check_pixels(array: np.ndarray, name: str) -> np.ndarray:
    """RGB pixels as uint8, by the frame rule of the module docstring: uint8 as it is, other numbers only when
    every value is a whole number in [0, 255] (never cast)."""
    if array.dtype.kind not in "fiu":
        raise InvalidInputError(f"{name} must be uint8 RGB pixels, got dtype {array.dtype}")
    if array.dtype == np.uint8 or not array.size:
        return array.astype(np.uint8, copy=False)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise InvalidInputError(f"{name} must be RGB pixels in [0, 255] (uint8), got NaN or infinite values")
    low, high = array.min(), array.max()
    if low < 0 or high > 255:
        raise InvalidInputError(f"{name} must be RGB pixels in [0, 255] (uint8), got values from {low:g} to {high:g}")
    if array.dtype.kind == "f" and (np.mod(array, 1) != 0).any():
        hint = ": images scaled to [0, 1] need (frames * 255).round().astype(np.uint8)" if high <= 1 else ""
        raise InvalidInputError(
            f"{name} must be RGB pixels in [0, 255] (uint8), got {array.dtype} values that are "
            f"not whole numbers (from {low:g} to {high:g}){hint}"
        )
    return array.astype(np.uint8)


def check_frames_batch(
    frames, expected: tuple[int, int, int, int] | None, count: int, single: bool, name: str = "frames"
) -> np.ndarray:
    """RGB frames as uint8 ``(N, F, H, W, 3)`` for ``count`` clips (one clip ``(F, H, W, 3)`` when ``single``);
    ``expected`` is the model's ``(F, H, W, 3)`` (``None``: any F, H, W). Pixels by :func:`check_pixels`."""
    array = numeric_array(frames, name, "(N, F, H, W, 3)", "fiu", "uint8 RGB pixels")
    array = array[None] if single and array.ndim == 4 else array
    shape = "F, H, W, 3" if expected is None else ", ".join(map(str, expected))
    fits = array.ndim == 5 and array.shape[-1] == 3 and (expected is None or array.shape[1:] == tuple(expected))
    if not fits or len(array) != count:
        what = " (3 channels: RGB)" if array.ndim >= 1 and array.shape[-1] != 3 else ""
        raise InvalidInputError(f"{name} must be uint8 (N, {shape}) with N = {count}{what}, got {array.shape}")
    return check_pixels(array, name)


def check_frame(frame, name: str = "frame") -> np.ndarray:
    """One RGB image uint8 ``(H, W, 3)`` for a pose estimator: pixels by :func:`check_pixels`, and uint8 itself
    (what the estimators take)."""
    array = numeric_array(frame, name, "(H, W, 3)", "fiu", "uint8 RGB pixels")
    if array.ndim != 3 or array.shape[-1] != 3 or min(array.shape[:2]) < 1:
        raise InvalidInputError(f"{name} must be one uint8 RGB image (H, W, 3), got shape {array.shape}")
    check_pixels(array, name)
    if array.dtype != np.uint8:
        raise InvalidInputError(
            f"{name} must be a uint8 RGB image (what a pose estimator takes), got dtype "
            f"{array.dtype}: convert it with .astype(np.uint8)"
        )
    return array
