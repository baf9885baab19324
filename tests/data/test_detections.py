"""The per-frame detections JSON format (beside OpenPose output): round trips, frame matching, bad files."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

import har_tf.data.detections as detections_module
from har_tf.data.detections import (
    Detections,
    detections_file_name,
    detections_to_objects,
    read_detections_folder,
    read_detections_frames,
    read_detections_json,
    write_detections_folder,
)
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError

NAMES = ("none", "cup", "phone", "book", "tablet", "box")


def _objects() -> np.ndarray:
    """(T=4, K=3, 6): frame 0 two objects, frame 1 none, frame 2 three, frame 3 one."""
    objects = np.zeros((4, 3, 6), np.float32)
    objects[0, 0] = [1, 10.5, 20, 30.25, 40, 0.75]
    objects[0, 1] = [2, 100.3, 50.1, 120.7, 90.9, 0.5]
    objects[2] = [[3, 0, 0, 5, 5, 1.0], [4, 1.1, 2.2, 3.3, 4.4, 0.123], [5, 7, 8, 9, 10, 0.99]]
    objects[3, 2] = [1, 300, 200, 310.5, 220, 0.3]  # a valid slot after empty ones
    return objects


def _write(folder: Path, name: str, content) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    return path


def _det(cls="cup", box=(1, 2, 3, 4), score=0.5) -> dict:
    return {"class": cls, "box": list(box), "score": score}


# --- round trip and the exact format -----------------------------------------------------------
def test_round_trip_is_exact(tmp_path):
    objects = _objects()
    paths = write_detections_folder(objects, NAMES, tmp_path / "det", "video")
    assert [p.name for p in paths] == [f"video_{t:012d}_detections.json" for t in range(4)]
    back = read_detections_folder(tmp_path / "det", NAMES, max_objects=3)
    assert back.dtype == np.float32 and back.shape == (4, 3, 6)
    for t in range(4):  # valid slots come back best first, empty slots as zeros
        valid = objects[t][objects[t, :, 0] >= 1]
        expected = valid[np.argsort(-valid[:, 5], kind="stable")]
        np.testing.assert_array_equal(back[t, : len(expected)], expected)
        assert not back[t, len(expected) :].any()


def test_written_files_are_exactly_the_documented_format(tmp_path):
    write_detections_folder(_objects(), NAMES, tmp_path, "clip")
    first = (tmp_path / "clip_000000000000_detections.json").read_text(encoding="utf-8")
    assert first.endswith("\n")
    assert json.loads(first) == {
        "version": 1,
        "detections": [
            {"class": "cup", "box": [10.5, 20.0, 30.25, 40.0], "score": 0.75},
            {"class": "phone", "box": [100.3, 50.1, 120.7, 90.9], "score": 0.5},  # float32 written as its short decimal
        ],
    }
    assert json.loads((tmp_path / "clip_000000000001_detections.json").read_text()) == {"version": 1, "detections": []}
    last = json.loads((tmp_path / "clip_000000000003_detections.json").read_text())
    assert last["detections"] == [{"class": "cup", "box": [300.0, 200.0, 310.5, 220.0], "score": 0.3}]
    for path in tmp_path.iterdir():  # nothing else: no temporary file left behind
        assert path.name.startswith("clip_") and path.name.endswith("_detections.json")
        item_keys = {key for item in json.loads(path.read_text())["detections"] for key in item}
        assert set(json.loads(path.read_text())) == {"version", "detections"} and item_keys <= {"class", "box", "score"}


def test_written_objects_pass_the_objects_check(tmp_path):
    from har_tf.data.objects import check_objects_batch

    write_detections_folder(_objects(), NAMES, tmp_path, "v")
    back = read_detections_folder(tmp_path, NAMES, max_objects=2, num_frames=4)
    assert check_objects_batch(back, num_frames=4, num_classes=len(NAMES), max_objects=2).shape == (1, 4, 2, 6)
    np.testing.assert_array_equal(back[2, :, 0], [3, 5])  # the best two of frame 2 (scores 1.0, 0.99)


def test_rewriting_a_shorter_clip_removes_its_stale_frames_only(tmp_path):
    write_detections_folder(_objects(), NAMES, tmp_path, "a")
    write_detections_folder(_objects()[:1], NAMES, tmp_path, "ab")  # another video whose stem starts alike
    write_detections_folder(_objects()[:2], NAMES, tmp_path, "a")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a_000000000000_detections.json",
        "a_000000000001_detections.json",
        "ab_000000000000_detections.json",
    ]
    assert read_detections_folder(tmp_path, NAMES, 3, stem="a").shape == (2, 3, 6)


def test_write_refuses_bad_input(tmp_path):
    with pytest.raises(InvalidInputError, match="stem"):
        write_detections_folder(_objects(), NAMES, tmp_path, "sub/video")
    with pytest.raises(InvalidInputError, match=r"\(T, K, 6\)"):
        write_detections_folder(np.zeros((4, 3, 5)), NAMES, tmp_path, "v")
    bad = _objects()
    bad[0, 0, 0] = 6
    with pytest.raises(
        InvalidInputError, match=r"class ids must be whole numbers in \[0, 6\) \(0 = empty slot\), got 6"
    ):
        write_detections_folder(bad, NAMES, tmp_path, "v")
    with pytest.raises(InvalidInputError, match="must start with 'none'"):
        write_detections_folder(_objects(), NAMES[1:], tmp_path, "v")
    assert not list(tmp_path.iterdir())


# --- reading: frame numbers, missing frames, classes -------------------------------------------
def test_frames_are_matched_by_the_number_in_the_name(tmp_path):
    _write(tmp_path, "video_000000000007_detections.json", {"version": 1, "detections": [_det("book")]})
    _write(tmp_path, "video_000000000000_detections.json", {"version": 1, "detections": [_det("cup")]})
    _write(tmp_path, "video_000000000003_detections.json", {"version": 1, "detections": [_det("phone")]})
    _write(tmp_path, "video_000000000003_keypoints.json", {"people": []})  # OpenPose output beside it: ignored
    objects = read_detections_folder(tmp_path, NAMES, max_objects=2)
    assert objects.shape == (8, 2, 6)  # frames 0..7; frames without a file have no detections
    np.testing.assert_array_equal(objects[:, 0, 0], [1, 0, 0, 2, 0, 0, 0, 3])
    assert read_detections_folder(tmp_path, NAMES, max_objects=2, num_frames=12).shape == (12, 2, 6)
    with pytest.raises(DataFormatError, match=r"video_000000000007_detections.json is frame 7 but the clip has 5 "):
        read_detections_folder(tmp_path, NAMES, max_objects=2, num_frames=5)


def test_natural_frame_numbers_and_stems(tmp_path):
    for frame in (2, 10):
        _write(tmp_path, f"frame_{frame}_detections.json", {"version": 1, "detections": [_det(frame // 2)]})
    frames = read_detections_frames(tmp_path, NAMES)
    assert len(frames) == 11 and [len(f) for f in frames].count(1) == 2
    assert frames[2].classes.tolist() == [1] and frames[10].classes.tolist() == [5]
    _write(tmp_path, "other_000000000002_detections.json", {"version": 1, "detections": []})
    with pytest.raises(DataFormatError, match="two detections files for frame 2.*pass stem="):
        read_detections_folder(tmp_path, NAMES, 1)
    assert read_detections_folder(tmp_path, NAMES, 1, stem="other").shape == (3, 1, 6)
    assert not read_detections_folder(tmp_path, NAMES, 1, stem="other").any()
    assert read_detections_folder(tmp_path, NAMES, 1, stem="frame")[10, 0, 0] == 5


def test_names_ids_default_score_and_extra_keys(tmp_path):
    path = _write(
        tmp_path,
        "v_000000000000_detections.json",
        {
            "version": 1,
            "source": "hand",
            "detections": [
                {"class": "  Phone ", "box": [1, 2, 3, 4], "track_id": 7},  # no score: an annotation, 1.0
                {"class": 4, "box": [0, 0, 0, 0], "score": 0.25},  # an id; a zero-size box is allowed
                {"class": "book", "box": [5, 5, 6, 6], "score": 0},  # score 0 = an empty slot: skipped
            ],
        },
    )
    found = read_detections_json(path, NAMES)
    assert isinstance(found, Detections) and found.names == NAMES
    assert found.classes.tolist() == [2, 4] and found.scores.tolist() == [1.0, 0.25]
    assert found.boxes.dtype == np.float32 and found.boxes.tolist() == [[1, 2, 3, 4], [0, 0, 0, 0]]
    assert found.labels() == ["phone", "tablet"]


def test_person_box_ranks_nearby_objects_first(tmp_path):
    _write(
        tmp_path,
        "v_000000000000_detections.json",
        {
            "version": 1,
            "detections": [
                _det("cup", (500, 500, 510, 510), 0.9),
                _det("phone", (48, 48, 60, 60), 0.4),
                _det("book", (0, 0, 5, 5), 0.6),
            ],
        },
    )
    by_score = read_detections_folder(tmp_path, NAMES, 2)
    by_person = read_detections_folder(tmp_path, NAMES, 2, person_box=[[10, 10, 50, 50]])
    assert by_score[0, :, 0].tolist() == [1, 3] and by_person[0, :, 0].tolist() == [2, 3]


def test_missing_paths(tmp_path):
    with pytest.raises(MissingFileError, match="no such detections folder"):
        read_detections_folder(tmp_path / "nope", NAMES, 3)
    with pytest.raises(MissingFileError, match="no such detections file"):
        read_detections_json(tmp_path / "a_000000000000_detections.json", NAMES)
    _write(tmp_path, "v_000000000000_keypoints.json", {"people": []})
    with pytest.raises(DataFormatError, match=r"expected detections files named \*_detections.json.*found none"):
        read_detections_folder(tmp_path, NAMES, 3)
    with pytest.raises(DataFormatError, match=r"video_<frame>_detections.json"):
        read_detections_folder(tmp_path, NAMES, 3, stem="video")


# --- malformed files: DataFormatError naming the file and the fault ------------------------------
MALFORMED = [
    ("{not json", "invalid JSON"),
    ("[]", r"expected a JSON object .*got list"),
    ({"detections": []}, r'expected "version": 1, got None'),
    ({"version": 2, "detections": []}, r'expected "version": 1, got 2'),
    ({"version": True, "detections": []}, r'expected "version": 1, got True'),
    ({"version": 1}, r'expected a "detections" list, got NoneType'),
    ({"version": 1, "detections": {"class": "cup"}}, r'expected a "detections" list, got dict'),
    ({"version": 1, "detections": ["cup"]}, r"detection 0: expected an object .*got str"),
    ({"version": 1, "detections": [_det("spoon")]}, r"detection 0: unknown class 'spoon'; expected one of \['cup'"),
    ({"version": 1, "detections": [_det("none")]}, r"unknown class 'none'"),
    ({"version": 1, "detections": [_det(0)]}, r'expected "class" as a name .* or an id in 1..5, got 0'),
    ({"version": 1, "detections": [_det(6)]}, r"an id in 1..5, got 6"),
    ({"version": 1, "detections": [_det(1.5)]}, r"got 1.5"),
    ({"version": 1, "detections": [_det(True)]}, r"got True"),
    ({"version": 1, "detections": [{"box": [1, 2, 3, 4], "score": 1}]}, r'expected "class" .*got None'),
    (
        {"version": 1, "detections": [_det(), _det(box=(1, 2, 3))]},
        r'detection 1: expected "box" as 4 numbers .*got 3 values \[1, 2, 3\]',
    ),
    ({"version": 1, "detections": [_det(box=(1, 2, 3, 4, 5))]}, r"got 5 values"),
    ({"version": 1, "detections": [{"class": "cup", "box": "1 2 3 4"}]}, r'expected "box" as 4 numbers .*got str'),
    ({"version": 1, "detections": [_det(box=("a", 2, 3, 4))]}, r'expected "box" as 4 numbers'),
    ('{"version": 1, "detections": [{"class": "cup", "box": [1, NaN, 3, 4]}]}', r"NaN or infinite"),
    ({"version": 1, "detections": [_det(box=(10, 2, 3, 4))]}, r"the box \[10, 2, 3, 4\] has x2 < x1 or y2 < y1"),
    ({"version": 1, "detections": [_det(score=-0.1)]}, r'expected "score" as a number in \[0, 1\], got -0.1'),
    ({"version": 1, "detections": [_det(score=1.5)]}, r"got 1.5"),
    ({"version": 1, "detections": [_det(score="high")]}, r"got 'high'"),
    ('{"version": 1, "detections": [{"class": "cup", "box": [1, 2, 3, 4], "score": NaN}]}', r"got nan"),
]


@pytest.mark.parametrize("content, message", MALFORMED, ids=[m for _, m in MALFORMED])
def test_malformed_files_name_the_file_and_the_fault(tmp_path, content, message):
    path = _write(tmp_path, "video_000000000004_detections.json", content)
    with pytest.raises(DataFormatError, match=message) as err:
        read_detections_json(path, NAMES)
    assert str(path) in str(err.value)
    with pytest.raises(DataFormatError, match=message):  # the folder reader says the same
        read_detections_folder(tmp_path, NAMES, 3)


def test_bad_arguments(tmp_path):
    write_detections_folder(_objects(), NAMES, tmp_path, "v")
    with pytest.raises(InvalidInputError, match="max_objects"):
        read_detections_folder(tmp_path, NAMES, 0)
    with pytest.raises(InvalidInputError, match="num_frames"):
        read_detections_folder(tmp_path, NAMES, 2, num_frames=0)
    with pytest.raises(InvalidInputError, match=r"person_box must be \(T, 4\) = \(4, 4\)"):
        read_detections_folder(tmp_path, NAMES, 2, person_box=np.zeros((3, 4)))
    with pytest.raises(InvalidInputError, match="must start with 'none'"):
        read_detections_folder(tmp_path, ["cup", "phone"], 2)


def test_detections_checks_its_arrays():
    with pytest.raises(InvalidInputError, match="one box, class and score each"):
        Detections(np.zeros((2, 4)), [1], [0.5, 0.5])
    with pytest.raises(InvalidInputError, match=r"whole numbers >= 1"):
        Detections([[0, 0, 1, 1]], [0], [0.5])
    with pytest.raises(InvalidInputError, match=r"scores must lie in \[0, 1\]"):
        Detections([[0, 0, 1, 1]], [1], [1.2])
    with pytest.raises(InvalidInputError, match=r"x1 <= x2"):
        Detections([[2, 0, 1, 1]], [1], [0.5])
    with pytest.raises(InvalidInputError, match="NaN"):
        Detections([[0, np.nan, 1, 1]], [1], [0.5])
    empty = Detections.empty(NAMES)
    assert len(empty) == 0 and empty.boxes.shape == (0, 4) and not detections_to_objects([empty], 2).any()
    assert detections_file_name("cam01", 99) == "cam01_000000000099_detections.json"


def test_the_data_module_does_not_import_the_later_rooms():
    tree = ast.parse(Path(detections_module.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert not {m for m in imported if m.split(".")[0] in ("tensorflow", "keras", "cv2")}
    assert not {m for m in imported if m.startswith(("har_tf.inference", "har_tf.models"))}
