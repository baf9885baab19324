"""Sharded TFRecord datasets: exact round trip, the same preprocessing as the in-memory pipeline,
seeded shuffling across shards, extras, and clear errors for unfinished or damaged folders."""

from __future__ import annotations

import numpy as np
import pytest

from har_tf.benchmarks.large_data import train_epoch, write_large_dataset
from har_tf.data.pipeline import make_pose_dataset
from har_tf.data.pose_npz import PoseDataset
from har_tf.data.tfrecords import MANIFEST, TFRecordData, write_tfrecords
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from tests.helpers import random_pixel_pose


def _dataset(n_train=40, n_test=10) -> PoseDataset:
    x = np.zeros((n_train + n_test, 20, 17, 3), np.float32)
    for i in range(len(x)):
        length = 12 + i % 9  # variable lengths, end-padded with zeros
        x[i, :length] = random_pixel_pose("coco17", frames=length, seed=i)
    y = np.arange(len(x)) % 4
    objects = np.zeros((len(x), 20, 2, 6), np.float32)
    objects[:, :, 0] = [1, 10, 10, 20, 20, 1.0]
    return PoseDataset(
        x[:n_train],
        y[:n_train],
        list("abcd"),
        "coco17",
        x_test=x[n_train:],
        y_test=y[n_train:],
        extras={
            "objects_train": objects[:n_train],
            "objects_test": objects[n_train:],
            "object_classes": np.asarray(["none", "cup"]),
        },
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    dataset = _dataset()
    folder = tmp_path_factory.mktemp("records")
    write_tfrecords(dataset, folder, clips_per_shard=16)
    return dataset, folder


def test_round_trip_and_shards(written):
    dataset, folder = written
    data = TFRecordData(folder)
    assert data.count("train") == 40 and len(data.splits["train"]["shards"]) == 3  # 16 + 16 + 8
    assert data.splits["train"]["shards"][0] == "train-00000-of-00003.tfrecord"
    assert data.class_names == tuple("abcd") and data.layout.name == "coco17"
    x, y = data.arrays("test")
    np.testing.assert_array_equal(x, dataset.x_test[:, : x.shape[1]])
    np.testing.assert_array_equal(y, dataset.y_test)
    assert data.manifest["extras"]["objects"] == {"shape": [20, 2, 6], "dtype": "float32"}
    assert data.manifest["object_classes"] == ["none", "cup"]


def test_evaluation_batches_equal_the_in_memory_pipeline(written):
    dataset, folder = written
    data = TFRecordData(folder)
    ours = np.concatenate([p.numpy() for p, _ in data.dataset("test", num_frames=10, batch_size=4)])
    reference = np.concatenate(
        [p.numpy() for p, _ in make_pose_dataset(*dataset.split("test"), "coco17", num_frames=10, batch_size=4)]
    )
    np.testing.assert_array_equal(ours, reference)


def test_training_order_is_seeded_and_covers_every_clip(written):
    _, folder = written
    data = TFRecordData(folder)

    def epoch(seed):
        ds = data.dataset(
            "train", num_frames=10, batch_size=8, training=True, seed=seed, shuffle_buffer=8, extras=("objects",)
        )
        batches = list(ds)
        return (
            np.concatenate([b[0]["pose"].numpy() for b in batches]),
            np.concatenate([b[1].numpy() for b in batches]),
            batches[0][0]["objects"].shape,
        )

    a, labels_a, objects_shape = epoch(1)
    b, labels_b, _ = epoch(1)
    c, labels_c, _ = epoch(2)
    np.testing.assert_array_equal(a, b)  # same seed, same batches
    assert not np.array_equal(labels_a, labels_c)  # another seed, another order
    assert sorted(labels_a) == sorted(labels_c) == sorted(np.arange(40) % 4)  # each clip once per epoch
    assert a.shape == (40, 10, 17, 3) and objects_shape == (8, 20, 2, 6)


def test_unfinished_or_damaged_folders_are_refused(written, tmp_path):
    _, folder = written
    with pytest.raises(MissingFileError, match="no such TFRecord dataset folder"):
        TFRecordData(tmp_path / "absent")
    (tmp_path / "half").mkdir()
    with pytest.raises(DataFormatError, match="no manifest.json \\(an unfinished write"):
        TFRecordData(tmp_path / "half")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / MANIFEST).write_text((folder / MANIFEST).read_text())
    with pytest.raises(DataFormatError, match="shards .* are missing"):
        TFRecordData(broken)
    data = TFRecordData(folder)
    with pytest.raises(InvalidInputError, match="has no 'val' split"):
        data.dataset("val")
    with pytest.raises(InvalidInputError, match="no per-clip arrays \\['frame_features'\\]"):
        data.records("train", ("frame_features",))


def test_large_data_job_trains_from_records_and_from_memory(tmp_path):
    info = write_large_dataset(tmp_path / "big", 96, feature_dim=32, clips_per_shard=40)
    assert info["clips"] == 96 and len(list((tmp_path / "big").glob("train-*-of-00003.tfrecord"))) == 3
    for source in ("tfrecord", "memory"):
        result = train_epoch(str(tmp_path / "big"), source=source, batch_size=32, shuffle_buffer=16)
        assert result["clips"] == 96 and result["peak_rss_mb"] > 0


def test_3d_channels_travel_with_the_records(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.5, 0.5, (6, 12, 20, 3)).astype(np.float32)
    x[..., 2] += 2.5  # depth in metres: read as a confidence, every joint would be refused
    y = np.arange(6) % 2
    dataset = PoseDataset(x[:4], y[:4], ["a", "b"], "kinect_v1", x_test=x[4:], y_test=y[4:], channels="xyz")
    write_tfrecords(dataset, tmp_path)
    data = TFRecordData(tmp_path)
    assert data.channels == "xyz" and data.manifest["channels"] == "xyz"
    ours = np.concatenate([p.numpy() for p, _ in data.dataset("test", num_frames=8, batch_size=2)])
    reference = np.concatenate(
        [
            p.numpy()
            for p, _ in make_pose_dataset(
                *dataset.split("test"), "kinect_v1", num_frames=8, batch_size=2, channels="xyz"
            )
        ]
    )
    np.testing.assert_array_equal(ours, reference)
    assert np.abs(ours[..., 2]).max() < 5  # z normalised like x and y, not kept as a confidence
