"""scripts/extract_poses.py as a user runs it: a dataset NPZ from a folder of real videos, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from har_tf.data.pose_npz import load_pose_npz
from tests.helpers import run_script, shared_file

MOVENET = "models/movenet_singlepose_lightning_int8.tflite"


@pytest.fixture(scope="module")
def root(shared_dir, tmp_path_factory):
    videos = shared_file(shared_dir, "data/videos")
    folder = tmp_path_factory.mktemp("videos")
    for rel, name in (
        ("tai_chi/ta_chi.mp4", "ta_chi.mp4"),
        ("tai_chi/clean_and_jerk.mp4", "clean_and_jerk.mp4"),
        ("exercise/exercise.avi", "exercise.avi"),
    ):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).symlink_to(videos / name)
    (folder / "exercise" / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    return folder


def test_extract_poses_writes_the_dataset_and_its_report(root, shared_dir, tmp_path):
    model = shared_file(shared_dir, MOVENET)
    out = tmp_path / "data" / "mine.npz"
    result = run_script(
        "extract_poses.py",
        str(root),
        "--out",
        str(out),
        "--pose-model",
        str(model),
        "--max-frames",
        "45",
        "--num-frames",
        "20",
        "--stride",
        "10",
        "--frames-per-clip",
        "4",
        "--image-size",
        "160",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "warning: skipped exercise/corrupt.mp4" in result.stderr and "Traceback" not in result.stderr
    assert f"wrote {out}" in result.stdout
    data = load_pose_npz(out)
    assert data.class_names == ("exercise", "tai_chi") and data.x_train.shape[1:] == (20, 17, 3)
    assert sum(len(data.split(s)[1]) for s in data.splits) == 9  # 45 frames: windows at 0, 10, 20
    assert data.extras["image_size"].tolist() == [160, 160] and len(data.extras["frame_indices"]) == 4
    report = json.loads(out.with_suffix(".report.json").read_text())
    assert report["videos"]["skipped"] == 1 and report["frames_per_second"] > 0
    assert not out.with_suffix(".parts").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["{tmp}/absent", "--out", "{tmp}/d.npz", "--pose-model", "{model}"], "no such video folder"),
        (["{root}", "--out", "{tmp}/d.npz"], "--pose-model"),
        (["{root}", "--out", "{tmp}/d.npz", "--pose-model", "{model}", "--stride", "0"], "stride"),
        (["{root}", "--out", "{tmp}/d.npz", "--estimator", "openpose"], "--openpose-json"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(root, shared_dir, tmp_path, args, message):
    model = shared_file(shared_dir, MOVENET)
    args = [a.format(tmp=tmp_path, root=root, model=model) for a in args]
    result = run_script("extract_poses.py", *args)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last and "Traceback" not in result.stderr
    assert not (tmp_path / "d.npz").exists()
