"""A contact sheet of a dataset: one row per class, a few frames each, with the skeleton drawn."""

from __future__ import annotations

import cv2
import numpy as np

from har_tf.data.frames import decode_jpeg, frame_indices
from har_tf.data.pose_npz import PoseDataset
from har_tf.skeleton.drawing import draw_skeleton


def _pose_canvas(pose: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit a pose (J, C) into a black square when the dataset has no frames."""
    canvas = np.zeros((size, size, 3), np.uint8)
    valid = np.any(pose[:, :2] != 0, axis=1)
    if not valid.any():
        return canvas, pose
    lo, hi = pose[valid, :2].min(0), pose[valid, :2].max(0)
    scale = 0.8 * size / max(float((hi - lo).max()), 1e-6)
    fitted = pose.copy()
    fitted[valid, :2] = (pose[valid, :2] - (lo + hi) / 2) * scale + size / 2
    return canvas, fitted


def contact_sheet(dataset: PoseDataset, split: str = "train", frames_shown: int = 4, tile: int = 160) -> np.ndarray:
    """RGB image: for each class, ``frames_shown`` frames of its first clip in ``split``."""
    x, y = dataset.split(split)
    blob, offsets = dataset.extras.get(f"frames_{split}_jpeg"), dataset.extras.get(f"frames_{split}_offsets")
    per_clip = len(dataset.extras["frame_indices"]) if blob is not None else 0
    rows = []
    for label, name in enumerate(dataset.class_names):
        clips = np.flatnonzero(y == label)
        if clips.size == 0:
            continue
        clip = int(clips[0])
        tiles = []
        if per_clip:
            picks = np.round(np.linspace(0, per_clip - 1, frames_shown)).astype(int)
            pose_index = np.asarray(dataset.extras["frame_indices"])[picks]
        else:
            picks = pose_index = frame_indices(x.shape[1], frames_shown)
        for k, t in zip(picks, pose_index):
            if per_clip:
                image, pose = decode_jpeg(blob, offsets, clip * per_clip + int(k)), x[clip, t]
            else:
                image, pose = _pose_canvas(x[clip, t], tile)
            drawn = draw_skeleton(image, pose, dataset.layout)
            tiles.append(cv2.resize(drawn, (tile, tile), interpolation=cv2.INTER_AREA))
        row = np.concatenate(tiles, axis=1)
        cv2.rectangle(row, (0, 0), (8 * len(name) + 8, 18), (0, 0, 0), -1)
        cv2.putText(row, name, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(row)
    half = (len(rows) + 1) // 2
    left, right = rows[:half], rows[half:]
    if len(right) < len(left):
        right.append(np.zeros_like(left[0]))
    return (
        np.concatenate([np.concatenate(left, 0), np.concatenate(right, 0)], axis=1)
        if right
        else np.concatenate(left, 0)
    )


def save_contact_sheet(dataset: PoseDataset, path, split: str = "train", frames_shown: int = 4) -> None:
    """Write :func:`contact_sheet` as a PNG."""
    image = contact_sheet(dataset, split, frames_shown)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write the preview image {path}")
