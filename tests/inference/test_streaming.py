"""The streaming recogniser: the same probabilities as the model on the same window offline, each frame
embedded once, short streams, smoothing, bad input; and a real clip through MoveNet."""

from __future__ import annotations

import numpy as np
import pytest

from har_tf.data.video import Letterbox
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from har_tf.inference.pose.base import PoseEstimator, main_person
from har_tf.inference.streaming import StreamingRecognizer
from har_tf.inference.window_model import WindowModel
from tests.helpers import EXPORT_T, shared_file

HEIGHT, WIDTH, FRAMES = 60, 90, 23


class ScriptedEstimator(PoseEstimator):
    """A seeded stand-in: frame n gets a person with random COCO-17 joints in the frame (a few missing),
    every fifth frame nobody."""

    layout = "coco17"

    def __init__(self, seed: int = 0):
        self.seed, self.calls = seed, 0

    def reset(self) -> None:
        self.calls = 0

    def estimate(self, frame):
        rng = np.random.default_rng([self.seed, self.calls])
        self.calls += 1
        if self.calls % 5 == 0:
            return np.zeros((0, 17, 3), np.float32)
        h, w = frame.shape[:2]
        kp = np.stack([rng.uniform(0.2, 0.8, 17) * w, rng.uniform(0.1, 0.9, 17) * h, rng.uniform(0.3, 1, 17)], -1)
        kp[rng.random(17) < 0.15] = 0.0
        return kp[None].astype(np.float32)


def _frames(seed: int = 0, count: int = FRAMES) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, HEIGHT, WIDTH, 3), dtype=np.uint8)


def _stream(model: WindowModel, frames, **kwargs) -> StreamingRecognizer:
    recogniser = StreamingRecognizer(model, ScriptedEstimator(), fps=10.0, **kwargs)
    for frame in frames:
        recogniser.push(frame)
    recogniser.flush()
    return recogniser


def _offline_inputs(frames, size: int, indices) -> tuple[np.ndarray, np.ndarray]:
    """Square poses (N, 17, 3) and square frames (N, S, S, 3) of every frame, computed without the recogniser."""
    estimator, box = ScriptedEstimator(), Letterbox(WIDTH, HEIGHT, size)
    poses = np.stack([box.to_square(main_person(estimator(f), 17)) for f in frames])
    return poses, np.stack([box.apply(f) for f in frames])


@pytest.fixture(scope="module")
def fusion_window_model(tiny_fusion_model):
    return WindowModel.from_keras(tiny_fusion_model)


def test_windows_match_the_model_run_offline_on_the_same_window(tiny_fusion_model, fusion_window_model):
    frames = _frames()
    recogniser = _stream(fusion_window_model, frames, stride=3)
    starts = [w.start_frame for w in recogniser.windows]
    assert starts == list(range(0, FRAMES - EXPORT_T + 1, 3))
    poses, squares = _offline_inputs(frames, fusion_window_model.frame_size, fusion_window_model.frame_indices)
    indices = np.asarray(fusion_window_model.frame_indices)
    for window in recogniser.windows:
        s = window.start_frame
        offline = tiny_fusion_model.predict(
            {"pose": poses[None, s : s + EXPORT_T], "frames": squares[None, s + indices]}, verbose=0
        )["probabilities"][0]
        np.testing.assert_allclose(window.probabilities, offline, atol=1e-5)
        assert window.end_frame == s + EXPORT_T - 1 and window.start_time == pytest.approx(s / 10.0)


def test_each_frame_is_embedded_at_most_once_and_only_when_a_window_needs_it(fusion_window_model, monkeypatch):
    calls = []
    original = fusion_window_model.embed
    monkeypatch.setattr(fusion_window_model, "embed", lambda frame, pose: calls.append(1) or original(frame, pose))
    stride = 4
    recogniser = _stream(fusion_window_model, _frames(), stride=stride)
    needed = {w.start_frame + i for w in recogniser.windows for i in fusion_window_model.frame_indices}
    upcoming = {s + i for s in range(0, FRAMES, stride) for i in fusion_window_model.frame_indices if s + i < FRAMES}
    assert needed <= upcoming and len(calls) == len(upcoming) < FRAMES


