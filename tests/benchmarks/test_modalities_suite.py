"""The modalities suite's parts that need no training: the 2D projection, the rows, the report and the
reuse of finished runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from har_tf.benchmarks.modalities import _row, modalities_markdown, xy_projection
from har_tf.data.pose_npz import PoseDataset
from har_tf.errors import InvalidInputError
from har_tf.training.config import TrainConfig
from har_tf.training.stage1 import stage1_finished


def _dataset(channels: str) -> PoseDataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 10, 20, len(channels))).astype(np.float32)
    if channels.endswith("c"):
        x[..., -1] = rng.uniform(0.2, 1.0, x.shape[:-1])  # confidences
    y = np.arange(6) % 3
    return PoseDataset(
        x,
        y,
        ["a", "b", "c"],
        "kinect_v1",
        x_test=x[:3],
        y_test=y[:3],
        channels=channels,
        extras={"subject_train": np.arange(6), "imu_train": np.ones((6, 4, 6), np.float32)},
    )


def test_xy_projection_drops_z_only():
    for channels, kept in (("xyz", "xy"), ("xyzc", "xyc")):
        dataset = _dataset(channels)
        flat = xy_projection(dataset)
        assert flat.channels == kept and flat.x_train.shape[-1] == len(kept)
        np.testing.assert_array_equal(flat.x_train[..., :2], dataset.x_train[..., :2])
        np.testing.assert_array_equal(
            flat.x_test[..., -1], dataset.x_test[..., -1] if kept == "xyc" else dataset.x_test[..., 1]
        )
        assert set(flat.extras) == set(dataset.extras) and flat.splits == dataset.splits
    with pytest.raises(InvalidInputError, match="already 2D"):
        xy_projection(_dataset("xy"))


def test_rows_and_report():
    runs = [{"accuracy": a, "macro_f1": a - 0.01} for a in (0.90, 0.92, 0.94)]
    row = _row("imu", runs)
    assert row["accuracy_mean"] == pytest.approx(0.92) and row["accuracy_sd"] == pytest.approx(0.02)
    single = _row("skeleton", [{"accuracy": 0.85, "macro_f1": 0.84}] * 3)
    result = {
        "rows": [single, row],
        "best_fused": "imu",
        "best_single": "skeleton",
        "margin": 0.07,
        "seed_spread": 0.02,
        "fused_beats_best_single": True,
        "seeds": [0, 1, 2],
        "num_train": 215,
        "num_test": 216,
        "subjects": {"train": [1, 3], "test": [5, 7]},
        "machine": {"cores": 2},
        "branches": [
            {
                "branch": "inertial encoder",
                "parameters": 1234,
                "latency": {"median_ms_per_clip": 1.5, "p95_ms_per_clip": 2.0},
            }
        ],
    }
    text = modalities_markdown(result)
    assert "| **skeleton + inertial** | 92.0% ± 2.0% | 90.0%, 92.0%, 94.0% |" in text
    assert "+7.0%, more than the seed spread (2.0%)" in text and "| inertial encoder | 1,234 | 1.5 (2) |" in text


def test_a_rerun_reuses_only_stage1_runs_that_finished_with_the_same_settings(tmp_path):
    config = TrainConfig(epochs=3)
    assert not stage1_finished(tmp_path, config)
    for name in ("pose_model.keras", "metrics.json"):
        (tmp_path / name).write_text("{}")
    (tmp_path / "config.json").write_text(json.dumps({**config.to_dict(), "resolved_sampling": "resample"}))
    assert stage1_finished(tmp_path, config)
    assert not stage1_finished(tmp_path, TrainConfig(epochs=4))  # other settings: trained again
    (tmp_path / "backup").mkdir()
    assert not stage1_finished(tmp_path, config)  # an interrupted run: trained again
