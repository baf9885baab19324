"""Raw input samples from a dataset, for parity checks and int8 calibration."""

from __future__ import annotations

import numpy as np

from har_tf.data.feature_cache import frames_per_clip
from har_tf.data.frames import decode_clips
from har_tf.data.pose_npz import PoseDataset
from har_tf.data.preprocessing import center_window, sequence_lengths
from har_tf.errors import InvalidInputError
from har_tf.export.servable import ServingSpec
from har_tf.models.inertial_encoder import check_imu_batch


def export_samples(
    dataset: PoseDataset, split: str, spec: ServingSpec, limit: int | None = 64, seed: int = 0
) -> dict[str, np.ndarray]:
    """Up to ``limit`` clips of ``split`` as the export's raw inputs: ``pose`` float32 (N, T, J, C) in
    pixels (the centre T frames of longer sequences) and, for a model with an image branch, ``frames``
    uint8 (N, F, H, W, 3), for one with an object branch ``objects`` float32 (N, T, K, 6): the data's
    ``objects_<split>``, or all zeros (no detections) when it has none, and for one with an inertial
    branch ``imu`` float32 (N, S, D): the data's raw sensor samples ``imu_<split>`` (S samples over each
    clip), or all zeros (no sensor) when it has none. The clips are a seeded random subset, in dataset
    order."""
    x, _ = dataset.split(split)
    num_frames, joints, channels = spec.pose_shape
    if x.shape[2:] != (joints, channels):
        raise InvalidInputError(
            f"the model takes poses with {joints} joints and {channels} channels; the {split!r} split has {x.shape[2:]}"
        )
    chosen = np.arange(len(x))
    if limit is not None and limit < len(x):
        chosen = np.sort(np.random.default_rng(seed).choice(len(x), size=limit, replace=False))
    if x.shape[1] == num_frames:
        pose = np.asarray(x[chosen], np.float32)
    else:
        lengths = sequence_lengths(x[chosen])
        pose = np.stack([center_window(x[i], n, num_frames) for i, n in zip(chosen, lengths)]).astype(np.float32)
    samples = {"pose": pose}
    if spec.frames_shape is not None:
        blob, offsets = dataset.extras.get(f"frames_{split}_jpeg"), dataset.extras.get(f"frames_{split}_offsets")
        if blob is None or offsets is None:
            raise InvalidInputError(f"the fusion model needs frames, and the {split!r} split has none")
        frames = decode_clips(blob, offsets, frames_per_clip(dataset), chosen)
        if frames.shape[1:] != spec.frames_shape:
            raise InvalidInputError(f"the model takes frames {spec.frames_shape}; the data has {frames.shape[1:]}")
        samples["frames"] = frames
    if spec.objects_shape is not None:
        samples["objects"] = _objects(dataset, split, spec, chosen, x.shape[1])
    if spec.imu_shape is not None:
        samples["imu"] = _imu(dataset, split, spec, chosen)
    return samples


def _imu(dataset: PoseDataset, split: str, spec: ServingSpec, chosen: np.ndarray) -> np.ndarray:
    """The chosen clips' raw sensor samples ``(N, S, D)``, checked; zeros when the split has none."""
    imu = dataset.extras.get(f"imu_{split}")
    if imu is None:
        return np.zeros((len(chosen), *spec.imu_shape), np.float32)
    return check_imu_batch(np.asarray(imu)[chosen], *spec.imu_shape, batch=len(chosen), name=f"imu_{split}")


def _objects(dataset: PoseDataset, split: str, spec: ServingSpec, chosen: np.ndarray, data_frames: int) -> np.ndarray:
    """The chosen clips' raw detections ``(N, T, K, 6)``, checked; zeros when the split has none."""
    from har_tf.data.objects import check_objects_batch

    num_frames, slots = spec.objects_shape[0], spec.objects_shape[1]
    objects = dataset.extras.get(f"objects_{split}")
    if objects is None:
        return np.zeros((len(chosen), num_frames, slots, 6), np.float32)
    if data_frames != num_frames:
        raise InvalidInputError(
            f"the model takes detections for T = {num_frames} frames, and the {split!r} "
            f"split's clips have T = {data_frames}: objects need clips of exactly the model's T"
        )
    classes = None if spec.object_classes is None else len(spec.object_classes)
    return check_objects_batch(
        np.asarray(objects)[chosen], num_frames, classes, slots, len(chosen), name=f"objects_{split}"
    )


def held_out_split(dataset: PoseDataset) -> str:
    """The split parity checks use: test, else val."""
    for split in ("test", "val"):
        if split in dataset.splits:
            return split
    raise InvalidInputError(
        f"parity checks need held-out clips (a test or val split); the data has {list(dataset.splits)}"
    )
