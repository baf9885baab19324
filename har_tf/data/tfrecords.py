"""Sharded TFRecord datasets: training on data larger than memory.

A folder holds ``manifest.json`` and, per split, shards ``<split>-00000-of-00008.tfrecord``. Each
record is one clip (a ``tf.train.Example``):

=================  =======================================================================
feature            content
=================  =======================================================================
``pose``           float32 bytes of the clip's ``(length, J, C)`` frames (no end padding)
``length``         int64, the number of frames
``label``          int64, the class index
``<extra>``        float bytes of a per-clip array named in the manifest (e.g.
                   ``frame_features`` ``(F, D)`` float16, ``objects`` ``(T, K, 6)``)
=================  =======================================================================

``manifest.json`` says the layout, class names, channels, each split's clip count and shards, and
each extra's shape and dtype; it is written last, so a folder without it is an unfinished write.
Shards are written atomically (temporary file, then rename).

:func:`make_tfrecord_dataset` reads a split with the same per-clip preprocessing and augmentation as
:func:`~har_tf.data.pipeline.make_pose_dataset`: shard order shuffled with the seed, shards read by
``interleave`` (``cycle_length`` at a time), a bounded shuffle buffer, parallel ``map``, batch,
prefetch. Memory then depends on the buffer and the batch, not on the dataset's size.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import tensorflow as tf

from har_tf.data.augmentation import AugmentConfig, augment_example
from har_tf.data.pose_npz import SPLITS, PoseDataset
from har_tf.data.preprocessing import NORMALIZE_MODES, SAMPLING_MODES, preprocess_sequence, sequence_lengths
from har_tf.errors import DataFormatError, MissingFileError, expect
from har_tf.io import atomic_write, read_json
from har_tf.skeleton.channels import resolve_channels
from har_tf.skeleton.layouts import JointLayout

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def _bytes_feature(array: np.ndarray) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[np.ascontiguousarray(array).tobytes()]))


def _int_feature(value: int) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def clip_example(pose: np.ndarray, label: int, extras: dict[str, np.ndarray] | None = None) -> bytes:
    """One clip ``(T, J, C)`` (end padding dropped) as a serialised ``tf.train.Example``."""
    length = int(sequence_lengths(pose[None])[0])
    features = {
        "pose": _bytes_feature(pose[:length].astype(np.float32)),
        "length": _int_feature(length),
        "label": _int_feature(label),
    }
    for name, array in (extras or {}).items():
        features[name] = _bytes_feature(np.asarray(array))
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def write_split(
    out_dir: str | os.PathLike, split: str, clips: Iterable[tuple[np.ndarray, int, dict]], clips_per_shard: int = 1024
) -> dict:
    """Write ``(pose, label, extras)`` clips of one split as shards; returns its manifest entry.

    ``clips`` may be a generator: one shard is in memory at a time.
    """
    expect(split in SPLITS, f"split must be one of {SPLITS}, got {split!r}")
    expect(clips_per_shard >= 1, f"clips_per_shard must be >= 1, got {clips_per_shard}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written, shard, count, max_frames = [], [], 0, 0
    for old in out.glob(f"{split}-*.tfrecord"):
        old.unlink()
    for pose, label, extras in clips:
        shard.append(clip_example(pose, label, extras))
        max_frames = max(max_frames, int(len(pose)))
        count += 1
        if len(shard) == clips_per_shard:
            written.append(_write_shard(out, split, len(written), shard))
            shard = []
    if shard:
        written.append(_write_shard(out, split, len(written), shard))
    names = []
    for i, path in enumerate(written):  # the final names say how many shards there are
        final = out / f"{split}-{i:05d}-of-{len(written):05d}.tfrecord"
        os.replace(path, final)
        names.append(final.name)
    return {"count": count, "shards": names, "max_frames": max_frames}


def _write_shard(out: Path, split: str, index: int, records: list[bytes]) -> Path:
    """A shard under a temporary name (renamed once the whole split is written)."""
    path = out / f".{split}-{index:05d}.partial"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return path


def write_tfrecords(
    dataset: PoseDataset,
    out_dir: str | os.PathLike,
    clips_per_shard: int = 1024,
    extras: dict[str, dict[str, np.ndarray]] | None = None,
) -> Path:
    """Write every split of an in-memory dataset; ``extras[split][name]`` adds per-clip arrays
    (e.g. cached ``frame_features`` or ``objects``). Returns the manifest's path."""
    out = Path(out_dir)
    (out / MANIFEST).unlink(missing_ok=True)  # the folder is unfinished until the manifest is back
    splits, extra_specs = {}, {}
    for split in dataset.splits:
        x, y = dataset.split(split)
        split_extras = dict((extras or {}).get(split, {}))
        if f"objects_{split}" in dataset.extras:
            split_extras.setdefault("objects", dataset.extras[f"objects_{split}"])
        for name, array in split_extras.items():
            expect(len(array) == len(x), f"extras[{split!r}][{name!r}] has {len(array)} rows for {len(x)} clips")
            extra_specs[name] = {"shape": list(array.shape[1:]), "dtype": str(array.dtype)}
        rows = ((x[i], int(y[i]), {n: a[i] for n, a in split_extras.items()}) for i in range(len(x)))
        splits[split] = write_split(out, split, rows, clips_per_shard)
    return write_manifest(
        out,
        dataset.layout,
        dataset.class_names,
        dataset.num_channels,
        splits,
        extra_specs,
        {k: v.tolist() for k, v in dataset.extras.items() if k in ("object_classes",)},
        channels=dataset.channels,
    )


