"""SIGKILL in the middle of an export and of a dataset extraction (issue #8), in real subprocesses:
nothing half-written is ever visible (no partial version folder for TF Serving, no damaged part read
back), and the same command afterwards finishes the job."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from har_tf.data.pose_npz import PoseDataset, load_pose_npz
from har_tf.export.saved_model import versions
from tests.conftest import EXPORT_CLASSES, REPO_ROOT, export_inputs, kill_when, run_script, shared_file

pytestmark = pytest.mark.slow


def test_export_killed_mid_way_leaves_no_version_and_reruns(tmp_path, tiny_pose_classifier):
    clips = export_inputs(n=16, seed=11, frames=False)["pose"]
    labels = [i % len(EXPORT_CLASSES) for i in range(16)]
    data = PoseDataset(clips[:8], labels[:8], EXPORT_CLASSES, "coco17", x_test=clips[8:], y_test=labels[8:])
    data.save(tmp_path / "data.npz")
    tiny_pose_classifier.save(tmp_path / "pose_model.keras")
    base = tmp_path / "serving"
    command = [sys.executable, str(REPO_ROOT / "scripts" / "export.py"), "--model", str(tmp_path / "pose_model.keras"),
               "--data", str(tmp_path / "data.npz"), "--out", str(base), "--format", "savedmodel"]  # fmt: skip
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
    for rel, name in (("a/ta_chi.mp4", "ta_chi.mp4"), ("a/clean_and_jerk.mp4", "clean_and_jerk.mp4"),
                      ("b/exercise.avi", "exercise.avi"), ("b/again.mp4", "ta_chi.mp4")):  # fmt: skip
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(videos / name)
    args = ["--pose-model", str(model), "--max-frames", "40", "--num-frames", "20", "--stride", "10",
            "--frames-per-clip", "2", "--image-size", "64", "--quiet", "--workers", "1"]  # fmt: skip
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
