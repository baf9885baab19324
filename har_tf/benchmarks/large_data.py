"""Training on data larger than memory: peak RSS of an epoch read from sharded TFRecords against the
same data held in memory, as the dataset grows.

:func:`write_large_dataset` writes a multimodal dataset (poses + cached frame features, the bulk of a
stage-2 dataset) one shard at a time, so writing it needs no more memory than one shard.
:func:`train_epoch` (a :mod:`har_tf.benchmarks.memory` job, run in a fresh process) trains one epoch of
a small fusion-shaped model through ``model.fit`` from either source and reports its peak RSS.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from har_tf.skeleton.layouts import get_layout


def write_large_dataset(
    out_dir: str | Path,
    num_clips: int,
    num_frames: int = 30,
    feature_frames: int = 8,
    feature_dim: int = 1280,
    num_classes: int = 12,
    clips_per_shard: int = 1024,
    seed: int = 0,
) -> dict:
    """A train split of ``num_clips`` clips (COCO-17 poses in pixels, float16 frame features)."""
    from har_tf.data.tfrecords import write_manifest, write_split

    rng = np.random.default_rng(seed)
    layout = get_layout("coco17")

    def clips():
        for i in range(num_clips):
            pose = rng.uniform(20, 200, (num_frames, layout.num_joints, 3)).astype(np.float32)
            pose[..., 2] = rng.uniform(0.2, 1.0, pose.shape[:2])
            features = rng.standard_normal((feature_frames, feature_dim)).astype(np.float16)
            yield pose, int(i % num_classes), {"frame_features": features}

    start = time.perf_counter()
    entry = write_split(out_dir, "train", clips(), clips_per_shard)
    write_manifest(
        out_dir,
        layout,
        [f"class_{k}" for k in range(num_classes)],
        3,
        {"train": entry},
        {"frame_features": {"shape": [feature_frames, feature_dim], "dtype": "float16"}},
    )
    size = sum(f.stat().st_size for f in Path(out_dir).glob("train-*.tfrecord"))
    return {"clips": num_clips, "megabytes": round(size / 2**20, 1), "seconds": round(time.perf_counter() - start, 1)}


def _model(num_frames: int, joints: int, feature_frames: int, feature_dim: int, num_classes: int):
    import keras
    from keras import layers

    pose = keras.Input((num_frames, joints, 3), name="pose")
    features = keras.Input((feature_frames, feature_dim), name="frame_features")
    x = layers.Concatenate()(
        [layers.Flatten()(layers.AveragePooling2D((num_frames, 1))(pose)), layers.GlobalAveragePooling1D()(features)]
    )
    out = layers.Dense(num_classes, activation="softmax")(layers.Dense(64, activation="relu")(x))
    model = keras.Model({"pose": pose, "frame_features": features}, out)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def train_epoch(
    folder: str, source: str = "tfrecord", batch_size: int = 64, shuffle_buffer: int = 1024, seed: int = 0
) -> dict:
    """One epoch of ``model.fit`` on the train split, read from the shards or from arrays in memory."""
    from har_tf.benchmarks.memory import peak_rss_mb, rss_mb
    from har_tf.data.pipeline import make_pose_dataset
    from har_tf.data.tfrecords import TFRecordData

    data = TFRecordData(folder)
    spec = data.manifest["extras"]["frame_features"]
    start = time.perf_counter()
    if source == "tfrecord":
        ds = data.dataset(
            "train",
            batch_size=batch_size,
            training=True,
            seed=seed,
            shuffle_buffer=shuffle_buffer,
            extras=("frame_features",),
            augment=False,
        )
    elif source == "memory":
        poses, labels, features = [], [], []
        for pose, _, label, values in data.records("train", ("frame_features",)).as_numpy_iterator():
            poses.append(pose)
            labels.append(label)
            features.append(values["frame_features"])
        ds = make_pose_dataset(
            np.stack(poses),
            np.asarray(labels),
            data.layout,
            batch_size=batch_size,
            training=True,
            seed=seed,
            augment=False,
            extras={"frame_features": np.stack(features)},
        )
    else:
        raise ValueError(f"source must be tfrecord or memory, got {source!r}")
    loaded = time.perf_counter() - start
    model = _model(30, data.layout.num_joints, spec["shape"][0], spec["shape"][1], data.num_classes)
    before = rss_mb()
    start = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0, shuffle=False)
    return {
        "source": source,
        "clips": data.count("train"),
        "load_seconds": round(loaded, 1),
        "epoch_seconds": round(time.perf_counter() - start, 1),
        "rss_before_fit_mb": before,
        "peak_rss_mb": peak_rss_mb(),
    }
