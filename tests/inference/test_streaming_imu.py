"""The streaming recogniser with an inertial branch: sensor samples pushed with the frames, at the sensor's
own rate and time stamps, resampled over each window, give the same probabilities as the whole model
on the same windows; no sensor (no samples, a gap, ``use_imu=False``) is the answer without the branch."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from har_tf.data.video import Letterbox
from har_tf.errors import InvalidInputError
from har_tf.inference.imu_buffer import resample_window
from har_tf.inference.pose.base import main_person
from har_tf.inference.streaming import StreamingRecognizer
from har_tf.inference.window_model import WindowModel
from tests.helpers import EXPORT_CLASSES, EXPORT_T, ScriptedEstimator
from tests.helpers import STREAM_HEIGHT as HEIGHT
from tests.helpers import STREAM_WIDTH as WIDTH
from tests.helpers import sharpen as _sharpen
from tests.helpers import stream_frames as _frames

FPS, S, D, COUNT = 10.0, 16, 6, 21


def sensor(rate: float, start: float = -0.3, stop: float = COUNT / FPS, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A wrist sensor's samples (times (N,), values (N, 6): acceleration in g, angular velocity in deg/s)
    at ``rate`` Hz on its own clock phase, with noise."""
    rng = np.random.default_rng(seed)
    times = np.arange(start + 0.0037, stop, 1.0 / rate)
    phases, freqs = rng.uniform(0, 2 * np.pi, D), rng.uniform(0.3, 2.0, D)
    scales = np.array([0.8, 0.8, 0.8, 120, 120, 120])
    values = scales * np.sin(2 * np.pi * freqs * times[:, None] + phases) + np.array([0, 0, 1, 0, 0, 0])
    return times, (values + rng.normal(0, 0.02, values.shape) * scales).astype(np.float32)


@pytest.fixture(scope="module")
def imu_model():
    """Pose + imu, residual fusion: the micro pose backbone and the micro inertial encoder, T = 8, S = 16."""
    from har_tf.models import MultiModalFusionModel, PoseFormerFactorized
    from har_tf.models.inertial_encoder import InertialEncoder

    keras.utils.set_random_seed(6)
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=EXPORT_T)
    encoder = InertialEncoder.from_preset("micro", S, D)
    encoder.adapt(np.stack([resample_window(*sensor(100.0, seed=i), 0, 2, S) for i in range(8)]))
    model = MultiModalFusionModel(
        backbone, None, len(EXPORT_CLASSES), class_names=EXPORT_CLASSES, fusion="residual", inertial_encoder=encoder
    )
    _sharpen(model.head.get_layer("imu_correction"), 10.0)  # the sensor visibly changes the answer
    return model


@pytest.fixture(scope="module")
def window_model(imu_model):
    return WindowModel.from_keras(imu_model)


def _poses(frames) -> np.ndarray:
    estimator, box = ScriptedEstimator(), Letterbox(WIDTH, HEIGHT, 224)
    return np.stack([box.to_square(main_person(estimator(f), 17)) for f in frames])


def _stream(model, frames, samples=None, frame_times=None, **kwargs) -> StreamingRecognizer:
    """Push every frame with the samples taken since the previous one (up to the frame's time)."""
    recogniser = StreamingRecognizer(model, ScriptedEstimator(), fps=FPS, **kwargs)
    frame_times = np.arange(len(frames)) / FPS if frame_times is None else frame_times
    for n, frame in enumerate(frames):
        imu = None
        if samples is not None:
            times, values = samples
            since = (times > (frame_times[n - 1] if n else -np.inf)) & (times <= frame_times[n])
            imu = np.concatenate([times[since, None], values[since]], 1) if since.any() else None
        recogniser.push(frame, imu=imu, **({"timestamp": frame_times[n]} if "timestamp" in kwargs else {}))
    recogniser.flush()
    return recogniser


def _offline(model, poses, samples, starts, frame_times=None, pose_only: bool = False) -> np.ndarray:
    """The whole model on the same windows: T poses and the samples resampled from frame s to s + T - 1."""
    frame_times = np.arange(len(poses)) / FPS if frame_times is None else frame_times
    window = np.stack([poses[s : s + EXPORT_T] for s in starts])
    if pose_only:
        return model.pose_only_model().predict(window, verbose=0)
    imu = np.stack([resample_window(*samples, frame_times[s], frame_times[s + EXPORT_T - 1], S) for s in starts])
    return model.predict_proba(window, imu=imu)


