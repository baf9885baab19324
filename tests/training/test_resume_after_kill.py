"""SIGKILL in the middle of stage 1 and of stage 2, then the same command again: the main job resumes and
ends where an uninterrupted run ends (issue #8), in real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

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


def _run_until(command, env, done, timeout: float = 300) -> None:
    """Start ``command`` and SIGKILL it as soon as ``done()`` holds (or fail if it finishes first)."""
    process = subprocess.Popen(command, env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.monotonic()
    try:
        while not done():
            assert process.poll() is None, "the run finished before it could be interrupted"
            assert time.monotonic() - start < timeout, "the run never reached the point to interrupt"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


def _last_val_loss(csv: Path) -> float:
    header, *rows = csv.read_text().strip().splitlines()
    return float(rows[-1].split(",")[header.split(",").index("val_loss")])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("resume")
    config = folder / "config.json"
    config.write_text(json.dumps(SETTINGS))
    return folder, config, _env(folder / "cache")


@pytest.mark.slow
def test_killed_in_stage_one_and_in_stage_two_the_job_resumes_and_ends_alike(setup):
    folder, config, env = setup
    reference = folder / "reference"
    done = subprocess.run(_command(reference, config), env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]

    out = folder / "interrupted"
    command = _command(out, config)
    # 1. killed in stage 1, once a backup of at least one finished epoch exists
    _run_until(command, env, lambda: (out / "backup").is_dir() and _rows(out / "history.csv") >= 1)
    assert not (out / "metrics.json").exists()
    # 2. rerun: stage 1 resumes; killed again in stage 2's fine-tuning phase
    fusion = out / "fusion"
    _run_until(command, env, lambda: (fusion / "backup_finetune").is_dir() and _rows(fusion / "history.csv") >= 3)
    assert (out / "metrics.json").is_file() and not (out / "fusion_model.keras").exists()
    stage1_rows = _rows(out / "history.csv")
    # 3. rerun to the end: stage 1 is kept, stage 2 resumes
    final = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    assert "stage 1 had finished" in final.stdout and "stage 2: resuming" in final.stdout
    assert _rows(out / "history.csv") == stage1_rows  # stage 1 was not trained again
    assert (out / "fusion_model.keras").is_file() and not (fusion / "frozen_phase.weights.h5").exists()
    assert not (out / "backup").exists() and not (fusion / "backup_finetune").exists()

    # the same end as the uninterrupted run: every epoch run, final losses within the tolerance
    epochs = [int(line.split(",")[0]) for line in (out / "history.csv").read_text().splitlines()[1:]]
    assert sorted(set(epochs)) == [0, 1]
    for csv in ("history.csv", "fusion/history.csv"):
        assert abs(_last_val_loss(out / csv) - _last_val_loss(reference / csv)) <= LOSS_TOLERANCE * _last_val_loss(reference / csv)
    for metrics in ("metrics.json", "fusion/metrics.json"):
        a, b = (json.loads((run / metrics).read_text()) for run in (reference, out))
        assert a["num_test"] == b["num_test"] and abs(a["accuracy"] - b["accuracy"]) <= 0.2
