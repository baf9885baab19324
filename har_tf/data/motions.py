"""Convert the ragged "motions" BODY_25 recordings into a pose dataset NPZ.

Source format (one ``.npz``, read without pickles):

==============  ====================  ===============================================================
key             dtype / shape         meaning
==============  ====================  ===============================================================
``frames``      float (F, >= 75)      per frame 25 BODY_25 joints x (x, y, c), then extra columns
                                      (4 arm angles in the original file; dropped here)
``offsets``     int (N + 1,)          sequence i is ``frames[offsets[i]:offsets[i + 1]]``
``split``       str (N,)              ``"train"`` or ``"test"``
``label``       str (N,)              class name of each sequence
``subject``     int (N,)              subject id of each sequence
==============  ====================  ===============================================================

Output (:mod:`har_tf.data.pose_npz` format): layout ``body25``, C = 3 (x, y, c), float32. Joints with
confidence 0 are set to all zeros (the source keeps garbage coordinates there). Every sequence is
zero-padded at the end to T = the longest sequence, or to ``max_frames`` when given, in which case
longer sequences keep their centre ``max_frames`` frames. ``class_names`` are the labels sorted
alphabetically. Extras: ``subject_train``, ``subject_test`` and ``length_train``, ``length_test``
(int64, the number of real frames of each sequence in the array: its true length, or ``max_frames``
when it was cropped).
"""

from __future__ import annotations

import os

import numpy as np

from har_tf.data.pose_npz import PoseDataset, read_npz
from har_tf.errors import DataFormatError, InvalidInputError

NUM_JOINTS = 25
_REQUIRED = ("frames", "offsets", "split", "label", "subject")


def convert_motions(
    src_npz: str | os.PathLike,
    out_npz: str | os.PathLike | None = None,
    max_frames: int | None = None,
) -> PoseDataset:
    """Read the motions NPZ, convert it (see the module docstring) and save it to ``out_npz``.

    Returns the :class:`PoseDataset`; with ``out_npz=None`` nothing is written.
    """
    if max_frames is not None and (not isinstance(max_frames, (int, np.integer)) or max_frames < 1):
        raise InvalidInputError(f"max_frames must be a positive integer or None, got {max_frames!r}")
    arrays = read_npz(src_npz)
    frames, offsets, split, labels, subjects = _validated(arrays, src_npz)
    lengths = np.diff(offsets)
    num_frames = int(max_frames) if max_frames is not None else int(lengths.max())
    class_names = tuple(sorted(set(labels.tolist())))
    y_all = np.searchsorted(np.asarray(class_names), labels).astype(np.int64)

    poses = frames[:, : NUM_JOINTS * 3].reshape(-1, NUM_JOINTS, 3).astype(np.float32)
    poses[poses[..., 2] <= 0] = 0.0  # missing joints: all zeros
    parts: dict[str, np.ndarray] = {}
    extras: dict[str, np.ndarray] = {}
    for name in ("train", "test"):
        idx = np.flatnonzero(split == name)
        if idx.size == 0:
            continue
        x, kept = _pad_or_crop(poses, offsets, idx, num_frames)
        parts[f"x_{name}"], parts[f"y_{name}"] = x, y_all[idx]
        extras[f"subject_{name}"] = subjects[idx]
        extras[f"length_{name}"] = kept
    if "x_train" not in parts:
        raise DataFormatError(f"{src_npz}: no sequence has split 'train'")
    dataset = PoseDataset(class_names=class_names, layout="body25", extras=extras, **parts)
    if out_npz is not None:
        dataset.save(out_npz, compress=True)
    return dataset


def _validated(arrays: dict[str, np.ndarray], path) -> tuple[np.ndarray, ...]:
    missing = [k for k in _REQUIRED if k not in arrays]
    if missing:
        raise DataFormatError(f"{path}: a motions NPZ needs arrays {list(_REQUIRED)}; missing {missing}")
    frames, offsets = arrays["frames"], arrays["offsets"]
    split, labels, subjects = arrays["split"], arrays["label"], arrays["subject"]
    if frames.ndim != 2 or frames.shape[1] < NUM_JOINTS * 3 or frames.dtype.kind not in "fiu":
        raise DataFormatError(
            f"{path}: frames must be a numeric (F, >= 75) array (25 joints x (x, y, c) per row), "
            f"got {frames.dtype} {frames.shape}"
        )
    if offsets.ndim != 1 or offsets.dtype.kind not in "iu" or offsets.size < 2:
        raise DataFormatError(
            f"{path}: offsets must be an int array of shape (N + 1,), got {offsets.dtype} {offsets.shape}"
        )
    if offsets[0] != 0 or offsets[-1] != len(frames) or np.any(np.diff(offsets) <= 0):
        raise DataFormatError(
            f"{path}: offsets must increase strictly from 0 to the number of frames ({len(frames)}), "
            f"got {offsets[0]} ... {offsets[-1]}"
        )
    num = offsets.size - 1
    for key, arr, kinds in (("split", split, "US"), ("label", labels, "US"), ("subject", subjects, "iu")):
        if arr.shape != (num,) or arr.dtype.kind not in kinds:
            raise DataFormatError(
                f"{path}: {key} must have shape ({num},) ({'str' if kinds == 'US' else 'int'}), "
                f"got {arr.dtype} {arr.shape}"
            )
    split = split.astype(str)
    unknown = sorted(set(split.tolist()) - {"train", "test"})
    if unknown:
        raise DataFormatError(f"{path}: split values must be 'train' or 'test', got {unknown}")
    if not np.all(np.isfinite(frames[:, : NUM_JOINTS * 3])):
        raise DataFormatError(f"{path}: frames contain NaN or infinite values")
    return frames, offsets.astype(np.int64), split, labels.astype(str), subjects.astype(np.int64)


def _pad_or_crop(
    poses: np.ndarray, offsets: np.ndarray, idx: np.ndarray, num_frames: int
) -> tuple[np.ndarray, np.ndarray]:
    """Sequences ``idx`` as ``(n, num_frames, 25, 3)``: zero-padded at the end, centre-cropped when longer."""
    lengths = offsets[idx + 1] - offsets[idx]
    kept = np.minimum(lengths, num_frames)
    starts = offsets[idx] + (lengths - kept) // 2  # first source frame kept
    seq = np.repeat(np.arange(idx.size), kept)
    pos = np.arange(kept.sum()) - np.repeat(np.cumsum(kept) - kept, kept)
    out = np.zeros((idx.size, num_frames, NUM_JOINTS, 3), dtype=np.float32)
    out[seq, pos] = poses[np.repeat(starts, kept) + pos]
    return out, kept.astype(np.int64)
