"""Video reading (real clips in ../shared, bad files) and the letterbox between video and model pixels."""

from __future__ import annotations

import numpy as np
import pytest

from har_tf.data.video import PAD_VALUE, Letterbox, VideoReader, read_video
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from tests.helpers import shared_file


@pytest.mark.parametrize(
    "name, frames, size",
    [("ta_chi.mp4", 300, (340, 256)), ("exercise.avi", 393, (384, 288)), ("sports2d_demo.mp4", 230, (1768, 994))],
)
def test_real_clips_read_every_frame_as_rgb(shared_dir, name, frames, size):
    path = shared_file(shared_dir, f"data/videos/{name}")
    with VideoReader(path) as reader:
        count = sum(1 for frame in reader if frame.shape == (size[1], size[0], 3) and frame.dtype == np.uint8)
        assert count == frames == reader.frames_read
        assert (reader.info.width, reader.info.height) == size and reader.info.fps > 0


def test_max_frames_and_read_video(shared_dir):
    clip, info = read_video(shared_file(shared_dir, "data/videos/ta_chi.mp4"), max_frames=7)
    assert clip.shape == (7, 256, 340, 3) and info.frame_count == 300


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(MissingFileError, match="no such video"):
        VideoReader(tmp_path / "missing.mp4")
    with pytest.raises(InvalidInputError, match="directory"):
        VideoReader(tmp_path)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty"):
        VideoReader(tmp_path / "empty.mp4")
    (tmp_path / "text.avi").write_text("this is not a video\n" * 50)
    with pytest.raises(DataFormatError):
        VideoReader(tmp_path / "text.avi")


def test_a_truncated_video_reads_the_frames_it_has(shared_dir, tmp_path):
    data = shared_file(shared_dir, "data/videos/exercise.avi").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 3])
    with VideoReader(cut) as reader:
        count = sum(1 for _ in reader)
    assert 0 < count < 393


@pytest.mark.parametrize("width, height", [(1920, 1080), (256, 340), (300, 300), (17, 5)])
def test_letterbox_keeps_the_aspect_and_maps_keypoints_both_ways(width, height):
    box = Letterbox(width, height, 224)
    frame = np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
    square = box.apply(frame)
    assert square.shape == (224, 224, 3)
    (new_w, new_h), (x0, y0) = box.scaled_size, box.offset
    assert max(new_w, new_h) == 224 and abs(new_w / new_h - width / height) < 0.5
    if y0 > 0:
        assert (square[:y0] == PAD_VALUE).all()
    if x0 > 0:
        assert (square[:, :x0] == PAD_VALUE).all()
    kp = np.array([[0.0, 0.0, 0.9], [width - 1, height - 1, 0.5], [width / 2, height / 3, 0.0]], np.float32)
    mapped = box.to_square(kp)
    assert (mapped[:2, :2] >= 0).all() and (mapped[:2, :2] <= 224).all()
    assert (mapped[2] == 0).all()  # a missing joint stays missing (all zeros)
    np.testing.assert_allclose(box.to_video(mapped)[:2], kp[:2], atol=1e-3)
    with pytest.raises(InvalidInputError, match="expected a frame"):
        box.apply(np.zeros((height + 1, width, 3), np.uint8))


def test_a_stream_url_is_read_through_opencv(shared_dir, tmp_path):
    """A URL source skips the file checks and goes to OpenCV's FFmpeg backend (here a local HTTP server)."""
    import functools
    import http.server
    import threading

    clip = shared_file(shared_dir, "data/videos/exercise.avi")  # read front to back: no HTTP ranges needed
    (tmp_path / "clip.avi").symlink_to(clip)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clip.avi"
        with VideoReader(url, max_frames=12) as reader:
            frames = list(reader)
        assert len(frames) == 12 and frames[0].shape == (288, 384, 3)
        with pytest.raises(DataFormatError, match="could not open|no decodable"):
            VideoReader(f"http://127.0.0.1:{server.server_address[1]}/missing.mp4")
    finally:
        server.shutdown()
