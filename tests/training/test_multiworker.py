"""Training on several machines: two worker processes on 127.0.0.1 with TF_CONFIG run
scripts/train.py --strategy multiworker; both end with identical weights and the loss falls."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from har_tf.data.pose_npz import PoseDataset
from har_tf.errors import InvalidInputError
from har_tf.training.distribute import check_tf_config, make_strategy
from tests.helpers import REPO_ROOT, random_pixel_pose


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_localhost_end_with_the_same_weights(tmp_path):
    x = np.stack([random_pixel_pose("coco17", frames=16, seed=i) for i in range(72)])
    y = np.arange(72) % 3
    x[y == 1, :, 9:11, 1] -= 40.0  # a learnable difference: class 1 raises its wrists
    PoseDataset(x[:64], y[:64], list("abc"), "coco17", x_test=x[64:], y_test=y[64:]).save(tmp_path / "d.npz")
    (tmp_path / "c.json").write_text(
        json.dumps(
            {
                "num_frames": 8,
                "epochs": 4,
                "batch_size": 8,
                "warmup_epochs": 0,
                "val_fraction": 0,
                "learning_rate": 0.003,
            }
        )
    )
    ports = _free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workers = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
            "CUDA_VISIBLE_DEVICES": "",
        }
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    str(REPO_ROOT / "scripts" / "train.py"),
                    "--stage",
                    "pose",
                    "--strategy",
                    "multiworker",
                    "--data",
                    str(tmp_path / "d.npz"),
                    "--config",
                    str(tmp_path / "c.json"),
                    "--out",
                    str(tmp_path / "run"),
                ],
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (_out, err) in zip(workers, outputs):
        assert worker.returncode == 0, err[-3000:]
    assert "multi-worker: worker 0 of 2" in outputs[0][0] and "multi-worker: worker 1 of 2" in outputs[1][0]
    chief = keras.saving.load_model(tmp_path / "run" / "pose_model.keras", safe_mode=True).get_weights()
    other = keras.saving.load_model(
        tmp_path / "run" / "workers" / "1" / "pose_model.keras", safe_mode=True
    ).get_weights()
    for a, b in zip(chief, other):
        np.testing.assert_array_equal(a, b)
    with open(tmp_path / "run" / "history.csv") as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["num_test"] == 8


def test_strategy_errors_say_what_is_missing(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(InvalidInputError, match="strategy 'multiworker' needs TF_CONFIG"):
        make_strategy("multiworker")
    with pytest.raises(InvalidInputError, match="task index 2 is not one of the 2 workers"):
        check_tf_config({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"index": 2}})})
    with pytest.raises(InvalidInputError, match="not a valid cluster description"):
        check_tf_config({"TF_CONFIG": "{not json"})
    with pytest.raises(InvalidInputError, match="strategy must be one of"):
        make_strategy("horovod")
    assert make_strategy("default").num_replicas_in_sync == 1
