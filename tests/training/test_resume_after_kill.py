"""The main job on a small setting, as a user runs it, then killed with SIGKILL in the middle of
stage 1 and of stage 2 and run again: it resumes, reuses the feature cache, and ends where the
uninterrupted run ends. Real subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import METRICS_KEYS, REPO_ROOT, kill_when

# Tiny settings: 12 classes x 3 training clips, 2 + 4 epochs, 32 px crops.
SETTINGS = {"fusion_freeze_epochs": 2, "image_size": 32, "batch_size": 16}
ARGS = ("--clips-per-class", "3", "2", "2", "--epochs", "2", "--fusion-epochs", "4", "--preset", "micro", "--no-check")
# Resumed runs see a freshly started shuffle after the kill, so their last epochs differ a little: the
# tolerance on the final validation loss of each stage.
LOSS_TOLERANCE = 0.25


def _command(out: Path, config: Path) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "scripts" / "train.py"), "--config", str(config), *ARGS, "--out", str(out)]


def _env(cache: Path) -> dict:
    return {**os.environ, "HAR_TF_CACHE_DIR": str(cache), "TF_CPP_MIN_LOG_LEVEL": "2"}


def _rows(csv: Path) -> int:
    return max(len(csv.read_text().strip().splitlines()) - 1, 0) if csv.is_file() else 0


def _last_val_loss(csv: Path) -> float:
    header, *rows = csv.read_text().strip().splitlines()
    return float(rows[-1].split(",")[header.split(",").index("val_loss")])


@pytest.mark.slow  # about 4 minutes on 2 cores: the longest test
def test_main_job_runs_both_stages_then_resumes_after_kills_in_each_and_ends_alike(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SETTINGS))
    env = _env(tmp_path / "cache")

    # the uninterrupted main job: both stages, every output, the feature cache written
    reference = tmp_path / "reference"
    done = subprocess.run(
        _command(reference, config), env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for name in (
        "pose_model.keras",
        "metrics.json",
        "fusion_model.keras",
        "fusion/metrics.json",
        "fusion/confusion_matrix.png",
        "fusion/training_curves.png",
        "image_only/metrics.json",
        "summary.json",
        "summary.md",
    ):
        assert (reference / name).stat().st_size > 0, name
    summary = json.loads((reference / "summary.json").read_text())
    assert set(summary["models"]) == {"pose_only (stage 1)", "pose branch (after stage 2)", "image_only", "fused"}
    assert summary["features_from_cache"] is False and len(list((tmp_path / "cache").glob("features-*.npz"))) == 1
    fused = json.loads((reference / "fusion" / "metrics.json").read_text())
    assert METRICS_KEYS <= set(fused) and fused["num_test"] == 2 * 12

    import keras

    import har_tf  # noqa: F401  registers the package's Keras classes, as a user's script does

    model = keras.saving.load_model(reference / "fusion_model.keras", safe_mode=True)
    assert set(model.input) == {"pose", "frames"} and model.class_names == fused["class_names"]

    out = tmp_path / "interrupted"
    command = _command(out, config)
    # 1. killed in stage 1, once a backup of at least one finished epoch exists
    kill_when(command, lambda: (out / "backup").is_dir() and _rows(out / "history.csv") >= 1)
    assert not (out / "metrics.json").exists()
    # 2. rerun: stage 1 resumes; killed again in stage 2's fine-tuning phase
    fusion = out / "fusion"
    kill_when(command, lambda: (fusion / "backup_finetune").is_dir() and _rows(fusion / "history.csv") >= 3)
    assert (out / "metrics.json").is_file() and not (out / "fusion_model.keras").exists()
    stage1_rows = _rows(out / "history.csv")
    # 3. rerun to the end: stage 1 is kept, stage 2 resumes, the image features come from the cache
    final = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    assert "stage 1 had finished" in final.stdout and "stage 2: resuming" in final.stdout
    assert "image features read from cache" in final.stdout
    assert json.loads((out / "summary.json").read_text())["features_from_cache"] is True
    assert _rows(out / "history.csv") == stage1_rows  # stage 1 was not trained again
    assert (out / "fusion_model.keras").is_file() and not (fusion / "frozen_phase.weights.h5").exists()
    assert not (out / "backup").exists() and not (fusion / "backup_finetune").exists()

    # the same end as the uninterrupted run: every epoch run, final losses within the tolerance
    epochs = [int(line.split(",")[0]) for line in (out / "history.csv").read_text().splitlines()[1:]]
    assert sorted(set(epochs)) == [0, 1]
    for csv in ("history.csv", "fusion/history.csv"):
        assert abs(_last_val_loss(out / csv) - _last_val_loss(reference / csv)) <= LOSS_TOLERANCE * _last_val_loss(
            reference / csv
        )
    for metrics in ("metrics.json", "fusion/metrics.json"):
        a, b = (json.loads((run / metrics).read_text()) for run in (reference, out))
        assert a["num_test"] == b["num_test"] and abs(a["accuracy"] - b["accuracy"]) <= 0.2
