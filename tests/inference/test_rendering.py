"""Annotated frames and videos: the drawing changes only what it should, the writer never leaves half a file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from har_tf.errors import InvalidInputError
from har_tf.inference.rendering import AnnotatedVideoWriter, annotate_frame, write_timeline
from har_tf.inference.results import top_k


def _frame() -> np.ndarray:
    return np.full((120, 160, 3), 90, np.uint8)


def test_annotate_draws_the_panel_and_skeleton_on_a_copy():
    frame = _frame()
    pose = np.zeros((17, 3), np.float32)
    pose[[5, 7, 9], :] = [[100, 40, 0.9], [110, 60, 0.9], [115, 80, 0.9]]  # left shoulder, elbow, wrist
    scores = top_k(np.array([[0.1, 0.7, 0.2]]), ("walk", "fall", "drink"), 3)[0]
    out = annotate_frame(frame, pose, "coco17", scores)
    assert out.shape == frame.shape and out.dtype == np.uint8
    assert (frame == 90).all()  # the input is untouched
    assert (out[:60, :120] != 90).any()  # the panel, top-left
    assert (out[50, 100:120] != 90).any()  # the upper arm between shoulder (y 40) and elbow (y 60)
    assert (out[100:, :60] == 90).all()  # nothing bottom-left
    blank = annotate_frame(frame, None, "coco17", None)
    assert (blank == frame).all()


def test_writer_writes_every_frame_at_the_input_size(tmp_path):
    path = tmp_path / "out.mp4"
    with AnnotatedVideoWriter(path, 10.0, 160, 120) as writer:
        for i in range(12):
            writer.write(np.full((120, 160, 3), i * 20, np.uint8))
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    assert count == 12
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (160, 120)
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_an_interrupted_write_leaves_the_earlier_file_and_no_partial(tmp_path):
    path = tmp_path / "out.avi"
    path.write_bytes(b"an earlier good video")
    with pytest.raises(RuntimeError):
        with AnnotatedVideoWriter(path, 10.0, 160, 120) as writer:
            writer.write(_frame())
            raise RuntimeError("killed")
    assert path.read_bytes() == b"an earlier good video"
    assert [p.name for p in tmp_path.iterdir()] == ["out.avi"]


def test_writer_refuses_bad_names_and_frames(tmp_path):
    with pytest.raises(InvalidInputError, match="must end in"):
        AnnotatedVideoWriter(tmp_path / "out.gif", 10.0, 160, 120)
    with AnnotatedVideoWriter(tmp_path / "out.mp4", 10.0, 160, 120) as writer:
        with pytest.raises(InvalidInputError, match="120x160"):
            writer.write(np.zeros((100, 160, 3), np.uint8))
        writer.write(_frame())


def test_timeline_is_written_as_json(tmp_path):
    import json

    path = write_timeline(tmp_path / "sub" / "timeline.json", {"windows": [{"start_frame": 0}]})
    assert json.loads(path.read_text()) == {"windows": [{"start_frame": 0}]}


def test_timeline_writer_streams_windows_to_disk_and_never_leaves_half_a_file(tmp_path):
    import json

    from har_tf.inference.rendering import TimelineWriter

    path = tmp_path / "timeline.json"
    path.write_text('{"windows": ["an earlier run"]}')
    aborted = TimelineWriter(path)
    aborted.add({"start_frame": 0})
    aborted.abort()  # an interrupted run: the earlier file stays, the spool goes
    assert json.loads(path.read_text()) == {"windows": ["an earlier run"]} and list(tmp_path.iterdir()) == [path]

    writer = TimelineWriter(path, keep=2)
    for start in range(0, 50, 5):
        writer.add({"start_frame": start, "top": [{"class": "fall", "probability": 0.9}]})
    assert [w and w["start_frame"] for w in writer.summary_windows()] == [0, 5, None, 40, 45]
    writer.close({"video": "cam.mp4", "frames": 79})
    data = json.loads(path.read_text())
    assert data["video"] == "cam.mp4" and [w["start_frame"] for w in data["windows"]] == list(range(0, 50, 5))
    assert list(tmp_path.iterdir()) == [path]
    assert TimelineWriter(None).close({"video": "x"}) is None  # no --json: nothing written
