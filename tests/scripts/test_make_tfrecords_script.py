"""scripts/make_tfrecords.py then scripts/train.py --stage pose on the shards, as a user runs them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from har_tf.data.pose_npz import PoseDataset
from har_tf.data.tfrecords import TFRecordData
from tests.helpers import random_pixel_pose, run_script

pytestmark = pytest.mark.slow  # three subprocesses; the TFRecord format and pipeline are tested in-process


def test_npz_to_shards_then_stage1_streams_them(tmp_path):
    x = np.stack([random_pixel_pose("coco17", frames=16, seed=i) for i in range(30)])
    y = np.arange(30) % 3
    PoseDataset(x[:24], y[:24], list("abc"), "coco17", x_test=x[24:], y_test=y[24:]).save(tmp_path / "d.npz")
    made = run_script(
        "make_tfrecords.py", str(tmp_path / "d.npz"), "--out", str(tmp_path / "rec"), "--clips-per-shard", "10"
    )
    assert made.returncode == 0, made.stderr
    assert "and 4 shards" in made.stdout  # 3 of train (10 + 10 + 4 clips), 1 of test
    data = TFRecordData(tmp_path / "rec")
    assert data.count("train") == 24 and len(data.splits["train"]["shards"]) == 3 and data.count("test") == 6
    config = tmp_path / "c.json"
    config.write_text(
        json.dumps({"num_frames": 8, "epochs": 2, "batch_size": 8, "warmup_epochs": 0, "val_fraction": 0})
    )
    trained = run_script(
        "train.py",
        "--stage",
        "pose",
        "--data",
        str(tmp_path / "rec"),
        "--config",
        str(config),
        "--out",
        str(tmp_path / "run"),
    )
    assert trained.returncode == 0, trained.stderr
    assert "streaming 24 training clips from 3 TFRecord shards" in trained.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["num_test"] == 6 and (tmp_path / "run" / "pose_model.keras").is_file()
    refused = run_script("train.py", "--stage", "fusion", "--data", str(tmp_path / "rec"), "--out", str(tmp_path / "f"))
    assert refused.returncode == 2 and "is a TFRecord dataset: stage 1 (--stage pose) trains on it" in refused.stderr