@pytest.mark.parametrize("rate", [50.0, 200.0])
def test_windows_with_a_sensor_match_the_whole_model_on_the_same_windows(imu_model, window_model, rate):
    assert window_model.takes_imu and window_model.imu_shape == (S, D) and not window_model.takes_objects
    assert "imu" in window_model.description
    frames, samples = _frames(), sensor(rate)
    recogniser = _stream(window_model, frames, samples, stride=3)
    starts = [w.start_frame for w in recogniser.windows]
    assert starts == list(range(0, COUNT - EXPORT_T + 1, 3))
    streamed = np.stack([w.probabilities for w in recogniser.windows])
    offline = _offline(imu_model, _poses(frames), samples, starts)
    np.testing.assert_allclose(streamed, offline, atol=1e-5)
    pose_only = _offline(imu_model, _poses(frames), samples, starts, pose_only=True)
    assert np.abs(offline - pose_only).max() > 0.05  # the sensor counts


def test_frame_time_stamps_and_sensor_samples_on_one_clock(imu_model, window_model):
    """Frames at irregular times (a live camera), samples given as (timestamps, values) at 100 Hz."""
    frames = _frames()
    frame_times = 5.0 + np.cumsum(np.random.default_rng(1).uniform(0.08, 0.12, COUNT))
    times, values = sensor(100.0, start=4.5, stop=frame_times[-1] + 0.01)
    recogniser = StreamingRecognizer(window_model, ScriptedEstimator(), fps=FPS, stride=4)
    for n, frame in enumerate(frames):
        since = (times > (frame_times[n - 1] if n else -np.inf)) & (times <= frame_times[n])
        recogniser.push(frame, imu=(times[since], values[since]), timestamp=frame_times[n])
    starts = [w.start_frame for w in recogniser.windows]
    np.testing.assert_allclose(
        np.stack([w.probabilities for w in recogniser.windows]),
        _offline(imu_model, _poses(frames), (times, values), starts, frame_times),
        atol=1e-5,
    )
    assert recogniser.windows[0].start_time == pytest.approx(frame_times[0])


def test_no_sensor_is_the_answer_without_the_branch(imu_model, window_model):
    frames = _frames()
    poses = _poses(frames)
    for kwargs in ({}, {"use_imu": False}):  # no samples pushed; the branch left out
        recogniser = _stream(window_model, frames, sensor(100.0) if kwargs else None, stride=4, **kwargs)
        starts = [w.start_frame for w in recogniser.windows]
        np.testing.assert_allclose(
            np.stack([w.probabilities for w in recogniser.windows]),
            _offline(imu_model, poses, None, starts, pose_only=True),
            atol=1e-5,
        )
    # the sensor stops after 1.05 s: later windows have no samples, one straddles the gap (missing samples)
    times, values = sensor(100.0, stop=1.05)
    recogniser = _stream(window_model, frames, (times, values), stride=1)
    starts = [w.start_frame for w in recogniser.windows]
    streamed = np.stack([w.probabilities for w in recogniser.windows])
    np.testing.assert_allclose(streamed, _offline(imu_model, poses, (times, values), starts), atol=1e-5)
    late = [i for i, s in enumerate(starts) if s / FPS > 1.05 + 0.125]
    assert late and np.allclose(
        streamed[late], _offline(imu_model, poses, None, [starts[i] for i in late], pose_only=True), atol=1e-5
    )
    # a stream shorter than T: one padded window, its sensor span one period per missing frame
    short = _stream(window_model, frames[:5], sensor(100.0), stride=2)
    assert len(short.windows) == 1 and short.windows[0].padded


