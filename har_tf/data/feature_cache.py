"""Per-frame image features computed once and kept on disk: the frozen backbone never runs twice on a frame.

The cache file ``features-<backbone>-<key>.npz`` (in ``$HAR_TF_CACHE_DIR`` or ``~/.cache/har_tf``)
holds ``features_<split>`` float16 ``(N, F, D)``. The key hashes what the features depend on:
the encoder description (backbone, its weights, image size, frame size) and the content of each
split's frames (a SHA-256 of the JPEG bytes), so changing any of them computes a new file and a
stale one is never read. A multimodal dataset that already carries ``features_<split>`` (with
``feature_key`` saying how they were made) is used as it is when the key matches.

This room does not know models: callers pass the encoder (anything with ``predict``) and the
description of it that goes into the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from har_tf.data.frames import decode_clips
from har_tf.data.pose_npz import PoseDataset, read_npz, save_npz_atomic
from har_tf.data.synthetic.generator import default_cache_dir
from har_tf.errors import DataFormatError, InvalidInputError

CACHE_VERSION = 1


def frames_per_clip(dataset: PoseDataset) -> int:
    """F, the RGB frames stored per clip (from ``frame_indices``)."""
    if "frame_indices" not in dataset.extras:
        raise InvalidInputError(
            "this dataset has no RGB frames (no frame_indices / frames_<split>_jpeg arrays): "
            "stage 2 needs a multimodal dataset (see docs/data_formats.md)"
        )
    return int(len(dataset.extras["frame_indices"]))


def _frames_digest(dataset: PoseDataset, split: str) -> str:
    blob, offsets = _frames_of(dataset, split)
    digest = hashlib.sha256(np.ascontiguousarray(offsets, np.int64).tobytes())
    digest.update(np.ascontiguousarray(blob).tobytes())
    return digest.hexdigest()


def _frames_of(dataset: PoseDataset, split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        return dataset.extras[f"frames_{split}_jpeg"], dataset.extras[f"frames_{split}_offsets"]
    except KeyError:
        raise InvalidInputError(
            f"this dataset has no frames for the {split!r} split (frames_{split}_jpeg and frames_{split}_offsets)"
        ) from None


def cache_key(dataset: PoseDataset, encoder_key: dict, splits, boxes: dict | None = None) -> str:
    """The hash naming the cache file: the encoder description, each split's frame bytes and crop boxes."""
    content = {
        "version": CACHE_VERSION,
        "encoder": encoder_key,
        "frames": {split: _frames_digest(dataset, split) for split in splits},
    }
    if boxes is not None:
        content["boxes"] = {
            s: hashlib.sha256(np.ascontiguousarray(boxes[s], np.float32).tobytes()).hexdigest() for s in splits
        }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def compute_frame_features(
    encoder,
    blob: np.ndarray,
    offsets: np.ndarray,
    num_frames: int,
    batch_size: int = 16,
    progress: Callable | None = None,
    boxes: np.ndarray | None = None,
) -> np.ndarray:
    """``(N, F, D)`` features of every clip in a JPEG blob, decoded and encoded ``batch_size`` clips at a
    time; with ``boxes`` ``(N, F, 4)`` the encoder gets ``{"frames", "boxes"}``."""
    total = (len(offsets) - 1) // num_frames
    chunks = []
    for start in range(0, total, batch_size):
        clips = range(start, min(start + batch_size, total))
        frames = decode_clips(blob, offsets, num_frames, clips)
        inputs = frames if boxes is None else {"frames": frames, "boxes": boxes[start : start + len(clips)]}
        chunks.append(np.asarray(encoder.predict(inputs, verbose=0), np.float32))
        if progress is not None:
            progress(len(clips))
    return np.concatenate(chunks)


def cached_frame_features(
    dataset: PoseDataset,
    encoder,
    encoder_key: dict,
    cache_dir: str | Path | None = None,
    splits=None,
    batch_size: int = 16,
    show_progress: bool = True,
    boxes: dict | None = None,
) -> tuple[dict, Path | None, bool]:
    """``({split: float32 (N, F, D)}, cache file, whether it was read from the cache)``.

    ``encoder`` maps uint8 frames ``(b, F, H, W, 3)`` to ``(b, F, D)`` (or, with ``boxes``, a dict of
    frames and that split's crop boxes ``(b, F, 4)``); ``encoder_key`` describes it (JSON-serialisable:
    backbone name, weights, image size...). Computed features are written atomically, so an
    interrupted run leaves no partial cache file.
    """
    splits = tuple(splits or dataset.splits)
    if "feature_key" in dataset.extras:
        stored = json.loads(str(dataset.extras["feature_key"]))
        if stored != encoder_key:
            raise InvalidInputError(
                f"the dataset carries features made by {stored}, but the model's image encoder "
                f"is {encoder_key}: recompute them or choose that backbone"
            )
        return {s: dataset.extras[f"features_{s}"].astype(np.float32) for s in splits}, None, True
    num_frames = frames_per_clip(dataset)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = (
        folder
        / f"features-{encoder_key.get('backbone', 'backbone')}-{cache_key(dataset, encoder_key, splits, boxes)}.npz"
    )
    if path.is_file():
        try:
            arrays = read_npz(path)
            features = {s: arrays[f"features_{s}"].astype(np.float32) for s in splits}
            if all(len(features[s]) == len(dataset.split(s)[1]) for s in splits):
                return features, path, True
        except (DataFormatError, KeyError):
            pass  # unreadable or incomplete: compute it again and replace it
    total = sum(len(dataset.split(s)[1]) for s in splits)
    features = {}
    from tqdm.auto import tqdm

    with tqdm(
        total=total, desc=f"image features ({encoder_key.get('backbone')})", unit="clip", disable=not show_progress
    ) as bar:
        for split in splits:
            blob, offsets = _frames_of(dataset, split)
            features[split] = compute_frame_features(
                encoder, blob, offsets, num_frames, batch_size, bar.update, None if boxes is None else boxes[split]
            )
    arrays = {f"features_{s}": f.astype(np.float16) for s, f in features.items()}
    arrays["feature_key"] = np.asarray(json.dumps(encoder_key, sort_keys=True))
    save_npz_atomic(path, arrays, compress=False)
    return {s: f.astype(np.float16).astype(np.float32) for s, f in features.items()}, path, False
