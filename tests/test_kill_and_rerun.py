"""SIGKILL in the middle of an export and of a dataset extraction, in real subprocesses:
nothing half-written is ever visible (no partial version folder for TF Serving, no damaged part read
back), and the same command afterwards finishes the job."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from har_tf.data.pose_npz import PoseDataset, load_pose_npz
from har_tf.export.saved_model import versions
from tests.helpers import EXPORT_CLASSES, REPO_ROOT, export_inputs, kill_when, run_script, shared_file

pytestmark = pytest.mark.slow


def test_export_killed_mid_way_leaves_no_version_and_reruns(tmp_path, tiny_pose_classifier):
    clips = export_inputs(n=16, seed=11, frames=False)["pose"]
    labels = [i % len(EXPORT_CLASSES) for i in range(16)]
    data = PoseDataset(clips[:8], labels[:8], EXPORT_CLASSES, "coco17", x_test=clips[8:], y_test=labels[8:])
    data.save(tmp_path / "data.npz")
    tiny_pose_classifier.save(tmp_path / "pose_model.keras")
    base = tmp_path / "serving"
    command = [
        sys.executable,
        str(REPO_ROOT / "scripts" / "export.py"),
        "--model",
        str(tmp_path / "pose_model.keras"),
        "--data",
        str(tmp_path / "data.npz"),
        "--out",
        str(base),
        "--format",
        "savedmodel",
    ]
    # kill while the SavedModel is being written into its temporary folder
    kill_when(command, lambda: base.is_dir() and any(p.name.startswith(".tmp-") for p in base.iterdir()))
    assert versions(base) == [], "a killed export must leave no version folder for TF Serving to load"
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert versions(base) == [1] and (base / "1" / "saved_model.pb").is_file()


def test_extraction_killed_after_some_videos_resumes_to_the_same_dataset(shared_dir, tmp_path):
    model = shared_file(shared_dir, "models/movenet_singlepose_lightning_int8.tflite")
    videos = shared_file(shared_dir, "data/videos")
    root = tmp_path / "videos"
    for rel, name in (
        ("a/ta_chi.mp4", "ta_chi.mp4"),
        ("a/clean_and_jerk.mp4", "clean_and_jerk.mp4"),
        ("b/exercise.avi", "exercise.avi"),
        ("b/again.mp4", "ta_chi.mp4"),
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(videos / name)
    args = [
        "--pose-model",
        str(model),
        "--max-frames",
        "40",
        "--num-frames",
        "20",
        "--stride",
        "10",
        "--frames-per-clip",
        "2",
        "--image-size",
        "64",
        "--quiet",
        "--workers",
        "1",
    ]
    out = tmp_path / "killed.npz"
    parts = out.with_suffix(".parts")
    command = [sys.executable, str(REPO_ROOT / "scripts" / "extract_poses.py"), str(root), "--out", str(out), *args]
    kill_when(command, lambda: parts.is_dir() and len(list(parts.glob("*.npz"))) >= 1)
    assert not out.exists()
    resumed = run_script("extract_poses.py", str(root), "--out", str(out), *args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    clean = run_script("extract_poses.py", str(root), "--out", str(tmp_path / "clean.npz"), *args)
    assert clean.returncode == 0, clean.stderr[-2000:]
    a, b = load_pose_npz(out), load_pose_npz(tmp_path / "clean.npz")
    for split in b.splits:
        np.testing.assert_array_equal(a.split(split)[0], b.split(split)[0])
        np.testing.assert_array_equal(a.split(split)[1], b.split(split)[1])


def _signal_when(command: list[str], ready, signum: int, timeout: float = 300.0) -> subprocess.CompletedProcess:
    """Start ``command``, send it ``signum`` once ``ready()`` holds, and return how it ended."""
    import os
    import time

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the command ended (exit {proc.returncode}) before the signal:\n{proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the signal point never came")
        time.sleep(0.02)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def _train_command(out, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(REPO_ROOT / "scripts" / "train.py"),
        "--stage",
        "pose",
        "--preset",
        "micro",
        "--clips-per-class",
        "6",
        "2",
        "3",
        "--out",
        str(out),
        *extra,
    ]


def test_a_second_run_into_a_busy_folder_is_refused_and_sigterm_ends_the_first_cleanly(tmp_path):
    import signal

    out = tmp_path / "run"
    command = _train_command(out, "--epochs", "40", "--cache-dir", str(tmp_path / "cache"))

    def second_run_refused() -> bool:
        if not (out / ".run.lock").is_file() or not (out / "history.csv").is_file():
            return False
        second = run_script("train.py", "--stage", "pose", "--epochs", "1", "--out", str(out), timeout=300)
        assert second.returncode == 2, second.stderr[-2000:]
        assert "is in use by another run" in second.stderr.strip().splitlines()[-1]
        return True

    first = _signal_when(command, second_run_refused, signal.SIGTERM)
    assert first.returncode == 143 and first.stderr.strip().splitlines()[-1] == "interrupted (SIGTERM)", first.stderr
    assert "Traceback" not in first.stderr
    assert not (out / ".run.lock").exists() and not list(out.glob(".*.tmp*")) and not list(out.glob(".*partial*"))
    assert not (out / "metrics.json").exists()  # the interrupted run wrote no results


def test_sigint_ends_an_export_with_interrupted_and_no_version(tmp_path, tiny_pose_classifier):
    import signal

    clips = export_inputs(n=16, seed=11, frames=False)["pose"]
    labels = [i % len(EXPORT_CLASSES) for i in range(16)]
    PoseDataset(clips[:8], labels[:8], EXPORT_CLASSES, "coco17", x_test=clips[8:], y_test=labels[8:]).save(
        tmp_path / "data.npz"
    )
    tiny_pose_classifier.save(tmp_path / "pose_model.keras")
    base = tmp_path / "serving"
    command = [
        sys.executable,
        str(REPO_ROOT / "scripts" / "export.py"),
        "--model",
        str(tmp_path / "pose_model.keras"),
        "--data",
        str(tmp_path / "data.npz"),
        "--out",
        str(base),
        "--format",
        "savedmodel",
        "tflite",
    ]
    done = _signal_when(
        command, lambda: base.is_dir() and any(p.name.startswith(".tmp-") for p in base.iterdir()), signal.SIGINT
    )
    assert done.returncode == 130 and done.stderr.strip().splitlines()[-1] == "interrupted", done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "SystemError" not in done.stderr
    assert versions(base) == [] and not [p for p in base.iterdir() if p.name.startswith(".tmp-")]


def test_a_rerun_into_a_finished_folder_keeps_it(tmp_path):
    out = tmp_path / "run"
    args = [
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
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(out),
    ]
    first = run_script("train.py", *args)
    assert first.returncode == 0, first.stderr[-2000:]
    history = (out / "history.csv").read_text()
    again = run_script("train.py", *args)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "stage 1 already finished in" in again.stdout
    assert (out / "history.csv").read_text() == history  # no epoch 0 appended to the finished run's history
    other = run_script("train.py", *args[:5], "3", *args[6:])  # other settings: trained again from the start
    assert other.returncode == 0, other.stderr[-2000:]
    rows = (out / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 4 and rows[1].startswith("0,")
