"""RGB frames of a clip: which pose frames they come from, and compact JPEG storage inside an NPZ.

Contract: a clip has T pose frames and F RGB frames (default F = 8) sampled evenly from them
(:func:`frame_indices`). A multimodal dataset NPZ stores each split's frames as one JPEG byte blob,
``frames_<split>_jpeg`` (uint8, flat), with ``frames_<split>_offsets`` (int64, N * F + 1): frame k of
clip i is ``blob[offsets[i * F + k]:offsets[i * F + k + 1]]``. Plain uint8 arrays, no pickles.
"""

from __future__ import annotations

import cv2
import numpy as np

from har_tf.errors import DataFormatError, InvalidInputError


def frame_indices(num_pose_frames: int, num_frames: int) -> np.ndarray:
    """Indices of ``num_frames`` RGB frames spread evenly over ``num_pose_frames`` pose frames."""
    if num_pose_frames < 1 or num_frames < 1:
        raise InvalidInputError(f"expected positive frame counts, got T={num_pose_frames}, F={num_frames}")
    return np.round(np.linspace(0, num_pose_frames - 1, num_frames)).astype(np.int64)


def encode_jpeg(frames: list[np.ndarray] | np.ndarray, quality: int = 90) -> tuple[np.ndarray, np.ndarray]:
    """Encode uint8 RGB frames (each (H, W, 3)) into one byte blob and offsets (len + 1)."""
    chunks = []
    for frame in frames:
        ok, buf = cv2.imencode(
            ".jpg",
            cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, int(quality)],
        )
        if not ok:
            raise InvalidInputError(f"could not JPEG-encode a frame of shape {np.shape(frame)}")
        chunks.append(buf.reshape(-1))
    offsets = np.zeros(len(chunks) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([c.size for c in chunks])
    blob = np.concatenate(chunks) if chunks else np.zeros(0, np.uint8)
    return blob.astype(np.uint8), offsets


def decode_jpeg(blob: np.ndarray, offsets: np.ndarray, index: int) -> np.ndarray:
    """Decode frame ``index`` of a blob written by :func:`encode_jpeg` to uint8 RGB (H, W, 3)."""
    start, end = int(offsets[index]), int(offsets[index + 1])
    image = cv2.imdecode(blob[start:end], cv2.IMREAD_COLOR)
    if image is None:
        raise DataFormatError(f"frame {index} of the JPEG blob (bytes {start}:{end}) is not a valid JPEG")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def decode_clips(blob: np.ndarray, offsets: np.ndarray, frames_per_clip: int, clips=None) -> np.ndarray:
    """Frames of the given clips (default all) as uint8 (N, F, H, W, 3)."""
    total = (len(offsets) - 1) // frames_per_clip
    clips = range(total) if clips is None else clips
    return np.stack(
        [
            np.stack([decode_jpeg(blob, offsets, int(c) * frames_per_clip + k) for k in range(frames_per_clip)])
            for c in clips
        ]
    )
