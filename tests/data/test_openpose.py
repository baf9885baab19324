"""OpenPose JSON directories: real BODY_25 / BODY_25B output and small synthetic folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from har_tf.data.openpose import OpenPoseSequence, openpose_to_pose_array, read_openpose_dir
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from tests.helpers import shared_file

BADMINTON = "data/openpose_json/badminton_body25"
POSE2SIM = "data/pose2sim_body25b/cam01_json"


def _json_people_counts(folder: Path, names: list[str]) -> list[int]:
    return [len(json.loads((folder / n).read_text())["people"]) for n in names]


def _boxes(pose: np.ndarray) -> np.ndarray:
    """(T, 4) boxes x0, y0, x1, y1 of the joints with confidence > 0.1."""
    out = []
    for frame in pose:
        xy = frame[frame[:, 2] > 0.1, :2]
        out.append(np.concatenate([xy.min(0), xy.max(0)]))
    return np.asarray(out)


# --- real data ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def badminton(shared_dir) -> tuple[Path, OpenPoseSequence]:
    folder = shared_file(shared_dir, BADMINTON)
    return folder, read_openpose_dir(folder)


@pytest.fixture(scope="module")
def pose2sim(shared_dir) -> tuple[Path, OpenPoseSequence]:
    folder = shared_file(shared_dir, POSE2SIM)
    return folder, read_openpose_dir(folder)


def test_badminton_is_body25(badminton):
    folder, seq = badminton
    assert seq.layout.name == "body25"
    assert seq.num_frames == 20
    numbers = [int(name.split("_")[1]) for name in seq.frame_names]
    assert numbers == list(range(99, 119))
    assert seq.people_counts() == _json_people_counts(folder, seq.frame_names)
    assert all(p.shape[1:] == (25, 3) and p.dtype == np.float32 for p in seq.people)
    assert seq.all_people().shape == (20, max(seq.people_counts()), 25, 3)


def test_pose2sim_is_body25b(pose2sim):
    folder, seq = pose2sim
    assert seq.layout.name == "body25b"
    names = sorted(p.name for p in folder.glob("*.json"))
    assert seq.num_frames == len(names) == 100
    assert seq.frame_names == names  # zero-padded names: natural order = name order here
    assert seq.people_counts() == _json_people_counts(folder, names)
    assert max(seq.people_counts()) == 3 and min(seq.people_counts()) >= 1


def test_explicit_layouts(badminton, pose2sim):
    assert read_openpose_dir(badminton[0], layout="body25b").layout.name == "body25b"
    assert read_openpose_dir(pose2sim[0], layout="BODY_25").layout.name == "body25"
    with pytest.raises(InvalidInputError, match="expected layout 'auto', 'body25' or 'body25b'"):
        read_openpose_dir(badminton[0], layout="coco17")


def test_badminton_main_person_is_tracked(badminton):
    _, seq = badminton
    pose = seq.main_person()
    assert pose.shape == (20, 25, 3) and np.all(pose[..., 2].max(axis=1) > 0)
    boxes = _boxes(pose)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    assert np.abs(np.diff(centres, axis=0)).max() < 10  # pixels of a 1920x1080 frame
    # the JSON order of people changes between frames: tracking is not "always index 0"
    assert len(set(seq.main_person_indices().tolist())) > 1


def test_pose2sim_main_person_is_the_large_one(pose2sim):
    _, seq = pose2sim
    boxes = _boxes(seq.main_person())
    heights = boxes[:, 3] - boxes[:, 1]
    assert np.median(heights) > 600  # the person in the lab, not the small one at the left edge
    assert np.all(boxes[:, 2] > 300)  # the other detection stays left of x = 120
    assert np.mean(seq.main_person_indices() == 0) > 0.95


def test_conversion_to_coco17(badminton, pose2sim):
    for _, seq in (badminton, pose2sim):
        coco = openpose_to_pose_array(seq)
        assert coco.shape == (seq.num_frames, 17, 3) and coco.dtype == np.float32
        native = openpose_to_pose_array(seq, target_layout=None)
        assert native.shape == (seq.num_frames, 25, 3)
    np.testing.assert_array_equal(openpose_to_pose_array(pose2sim[1]), pose2sim[1].main_person()[:, :17])
    main = badminton[1].main_person()
    np.testing.assert_array_equal(openpose_to_pose_array(badminton[1])[:, 0], main[:, 0])  # nose
    np.testing.assert_array_equal(openpose_to_pose_array(badminton[1])[:, 5], main[:, 5])  # left shoulder


# --- synthetic folders ---------------------------------------------------------------------------
def _person(x0: float, y0: float, size: float, conf: float = 0.9) -> list[float]:
    """A BODY_25 person: joints spread over a size x size box at (x0, y0)."""
    rng = np.random.default_rng(int(x0 + y0))
    xy = np.stack([x0 + rng.random(25) * size, y0 + rng.random(25) * size], axis=1)
    xy[0], xy[24] = (x0, y0), (x0 + size, y0 + size)
    return np.concatenate([xy, np.full((25, 1), conf)], axis=1).ravel().tolist()


def _write_frames(folder: Path, frames: list[list[list[float]]], pattern: str = "clip_{:012d}_keypoints.json") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, people in enumerate(frames):
        content = {"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": p} for p in people]}
        (folder / pattern.format(i)).write_text(json.dumps(content))
    return folder


def test_natural_order_and_only_json(tmp_path):
    for n in (10, 2, 1):
        _write_frames(tmp_path, [[_person(n, n, 50)]], pattern=f"frame_{n}.json")
    (tmp_path / "notes.txt").write_text("not a frame")
    seq = read_openpose_dir(tmp_path, layout="body25")
    assert seq.frame_names == ["frame_1.json", "frame_2.json", "frame_10.json"]


def test_empty_frame_gives_zeros(tmp_path):
    folder = _write_frames(tmp_path / "clip", [[], [_person(100, 100, 80)], [], [_person(102, 101, 80)]])
    seq = read_openpose_dir(folder, layout="body25")
    assert seq.people_counts() == [0, 1, 0, 1]
    assert seq.main_person_indices().tolist() == [-1, 0, -1, 0]
    pose = seq.main_person()
    assert pose.shape == (4, 25, 3)
    assert np.all(pose[[0, 2]] == 0) and np.all(pose[[1, 3], :, 2] == pytest.approx(0.9))
    assert seq.all_people().shape == (4, 1, 25, 3)


def test_nobody_at_all(tmp_path):
    seq = read_openpose_dir(_write_frames(tmp_path, [[], []]))
    assert seq.layout.name == "body25"  # no voter: OpenPose's default
    assert seq.main_person().shape == (2, 25, 3) and not seq.main_person().any()
    assert seq.all_people().shape == (2, 0, 25, 3)


def test_tracking_rule(tmp_path):
    small, big = _person(100, 100, 100), _person(500, 100, 300)
    moved_small = _person(110, 105, 100)
    far_small = _person(900, 600, 100)
    frames = [
        [big, small],  # first frame: the highest score (big) is chosen
        [small, big],  # tracked by IoU through the JSON reorder
        [moved_small],  # big vanished, small has no overlap: track lost -> best score (small)
        [big, moved_small],  # the tracked small one stays main although big scores higher
        [far_small],  # no overlap -> lost again, new main
    ]
    seq = read_openpose_dir(_write_frames(tmp_path, frames), layout="body25")
    assert seq.main_person_indices().tolist() == [0, 1, 0, 1, 0]
    np.testing.assert_allclose(seq.main_person()[1].ravel(), big)


def test_low_confidence_people_are_ignored(tmp_path):
    frames = [[_person(0, 0, 300, conf=0.05), _person(500, 0, 50)]]
    seq = read_openpose_dir(_write_frames(tmp_path, frames), layout="body25")
    assert seq.main_person_indices().tolist() == [1]


def test_malformed_json_names_the_file(tmp_path):
    folder = _write_frames(tmp_path, [[_person(0, 0, 50)]] * 3)
    bad = folder / "clip_000000000001_keypoints.json"
    bad.write_text('{"version": 1.3, "people": [')
    with pytest.raises(DataFormatError, match="invalid JSON") as info:
        read_openpose_dir(folder)
    assert str(bad) in str(info.value)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (
            {"version": 1.3, "people": [{"pose_keypoints_2d": [0.0] * 54}]},
            r"expected 'pose_keypoints_2d' with 75 values .* got 54 values",
        ),
        ({"version": 1.3, "people": [{"face_keypoints_2d": []}]}, "with 75 values .* got NoneType"),
        ({"version": 1.3, "people": [{"pose_keypoints_2d": ["a"] * 75}]}, "numbers only"),
        ({"version": 1.3}, "a 'people' list"),
        ([1, 2, 3], "a 'people' list"),
    ],
    ids=["54-values", "no-pose", "strings", "no-people", "not-an-object"],
)
def test_wrong_content_names_the_file(tmp_path, content, match):
    _write_frames(tmp_path, [[_person(0, 0, 50)]])
    bad = tmp_path / "clip_000000000007_keypoints.json"
    bad.write_text(json.dumps(content))
    with pytest.raises(DataFormatError, match=match) as info:
        read_openpose_dir(tmp_path)
    assert str(bad) in str(info.value)


def test_missing_and_empty_directories(tmp_path):
    with pytest.raises(MissingFileError, match="no such OpenPose JSON directory"):
        read_openpose_dir(tmp_path / "absent")
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(DataFormatError, match=r"expected OpenPose \*\.json files .* found none"):
        read_openpose_dir(tmp_path)