def test_clear_errors(window_model, tiny_pose_classifier):
    pose_model = WindowModel.from_keras(tiny_pose_classifier)
    frame = _frames(1)[0]
    with pytest.raises(InvalidInputError, match=r"no inertial branch \(a pose-only model\): push\(\) takes no imu"):
        StreamingRecognizer(pose_model, ScriptedEstimator()).push(frame, imu=np.zeros((2, 7)))
    recogniser = StreamingRecognizer(window_model, ScriptedEstimator(), fps=FPS)
    times, values = sensor(100.0, start=0.0, stop=0.1)
    rows = np.concatenate([times[:, None], values], 1)
    with pytest.raises(InvalidInputError, match="have D = 3 channels .* but the model takes D = 6"):
        recogniser.push(frame, imu=rows[:, :4])
    bad = rows.copy()
    bad[2, 3] = np.nan
    with pytest.raises(InvalidInputError, match=r"NaN or infinite values \(first at sample 2, channel 2\)"):
        recogniser.push(frame, imu=bad)
    recogniser.push(frame, imu=rows)
    with pytest.raises(InvalidInputError, match="imu time stamps must increase"):
        recogniser.push(frame, imu=rows[-3:])
    with pytest.raises(InvalidInputError, match="frame timestamps must increase: frame 2 at 0.05 s"):
        recogniser.push(frame, timestamp=0.5)
        recogniser.push(frame, timestamp=0.05)
    with pytest.raises(InvalidInputError, match=r"samples come every 0.5 s \(2 Hz\), further apart than max_gap_s"):
        StreamingRecognizer(window_model, ScriptedEstimator()).push(
            frame, imu=np.concatenate([np.arange(0, 6, 0.5)[:, None], np.ones((12, D))], 1)
        )
    pose = np.zeros((EXPORT_T, 17, 3))
    with pytest.raises(InvalidInputError, match="S = 12 samples per clip but the model takes S = 16"):
        window_model.classify(pose, None, imu=np.zeros((12, D)))
    with pytest.raises(InvalidInputError, match="no inertial branch: it takes no imu"):
        pose_model.classify(pose, None, imu=np.zeros((S, D)))
    with pytest.raises(InvalidInputError, match="capacity must be a whole number"):
        StreamingRecognizer(window_model, ScriptedEstimator(), imu_capacity=0)


def test_an_export_streams_the_same_windows(imu_model, window_model, tmp_path):
    """Through HARPredictor (the path of SavedModel and TFLite exports): the same answers as the split model."""
    from har_tf.inference import HARPredictor

    imu_model.save(tmp_path / "model.keras")
    exported = WindowModel.from_predictor(HARPredictor.load(tmp_path / "model.keras", device="cpu"))
    assert exported.takes_imu and exported.imu_shape == (S, D)
    frames, samples = _frames(12), sensor(100.0)
    by_export = _stream(exported, frames, samples, stride=2)
    by_split = _stream(window_model, frames, samples, stride=2)
    np.testing.assert_allclose(
        np.stack([w.probabilities for w in by_export.windows]),
        np.stack([w.probabilities for w in by_split.windows]),
        atol=1e-5,
    )


def test_a_video_file_with_a_sensor_recording(window_model, tmp_path):
    """``frames(video, imu=rows)``: each frame gets the recording's samples up to its time (index / fps), as
    pushing them by hand does (what scripts/predict_video.py --imu runs)."""
    import cv2

    from har_tf.inference.imu_buffer import read_imu_csv

    frames = _frames(12)
    writer = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (WIDTH, HEIGHT))
    for frame in frames:
        writer.write(frame[..., ::-1])
    writer.release()
    times, values = sensor(100.0)
    header = "t," + ",".join(f"ch{i}" for i in range(D))
    np.savetxt(
        tmp_path / "imu.csv", np.concatenate([times[:, None], values], 1), delimiter=",", header=header, comments=""
    )
    rows = read_imu_csv(tmp_path / "imu.csv", D)
    np.testing.assert_allclose(rows[:, 1:], values, atol=1e-5)
    recogniser = StreamingRecognizer(window_model, ScriptedEstimator(), stride=2)
    windows = recogniser.run(tmp_path / "clip.avi", imu=rows)
    by_hand = _stream(window_model, frames, (rows[:, 0], rows[:, 1:].astype(np.float32)), stride=2)
    assert recogniser.fps == pytest.approx(FPS) and len(windows) == len(by_hand.windows) == 3
    np.testing.assert_allclose(
        np.stack([w.probabilities for w in windows]), np.stack([w.probabilities for w in by_hand.windows]), atol=1e-5
    )
