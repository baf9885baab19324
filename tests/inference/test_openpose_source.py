"""OpenPoseJsonSource: real OpenPose JSON replayed as a pose estimator, and extraction from video + JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from har_tf.data.openpose import read_openpose_dir
from har_tf.data.pose_npz import load_pose_npz
from har_tf.data.video import Letterbox, read_video
from har_tf.errors import InvalidInputError, MissingFileError
from har_tf.inference.extraction import ExtractionConfig, OpenPoseJsonFolders, extract_dataset
from har_tf.inference.pose.openpose_source import OpenPoseJsonSource
from tests.helpers import shared_file

POSE2SIM = "data/pose2sim_body25b"
BADMINTON = "data/openpose_json/badminton_body25"
FRAME = np.zeros((64, 48, 3), np.uint8)  # JSON records no frame size: any RGB frame will do


def _json_counts(folder: Path) -> list[int]:
    files = sorted(folder.glob("*.json"))
    return [len(json.loads(f.read_text())["people"]) for f in files]


@pytest.fixture(scope="module")
def cam01_json(shared_dir) -> Path:
    return shared_file(shared_dir, f"{POSE2SIM}/cam01_json")


def test_frames_come_in_order_and_reset_starts_again(cam01_json):
    source = OpenPoseJsonSource(cam01_json)
    assert source.layout == "body25b" and len(source) == source.num_frames == 100
    assert source.frame_numbers == list(range(100))  # cam01.0000.json ... cam01.0099.json: video frames 0..99
    counts = _json_counts(cam01_json)
    assert max(counts) >= 2 and min(counts) >= 1  # a second person walks by in some frames
    sequence = read_openpose_dir(cam01_json)
    for t in range(100):
        people = source(FRAME)
        assert people.shape == (counts[t], 25, 3) and people.dtype == np.float32
        np.testing.assert_array_equal(people, sequence.people[t])
    assert source.position == 100
    assert source(FRAME).shape == (0, 25, 3)  # past the end: nobody
    source.reset()
    np.testing.assert_array_equal(source(FRAME), sequence.people[0])
    np.testing.assert_array_equal(source.people(57), sequence.people[57])  # random access
    assert source.people(500).shape == (0, 25, 3)
    with pytest.raises(InvalidInputError, match="frame index"):
        source.people(-1)
    with pytest.raises(InvalidInputError, match="RGB"):
        source(np.zeros((4, 4), np.uint8))


def test_main_person_follows_the_readers_rule_and_converts(cam01_json):
    source = OpenPoseJsonSource(cam01_json)
    expected = read_openpose_dir(cam01_json).main_person()
    poses = np.stack([source.main_person(FRAME) for _ in range(100)])
    np.testing.assert_array_equal(poses, expected)
    source.reset()
    coco = source.main_person(FRAME, layout="coco17")
    assert coco.shape == (17, 3)
    np.testing.assert_array_equal(coco, expected[0, :17])  # BODY_25B starts with the COCO-17 joints
    np.testing.assert_array_equal(source.main_person(FRAME), expected[1])
    assert source.position == 2


def test_badminton_body25(shared_dir):
    folder = shared_file(shared_dir, BADMINTON)
    source = OpenPoseJsonSource(folder)
    assert source.layout == "body25" and len(source) == 20
    assert source.frame_numbers == list(range(99, 119))
    counts = [len(source(FRAME)) for _ in range(20)]
    assert counts == _json_counts(folder) and min(counts) >= 7 and max(counts) <= 12


def test_a_folder_without_json_is_a_clear_error(tmp_path):
    with pytest.raises(MissingFileError, match="no such OpenPose JSON directory"):
        OpenPoseJsonSource(tmp_path / "absent")


# --- extraction with --estimator openpose ------------------------------------------------------
@pytest.fixture(scope="module")
def openpose_run(shared_dir, tmp_path_factory):
    """ROOT/balance/cam01.mp4 with JSON/balance/cam01/*.json, plus a video without JSON."""
    video = shared_file(shared_dir, f"{POSE2SIM}/cam01.mp4")
    json_files = sorted(shared_file(shared_dir, f"{POSE2SIM}/cam01_json").glob("*.json"))
    folder = tmp_path_factory.mktemp("openpose")
    (folder / "root" / "balance").mkdir(parents=True)
    (folder / "root" / "balance" / "cam01.mp4").symlink_to(video)
    (folder / "root" / "balance" / "other.mp4").symlink_to(video)  # no JSON folder: reported and skipped
    (folder / "json" / "balance" / "cam01").mkdir(parents=True)
    for f in json_files:
        (folder / "json" / "balance" / "cam01" / f.name).symlink_to(f)
    warnings: list[str] = []
    config = ExtractionConfig(image_size=128)
    result = extract_dataset(
        folder / "root",
        folder / "d.npz",
        OpenPoseJsonFolders(folder / "json"),
        config,
        progress=False,
        warn=warnings.append,
    )
    return result, warnings, video


def test_extraction_from_openpose_json(openpose_run):
    result, warnings, video = openpose_run
    data = load_pose_npz(result.path)
    assert data.layout.name == "body25b" and data.class_names == ("balance",)
    assert data.x_train.shape == (5, 30, 25, 3)  # 100 frames: windows at 0, 15, ..., 60
    assert data.extras["clip_start_train"].tolist() == [0, 15, 30, 45, 60]
    assert data.extras["video_size_train"].tolist() == [[1080, 1920]] and data.extras["fps_train"][0] == 60
    # the stored poses are the JSON's main person of each frame, in the 128 px square's pixels
    expected = Letterbox(1080, 1920, 128).to_square(read_openpose_dir(video.parent / "cam01_json").main_person())
    np.testing.assert_allclose(data.extras["poses_train"], np.clip(expected, 0, 128), atol=1e-4)
    frames, _ = read_video(video, max_frames=1)
    assert frames.shape == (1, 1920, 1080, 3)
    assert [s["video"] for s in result.report["skipped"]] == ["balance/other.mp4"]
    assert "no OpenPose JSON folder" in result.report["skipped"][0]["reason"]
    assert any("other.mp4" in w for w in warnings)


def test_extraction_converts_openpose_to_coco17(openpose_run, tmp_path):
    result, _, _ = openpose_run
    root = Path(result.report["root"])
    config = ExtractionConfig(image_size=64, layout="coco17", max_frames=40)
    again = extract_dataset(
        root, tmp_path / "c.npz", OpenPoseJsonFolders(root.parent / "json"), config, progress=False, warn=lambda _: None
    )
    data = load_pose_npz(again.path)
    assert data.layout.name == "coco17" and data.x_train.shape == (1, 30, 17, 3)
    first = load_pose_npz(result.path)
    scale = 64 / 128
    np.testing.assert_allclose(data.x_train[0, :, :, :2], first.x_train[0, :, :17, :2] * scale, atol=0.02)


def test_fewer_json_files_than_frames_is_warned_about(openpose_run, tmp_path):
    result, _, video = openpose_run
    (tmp_path / "root" / "balance").mkdir(parents=True)
    (tmp_path / "root" / "balance" / "cam01.mp4").symlink_to(video)
    (tmp_path / "json" / "balance" / "cam01").mkdir(parents=True)
    for f in sorted((video.parent / "cam01_json").glob("*.json"))[:50]:
        (tmp_path / "json" / "balance" / "cam01" / f.name).symlink_to(f)
    warnings: list[str] = []
    again = extract_dataset(
        tmp_path / "root",
        tmp_path / "d.npz",
        OpenPoseJsonFolders(tmp_path / "json"),
        ExtractionConfig(image_size=128),
        progress=False,
        warn=warnings.append,
    )
    assert any("100 frames but its OpenPose JSON folder has 50 files" in w for w in warnings)
    poses = again.dataset.extras["poses_train"]
    assert np.all(poses[50:] == 0)
    np.testing.assert_array_equal(poses[:50], result.dataset.extras["poses_train"][:50])