def write_manifest(
    out_dir: str | os.PathLike,
    layout: JointLayout,
    class_names,
    num_channels: int,
    splits: dict,
    extras: dict | None = None,
    info: dict | None = None,
    channels: str | None = None,
) -> Path:
    """Write ``manifest.json`` (atomically, last); ``channels`` describes the pose values (default: from C)."""
    manifest = {
        "version": FORMAT_VERSION,
        "layout": layout.to_dict(),
        "class_names": [str(c) for c in class_names],
        "num_channels": int(num_channels),
        "channels": resolve_channels(channels, int(num_channels)),
        "splits": splits,
        "extras": extras or {},
        **(info or {}),
    }
    path = Path(out_dir) / MANIFEST
    with atomic_write(path, "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=2)
    return path


def is_tfrecord_folder(path: str | os.PathLike) -> bool:
    return Path(path).is_dir() and (Path(path) / MANIFEST).is_file()


class TFRecordData:
    """A sharded TFRecord dataset folder: its manifest, and ``tf.data`` pipelines over its splits."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise MissingFileError(f"no such TFRecord dataset folder: {self.folder}")
        path = self.folder / MANIFEST
        if not path.is_file():
            raise DataFormatError(f"{self.folder}: no {MANIFEST} (an unfinished write, or not a TFRecord dataset)")
        self.manifest = read_json(path, "a TFRecord dataset manifest")
        try:
            self.layout = JointLayout.from_dict(self.manifest["layout"])
            self.class_names = tuple(self.manifest["class_names"])
            self.num_channels = int(self.manifest["num_channels"])
            self.channels = resolve_channels(self.manifest.get("channels"), self.num_channels)
            self.splits = {s: v for s, v in self.manifest["splits"].items() if v["count"] > 0}
        except (KeyError, TypeError, AttributeError) as err:
            raise DataFormatError(f"{path}: not a TFRecord dataset manifest ({err!r})") from None
        for split, entry in self.splits.items():
            missing = [s for s in entry["shards"] if not (self.folder / s).is_file()]
            if missing:
                raise DataFormatError(f"{self.folder}: the {split} split's shards {missing} are missing")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def count(self, split: str) -> int:
        return int(self.splits[split]["count"]) if split in self.splits else 0

    def _parse(self, extras: tuple[str, ...]):
        joints, channels = self.layout.num_joints, self.num_channels
        spec = {
            "pose": tf.io.FixedLenFeature([], tf.string),
            "length": tf.io.FixedLenFeature([], tf.int64),
            "label": tf.io.FixedLenFeature([], tf.int64),
        }
        spec.update({name: tf.io.FixedLenFeature([], tf.string) for name in extras})
        shapes = {name: self.manifest["extras"][name] for name in extras}

        def parse(record):
            parsed = tf.io.parse_single_example(record, spec)
            pose = tf.reshape(tf.io.decode_raw(parsed["pose"], tf.float32), (-1, joints, channels))
            values = {}
            for name, info in shapes.items():
                raw = tf.io.decode_raw(parsed[name], tf.dtypes.as_dtype(info["dtype"]))
                values[name] = tf.reshape(raw, info["shape"])
            return pose, tf.cast(parsed["length"], tf.int32), tf.cast(parsed["label"], tf.int32), values

        return parse

    def records(self, split: str, extras: tuple[str, ...] = ()) -> tf.data.Dataset:
        """Parsed ``(pose (L, J, C), length, label, {extras})`` of a split, in stored order."""
        expect(split in self.splits, f"{self.folder} has no {split!r} split (it has {sorted(self.splits)})")
        unknown = sorted(set(extras) - set(self.manifest["extras"]))
        expect(
            not unknown, f"{self.folder} has no per-clip arrays {unknown} (it has {sorted(self.manifest['extras'])})"
        )
        files = [str(self.folder / s) for s in self.splits[split]["shards"]]
        return tf.data.TFRecordDataset(files).map(self._parse(tuple(extras)))

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """A split as zero-padded arrays ``(N, T, J, C)``, ``(N,)`` in memory (for the test split)."""
        poses, labels = [], []
        for pose, _, label, _ in self.records(split).as_numpy_iterator():
            poses.append(pose)
            labels.append(label)
        longest = max(len(p) for p in poses)
        x = np.zeros((len(poses), longest, self.layout.num_joints, self.num_channels), np.float32)
        for i, pose in enumerate(poses):
            x[i, : len(pose)] = pose
        return x, np.asarray(labels, np.int64)

    def dataset(
        self,
        split: str,
        *,
        num_frames: int = 30,
        batch_size: int = 32,
        training: bool = False,
        augment: AugmentConfig | None | bool = None,
        seed: int = 0,
        sampling: str = "resample",
        normalize_mode: str = "sequence",
        shuffle_buffer: int = 1024,
        cycle_length: int = 4,
        extras: tuple[str, ...] = (),
        drop_remainder: bool = False,
    ) -> tf.data.Dataset:
        """Batches ``(pose float32 (B, num_frames, J, C), label int32 (B,))`` of a split, or
        ``({"pose", **extras}, label)`` with ``extras``: the same preprocessing as
        :func:`~har_tf.data.pipeline.make_pose_dataset`, read shard by shard."""
        expect(split in self.splits, f"{self.folder} has no {split!r} split (it has {sorted(self.splits)})")
        expect(sampling in SAMPLING_MODES, f"sampling must be one of {SAMPLING_MODES}, got {sampling!r}")
        expect(
            normalize_mode in NORMALIZE_MODES,
            f"normalize_mode must be one of {NORMALIZE_MODES}, got {normalize_mode!r}",
        )
        expect(shuffle_buffer >= 1 and cycle_length >= 1, "shuffle_buffer and cycle_length must be >= 1")
        if augment is None or augment is True:
            augment = AugmentConfig()
        elif augment is False:
            augment = AugmentConfig.disabled()
        layout, channels, parse = self.layout, self.channels, self._parse(tuple(extras))
        files = [str(self.folder / s) for s in self.splits[split]["shards"]]

        def inputs(pose, values):
            return {"pose": pose, **values} if extras else pose

        if training:
            order = np.random.default_rng(seed).permutation(len(files)).tolist()
            ds = tf.data.Dataset.from_tensor_slices([files[i] for i in order])
            ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
            ds = ds.interleave(
                tf.data.TFRecordDataset,
                cycle_length=min(cycle_length, len(files)),
                num_parallel_calls=tf.data.AUTOTUNE,
                deterministic=True,
            )
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True).map(parse)
            seeds = tf.data.Dataset.random(seed=int(seed), rerandomize_each_iteration=True)

            def train(example, example_seed):
                pose, length, label, values = example
                pose = augment_example(
                    pose,
                    length,
                    example_seed,
                    layout,
                    augment,
                    num_frames,
                    sampling=sampling,
                    normalize_mode=normalize_mode,
                    channels=channels,
                )
                return inputs(pose, values), label

            ds = tf.data.Dataset.zip((ds, seeds)).map(train, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        else:

            def evaluate(pose, length, label, values):
                pose = preprocess_sequence(
                    pose,
                    length,
                    layout,
                    num_frames,
                    sampling=sampling,
                    normalize_mode=normalize_mode,
                    channels=channels,
                )
                return inputs(pose, values), label

            ds = (
                tf.data.TFRecordDataset(files)
                .map(parse)
                .map(evaluate, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            )
        count = self.count(split)
        batches = count // batch_size if drop_remainder else -(-count // batch_size)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        # the manifest knows the size: progress bars and model.fit see how many steps an epoch has
        return ds.apply(tf.data.experimental.assert_cardinality(batches)).prefetch(tf.data.AUTOTUNE)