def test_pose_only_stream_and_pose_classifier_match_their_servables(tiny_fusion_model, tiny_pose_classifier):
    from har_tf.export import make_servable

    frames = _frames(1)
    for keras_model in (tiny_fusion_model, tiny_pose_classifier):
        model = WindowModel.from_keras(keras_model)
        recogniser = _stream(model, frames, stride=5, use_frames=False)
        poses, _ = _offline_inputs(frames, model.frame_size, [])
        servable = make_servable(keras_model).pose_only
        starts = [w.start_frame for w in recogniser.windows]
        offline = servable.predict(np.stack([poses[s : s + EXPORT_T] for s in starts]), verbose=0)
        np.testing.assert_allclose(np.stack([w.probabilities for w in recogniser.windows]), offline, atol=1e-5)


def test_a_stream_shorter_than_a_window_gives_one_padded_window(fusion_window_model):
    recogniser = _stream(fusion_window_model, _frames(count=EXPORT_T - 3), stride=2)
    assert len(recogniser.windows) == 1
    window = recogniser.windows[0]
    assert window.padded and (window.start_frame, window.end_frame) == (0, EXPORT_T - 4)
    assert window.probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    assert window.to_dict(2)["padded"] is True and len(window.to_dict(2)["top"]) == 2


def test_smoothing_is_an_exponential_moving_average_of_the_window_probabilities(fusion_window_model):
    raw = [w.probabilities for w in _stream(fusion_window_model, _frames(), stride=3).windows]
    smooth = [w.probabilities for w in _stream(fusion_window_model, _frames(), stride=3, smoothing=0.6).windows]
    expected = raw[0]
    np.testing.assert_allclose(smooth[0], expected, atol=1e-6)
    for r, s in zip(raw[1:], smooth[1:]):
        expected = 0.6 * expected + 0.4 * r
        np.testing.assert_allclose(s, expected, atol=1e-5)


def test_embed_every_k_runs_the_backbone_on_every_kth_frame_only(fusion_window_model, monkeypatch):
    calls = []
    original = fusion_window_model.embed
    monkeypatch.setattr(fusion_window_model, "embed", lambda frame, pose: calls.append(1) or original(frame, pose))
    recogniser = _stream(fusion_window_model, _frames(), stride=1, embed_every=3)
    assert len(calls) == len(range(0, FRAMES, 3))
    assert len(recogniser.windows) == FRAMES - EXPORT_T + 1
    assert all(abs(w.probabilities.sum() - 1) < 1e-5 for w in recogniser.windows)


def test_latency_report_has_each_stage(fusion_window_model):
    recogniser = _stream(fusion_window_model, _frames(), stride=3)
    summary = recogniser.latency.summary()
    assert {"pose", "embed", "classify", "total"} <= set(summary)
    assert summary["classify"]["runs"] == len(recogniser.windows)
    assert "median" in recogniser.latency.report() and "p95" in recogniser.latency.report()


