"""scripts/predict_video.py as a user runs it: a real clip in, an annotated video and a timeline out."""

from __future__ import annotations

import json

import cv2
import pytest

from tests.helpers import EXPORT_CLASSES, EXPORT_T, run_script, shared_file


@pytest.fixture(scope="module")
def fusion_file(tiny_fusion_model, tmp_path_factory):
    path = tmp_path_factory.mktemp("predict_video") / "fusion_model.keras"
    tiny_fusion_model.save(path)
    return path


def _video_facts(path) -> tuple[int, int, int]:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    return count, int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))


def test_annotated_video_and_timeline_from_a_real_clip(shared_dir, fusion_file, tmp_path):
    video = shared_file(shared_dir, "data/videos/ta_chi.mp4")
    movenet = shared_file(shared_dir, "models/movenet_singlepose_lightning_int8.tflite")
    out, timeline = tmp_path / "annotated.mp4", tmp_path / "timeline.json"
    result = run_script(
        "predict_video.py",
        str(video),
        "--model",
        str(fusion_file),
        "--pose-model",
        str(movenet),
        "--out",
        str(out),
        "--json",
        str(timeline),
        "--stride",
        "10",
        "--top-k",
        "2",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert _video_facts(out) == _video_facts(video) == (300, 340, 256)
    data = json.loads(timeline.read_text())
    assert data["frames"] == 300 and data["classes"] == list(EXPORT_CLASSES)
    windows = data["windows"]
    assert [w["start_frame"] for w in windows] == list(range(0, 300 - EXPORT_T + 1, 10))
    first = windows[0]
    assert first["end_frame"] == EXPORT_T - 1 and first["end_time"] == pytest.approx(EXPORT_T / 29.97, abs=1e-3)
    assert len(first["top"]) == 2 and first["top"][0]["probability"] >= first["top"][1]["probability"]
    assert {"decode", "pose", "embed", "classify", "render", "total"} <= set(data["latency_ms"])
    assert "median" in result.stdout and "p95" in result.stdout


def test_bad_input_is_one_line_and_writes_nothing(shared_dir, fusion_file, tmp_path):
    movenet = shared_file(shared_dir, "models/movenet_singlepose_lightning_int8.tflite")
    out = tmp_path / "annotated.mp4"
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x01 not a video" * 100)
    for video in (tmp_path / "missing.mp4", corrupt):
        result = run_script(
            "predict_video.py",
            str(video),
            "--model",
            str(fusion_file),
            "--pose-model",
            str(movenet),
            "--out",
            str(out),
            "--json",
            str(tmp_path / "t.json"),
        )
        assert result.returncode == 2
        assert result.stderr.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.mp4"]
