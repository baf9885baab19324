"""Checks on the poses and frames a user hands to a model, with messages that say what was expected.

Used by every prediction entry point (:class:`~har_tf.inference.HARPredictor`, the TF Serving client,
:meth:`~har_tf.models.MultiModalFusionModel.predict_proba`), so a bad array never reaches TensorFlow
and comes back as a raw stack trace.
"""

from __future__ import annotations

import numpy as np

from har_tf.errors import InvalidInputError
from har_tf.skeleton.channels import describe_channels, has_confidence, resolve_channels, spatial_dims


def numeric_array(values, name: str, shape: str, kinds: str = "fiu", what: str = "numbers") -> np.ndarray:
    """``values`` as a NumPy array of numbers, or a one-line error: ragged input (``name`` must be a
    rectangular array ``shape``), or a dtype whose kind is not in ``kinds`` (``name`` must hold ``what``)."""
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise InvalidInputError(f"{name} must be a rectangular array {shape}, got ragged input ({err})") from None
    if array.dtype.kind not in kinds:
        raise InvalidInputError(f"{name} must hold {what}, got dtype {array.dtype}")
    return array


def check_pose_batch(pose, expected: tuple[int, int, int] | None = None, name: str = "pose",
                     channels: str | None = None) -> tuple[np.ndarray, bool]:  # fmt: skip
    """Raw poses as float32 ``(N, T, J, C)``, and whether one clip ``(T, J, C)`` was given.

    ``expected`` is the model's ``(T, J, C)`` and ``channels`` its channel description (``xy``,
    ``xyc``, ``xyz``, ``xyzc``; ``None``: the default for the model's C, and without a model C must be
    2 or 3). Refused, each with its own message: a non-numeric dtype, a rank other than 3 or 4, an
    empty batch, T / J / C that differ from the model's, infinite values (NaN is allowed: it marks a
    missing joint), confidences outside [0, 1] (only for channels with a confidence), and a clip in
    which every joint of every frame is missing (nothing to classify).
    """
    array = numeric_array(pose, name, "(N, T, J, C)", "fiub", "numbers (float32 pixels)")
    if array.ndim not in (3, 4):
        raise InvalidInputError(f"{name} must be (N, T, J, C) or one clip (T, J, C), got {array.ndim} dimensions "
                                f"{array.shape}")  # fmt: skip
    single = array.ndim == 3
    array = array[None] if single else array
    if array.shape[0] == 0:
        raise InvalidInputError(f"{name} is an empty batch (0 clips): give at least one clip (N >= 1)")
    _, T, J, C = array.shape
    model_c = len(channels) if channels is not None else (expected[2] if expected is not None else None)
    if C not in (2, 3, 4) or (C == 4 and model_c != 4):
        raise InvalidInputError(f"{name} must have C = 2 (x, y) or 3 (x, y, confidence) channels, got C = {C}"
                                + ("" if model_c is None or model_c < 4 else " (or C = 4 for x, y, z, confidence)"))
    if expected is not None and channels is not None and len(channels) != expected[2]:
        raise InvalidInputError(f"channels {channels!r} do not fit a model that takes C = {expected[2]}")
    channels = resolve_channels(channels, model_c if model_c is not None else C)
    if expected is not None:
        eT, eJ, eC = expected
        if T != eT:
            raise InvalidInputError(f"{name} has T = {T} frames but the model takes T = {eT}: take a window of {eT} "
                                    f"frames (har_tf.data.preprocessing.center_window) or resample the clip")  # fmt: skip
        if J != eJ:
            raise InvalidInputError(f"{name} has J = {J} joints but the model takes J = {eJ}: the poses come from "
                                    f"another joint layout (convert them with har_tf.convert_pose)")  # fmt: skip
        if C != eC:
            raise InvalidInputError(f"{name} has C = {C} channels but the model takes C = {eC} "
                                    f"({describe_channels(channels)})")  # fmt: skip
    array = array.astype(np.float32)
    if np.isinf(array).any():
        where = np.argwhere(np.isinf(array))[0]
        raise InvalidInputError(f"{name} holds infinite values (first at clip {where[0]}, frame {where[1]}, joint "
                                f"{where[2]}): coordinates must be finite; NaN marks a missing joint")  # fmt: skip
    if C != len(channels):
        raise InvalidInputError(f"{name} has C = {C} channels but its channels {channels!r} are "
                                f"{len(channels)} values ({describe_channels(channels)})")  # fmt: skip
    dims = spatial_dims(channels)
    if has_confidence(channels):
        conf = array[..., -1]
        bad = np.isfinite(conf) & ((conf < 0) | (conf > 1))
        if bad.any():
            i = np.argwhere(bad)[0]
            raise InvalidInputError(f"{name} confidences must lie in [0, 1] (0 = missing joint), got "
                                    f"{conf[tuple(i)]:g} at clip {i[0]}, frame {i[1]}, joint {i[2]}")  # fmt: skip
    finite = np.isfinite(array).all(axis=-1)
    present = finite & np.any(array[..., :dims] != 0, axis=-1)
    if has_confidence(channels):
        present &= array[..., -1] > 0
    empty = ~present.any(axis=(1, 2))
    if empty.any():
        how = "confidence 0, all zeros or NaN" if has_confidence(channels) else "all zeros or NaN"
        raise InvalidInputError(f"clip {int(np.argmax(empty))} of {name} has every joint missing in every frame "
                                f"({how}; channels {channels!r}): nothing to classify")  # fmt: skip
    return array, single


def check_frames_batch(frames, expected: tuple[int, int, int, int], count: int, single: bool,
                       name: str = "frames") -> np.ndarray:  # fmt: skip
    """RGB frames as uint8 ``(N, F, H, W, 3)`` for ``count`` clips (one clip ``(F, H, W, 3)`` when ``single``)."""
    array = np.asarray(frames)
    if array.dtype.kind not in "fiub":
        raise InvalidInputError(f"{name} must be uint8 RGB pixels, got dtype {array.dtype}")
    array = array[None] if single and array.ndim == 4 else array
    shape = ", ".join(map(str, expected))
    if array.ndim != 5 or array.shape[1:] != tuple(expected) or len(array) != count:
        what = " (3 channels: RGB)" if array.ndim >= 1 and array.shape[-1] != 3 else ""
        raise InvalidInputError(f"{name} must be uint8 (N, {shape}) with N = {count}{what}, got {array.shape}")
    if array.dtype != np.uint8:
        if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 255 or not np.isfinite(array).all()):
            raise InvalidInputError(f"{name} must be RGB pixels in [0, 255] (uint8)")
        array = array.astype(np.uint8)
    return array