@pytest.mark.parametrize(
    "kwargs, message",
    [({"stride": 0}, "stride"), ({"smoothing": 1.0}, "smoothing"), ({"embed_every": 0}, "embed_every")],
)
def test_bad_settings_are_clear_errors(fusion_window_model, kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        StreamingRecognizer(fusion_window_model, ScriptedEstimator(), **kwargs)


def test_bad_sources_are_clear_errors(fusion_window_model, tmp_path):
    recogniser = StreamingRecognizer(fusion_window_model, ScriptedEstimator())
    with pytest.raises(MissingFileError, match="no such video"):
        recogniser.run(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(DataFormatError, match="empty"):
        recogniser.run(tmp_path / "empty.mp4")
    (tmp_path / "corrupt.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(DataFormatError, match="could not open|no decodable frames"):
        recogniser.run(tmp_path / "corrupt.mp4")
    with pytest.raises(InvalidInputError, match="uint8"):
        recogniser.push(np.zeros((HEIGHT, WIDTH, 3), np.float32))


def test_a_real_clip_through_movenet(shared_dir, fusion_window_model):
    from har_tf.inference.pose.movenet import MoveNetEstimator

    video = shared_file(shared_dir, "data/videos/ta_chi.mp4")
    estimator = MoveNetEstimator(shared_file(shared_dir, "models/movenet_singlepose_lightning_int8.tflite"), track=True)
    recogniser = StreamingRecognizer(fusion_window_model, estimator, stride=4)
    seen = []
    windows = recogniser.run(video, max_frames=40, on_frame=lambda frame, result: seen.append(result.pose))
    assert len(seen) == 40 and recogniser.fps == pytest.approx(29.97, abs=0.01)
    assert [w.start_frame for w in windows] == list(range(0, 40 - EXPORT_T + 1, 4))
    poses = np.stack(seen)
    assert (poses[..., 2].mean(axis=1) > 0.3).mean() > 0.9  # the tai chi person is found in nearly every frame
    assert ((poses[..., 0] >= 0) & (poses[..., 0] <= 340) & (poses[..., 1] >= 0) & (poses[..., 1] <= 256)).all()


def test_a_tflite_fp32_embedder_gives_the_same_windows(tiny_fusion_model, fusion_window_model):
    tflite = WindowModel.from_keras(tiny_fusion_model, embedder="tflite_fp32", num_threads=1)
    assert "tflite_fp32" in tflite.description
    exact = [w.probabilities for w in _stream(fusion_window_model, _frames(), stride=3).windows]
    converted = [w.probabilities for w in _stream(tflite, _frames(), stride=3).windows]
    np.testing.assert_allclose(np.stack(converted), np.stack(exact), atol=1e-4)
    with pytest.raises(InvalidInputError, match="embedder must be one of"):
        WindowModel.from_keras(tiny_fusion_model, embedder="onnx")


def test_windows_with_nobody_in_them_are_listed_not_classified(fusion_window_model):
    class Nobody(ScriptedEstimator):
        def estimate(self, frame):
            return np.zeros((0, 17, 3), np.float32)

    recogniser = StreamingRecognizer(fusion_window_model, Nobody(), stride=4)
    results = [recogniser.push(frame) for frame in _frames(count=16)]
    assert recogniser.windows == [] and recogniser.empty_windows == [0, 4, 8]
    assert all(r.window is None and (r.pose == 0).all() for r in results)
    assert recogniser.flush() is None


def test_memory_stays_bounded_on_a_long_stream(fusion_window_model):
    from har_tf.inference.streaming import LatencyRecorder

    recogniser = StreamingRecognizer(fusion_window_model, ScriptedEstimator(), stride=1, history=5)
    sizes = []
    for frame in _frames(count=60):
        recogniser.push(frame)
        sizes.append(len(recogniser._embeddings))
    assert len(recogniser.windows) == 5 and recogniser.windows[-1].end_frame == 59
    assert max(sizes) <= EXPORT_T and len(recogniser._poses) == EXPORT_T
    latency = LatencyRecorder(max_frames=10)
    for _ in range(25):
        latency.start_frame()
        latency.add("pose", 0.001)
    assert len(latency.frames) <= 10 and latency.dropped == 15 and latency.summary(skip=3)["pose"]["runs"] == 10


def test_each_hand_crops_stream_like_the_model_run_offline(tiny_fusion_model):
    """Two crops per frame (crop "each_hand"): the streamed embeddings (Keras and TFLite) average them as the
    model does."""
    import keras

    from har_tf.models import FrameEncoder, MultiModalFusionModel

    keras.utils.set_random_seed(2)
    old = tiny_fusion_model.frame_encoder
    encoder = FrameEncoder(
        num_frames=old.num_frames, frame_size=old.frame_size, image_size=old.image_size, crop="each_hand"
    )
    model = MultiModalFusionModel(
        tiny_fusion_model.pose_backbone,
        encoder,
        tiny_fusion_model.num_classes,
        class_names=tiny_fusion_model.class_names,
    )
    window_model = WindowModel.from_keras(model)
    frames = _frames()
    windows = _stream(window_model, frames, stride=3).windows
    poses, squares = _offline_inputs(frames, window_model.frame_size, window_model.frame_indices)
    indices = np.asarray(window_model.frame_indices)
    for window in windows:
        s = window.start_frame
        offline = model.predict(
            {"pose": poses[None, s : s + EXPORT_T], "frames": squares[None, s + indices]}, verbose=0
        )["probabilities"][0]
        np.testing.assert_allclose(window.probabilities, offline, atol=1e-5)
    tflite = WindowModel.from_keras(model, embedder="tflite_fp32", num_threads=1)
    converted = [w.probabilities for w in _stream(tflite, frames, stride=3).windows]
    np.testing.assert_allclose(np.stack(converted), np.stack([w.probabilities for w in windows]), atol=1e-4)
