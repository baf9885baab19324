"""Checks on the poses and frames a user hands to a model, with messages that say what was expected.

Used by every prediction entry point (:class:`~har_tf.inference.HARPredictor`, the TF Serving client,
:meth:`~har_tf.models.MultiModalFusionModel.predict_proba`), so a bad array never reaches TensorFlow
and comes back as a raw stack trace.
"""

from __future__ import annotations

import numpy as np

from har_tf.errors import InvalidInputError


def check_pose_batch(pose, expected: tuple[int, int, int] | None = None, name: str = "pose") -> tuple[np.ndarray, bool]:
    """Raw poses as float32 ``(N, T, J, C)``, and whether one clip ``(T, J, C)`` was given.

    ``expected`` is the model's ``(T, J, C)``. Refused, each with its own message: a non-numeric
    dtype, a rank other than 3 or 4, an empty batch, T / J / C that differ from the model's (C must be
    2 or 3), infinite values (NaN is allowed: it marks a missing joint), confidences outside [0, 1],
    and a clip in which every joint of every frame is missing (nothing to classify).
    """
    try:
        array = np.asarray(pose)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise InvalidInputError(f"{name} must be a rectangular array (N, T, J, C), got ragged input ({err})") from None
    if array.dtype.kind not in "fiub":
        raise InvalidInputError(f"{name} must hold numbers (float32 pixels), got dtype {array.dtype}")
    if array.ndim not in (3, 4):
        raise InvalidInputError(f"{name} must be (N, T, J, C) or one clip (T, J, C), got {array.ndim} dimensions "
                                f"{array.shape}")  # fmt: skip
    single = array.ndim == 3
    array = array[None] if single else array
    if array.shape[0] == 0:
        raise InvalidInputError(f"{name} is an empty batch (0 clips): give at least one clip (N >= 1)")
    _, T, J, C = array.shape
    if C not in (2, 3):
        raise InvalidInputError(f"{name} must have C = 2 (x, y) or 3 (x, y, confidence) channels, got C = {C}")
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
                                    f"({'x, y, confidence' if eC == 3 else 'x, y'})")  # fmt: skip
    array = array.astype(np.float32)
    if np.isinf(array).any():
        where = np.argwhere(np.isinf(array))[0]
        raise InvalidInputError(f"{name} holds infinite values (first at clip {where[0]}, frame {where[1]}, joint "
                                f"{where[2]}): coordinates must be finite; NaN marks a missing joint")  # fmt: skip
    if C == 3:
        conf = array[..., 2]
        bad = np.isfinite(conf) & ((conf < 0) | (conf > 1))
        if bad.any():
            i = np.argwhere(bad)[0]
            raise InvalidInputError(f"{name} confidences must lie in [0, 1] (0 = missing joint), got "
                                    f"{conf[tuple(i)]:g} at clip {i[0]}, frame {i[1]}, joint {i[2]}")  # fmt: skip
    finite = np.isfinite(array).all(axis=-1)
    present = finite & np.any(array[..., :2] != 0, axis=-1)
    if C == 3:
        present &= array[..., 2] > 0
    empty = ~present.any(axis=(1, 2))
    if empty.any():
        raise InvalidInputError(f"clip {int(np.argmax(empty))} of {name} has every joint missing in every frame "
                                "(confidence 0, all zeros or NaN): nothing to classify")  # fmt: skip
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
