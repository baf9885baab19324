"""scripts/train.py as a user runs it: a subprocess on a fresh output folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from har_tf.data.pose_npz import PoseDataset
from tests.helpers import METRICS_KEYS, run_script


def _run(*args: str):
    return run_script("train.py", *args)


def test_main_job_generates_checks_and_summarises_synthetic_data(tmp_path):
    out = tmp_path / "run"
    result = _run(
        "--stage",
        "data",
        "--clips-per-class",
        "12",
        "1",
        "8",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "data_summary.json").read_text())
    assert summary["splits"]["train"]["shape"] == [12 * 12, 30, 17, 3]
    assert summary["from_cache"] is False and Path(summary["cache_file"]).exists()
    assert set(summary["pose_only_check"]["groups"]) == {"hand_to_head", "hold_in_front"}
    assert (out / "data_preview.png").stat().st_size > 10_000
    again = _run(
        "--stage",
        "data",
        "--clips-per-class",
        "12",
        "1",
        "8",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--no-check",
    )
    assert again.returncode == 0 and "loaded from cache" in again.stdout


def test_main_job_reads_a_user_npz(tmp_path):
    x = np.random.default_rng(0).uniform(1, 100, (6, 20, 17, 3)).astype(np.float32)
    x[..., 2] /= 100.0  # confidences in [0, 1]
    path = PoseDataset(x, np.array([0, 1, 2] * 2), ["a", "b", "c"], "coco17").save(tmp_path / "mine.npz")
    result = _run("--stage", "data", "--data", str(path), "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "run" / "data_summary.json").read_text())["class_names"] == ["a", "b", "c"]


def test_stage1_pose_training_writes_the_run_folder(tmp_path):
    out = tmp_path / "run"
    result = _run(
        "--stage",
        "pose",
        "--preset",
        "micro",
        "--epochs",
        "2",
        "--clips-per-class",
        "6",
        "2",
        "3",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert METRICS_KEYS <= set(metrics)
    assert metrics["num_test"] == 3 * 12 and len(metrics["class_names"]) == 12
    assert set(metrics["top_k_accuracy"]) == {"1", "2", "3", "4", "5"}
    assert set(metrics["groups"]) == {"hand_to_head", "hold_in_front"}
    for name in (
        "pose_model.keras",
        "config.json",
        "training_curves.png",
        "confusion_matrix.png",
        "classification_report.txt",
        "predictions.csv",
        "history.csv",
    ):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "backup").exists(), "BackupAndRestore removes its backup after a finished run"


def test_unknown_config_key_is_one_line_error(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("epochs: 3\nlearning_rat: 0.1\n")
    result = _run("--config", str(config), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert "unknown TrainConfig settings ['learning_rat']" in result.stderr.strip().splitlines()[-1]


def test_bad_data_path_is_one_line_error(tmp_path):
    result = _run("--data", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: no such NPZ file")
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # keeps the CI suite under 15 minutes
def test_compare_models_tabulates_each_model_over_seeds(tmp_path):
    result = run_script(
        "compare_models.py",
        "--models",
        "poseformer",
        "lstm_lite",
        "--preset",
        "micro",
        "--epochs",
        "1",
        "--seeds",
        "0",
        "1",
        "--clips-per-class",
        "4",
        "2",
        "2",
        "--out",
        str(tmp_path / "cmp"),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["results"]
    assert [(r["model"], r["seed"]) for r in rows] == [
        ("poseformer", 0),
        ("poseformer", 1),
        ("lstm_lite", 0),
        ("lstm_lite", 1),
    ]
    assert rows[2]["parameters"] > rows[0]["parameters"]
    assert (tmp_path / "cmp" / "lstm_lite" / "seed1" / "pose_model.keras").exists()
    table = (tmp_path / "cmp" / "comparison.md").read_text()
    mean = 100 * (rows[0]["accuracy"] + rows[1]["accuracy"]) / 2
    assert f"| poseformer | {mean:.1f}% ± " in table and "| lstm_lite |" in table
    assert all(r["latency_ms"] > 0 for r in rows)
    again = run_script(
        "compare_models.py",
        "--models",
        "poseformer",
        "--preset",
        "micro",
        "--epochs",
        "1",
        "--seeds",
        "0",
        "1",
        "--clips-per-class",
        "4",
        "2",
        "2",
        "--out",
        str(tmp_path / "cmp"),
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert again.returncode == 0 and "finished earlier with the same settings, kept" in again.stdout


# The main job on a small setting, both stages and the feature cache: tests/training/test_resume_after_kill.py
# (its uninterrupted reference run).


def test_fusion_stage_without_a_pose_model_is_one_line_error(tmp_path):
    result = _run(
        "--stage",
        "fusion",
        "--clips-per-class",
        "4",
        "1",
        "2",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(tmp_path / "run"),
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: no stage-1 model at")
