"""The streaming recogniser with an object branch: detections per frame (a detector or the caller's),
mapped to the model's object classes, in the square and nearest the person first, give the same
probabilities as the whole model on the same windows; no detector is the pose branch's answer."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from har_tf.data.video import Letterbox
from har_tf.errors import InvalidInputError
from har_tf.inference.detection import AnnotationDetector, Detections, ObjectDetector, detections_to_objects
from har_tf.inference.pose.base import main_person
from har_tf.inference.streaming import StreamingRecognizer
from har_tf.inference.window_model import WindowModel
from tests.helpers import EXPORT_CLASSES, EXPORT_T, STREAM_FRAMES, ScriptedEstimator
from tests.helpers import STREAM_HEIGHT as HEIGHT
from tests.helpers import STREAM_WIDTH as WIDTH
from tests.helpers import sharpen as _sharpen
from tests.helpers import stream_frames as _frames

FRAMES, SIZE, K = STREAM_FRAMES, 224, 3
OBJECTS = ("none", "cup", "phone", "book")  # the model's object classes
DETECTOR_NAMES = ("none", "mobile phone", "mug", "dog", "book")  # a detector's label map
TO_MODEL = {1: 2, 2: 1, 4: 3}  # by name; the dog has no object class


def _detections(count: int = FRAMES) -> list[Detections]:
    """0 to 5 boxes a frame in the video's pixels, in the detector's labels (every fourth frame none)."""
    rng = np.random.default_rng(3)
    out = []
    for t in range(count):
        n = 0 if t % 4 == 2 else int(rng.integers(1, 6))
        x1, y1 = rng.uniform(0, WIDTH - 15, n), rng.uniform(0, HEIGHT - 15, n)
        size = rng.uniform(3, 15, (2, n))
        boxes = np.stack([x1, y1, x1 + size[0], y1 + size[1]], -1)
        out.append(Detections(boxes, rng.integers(1, 5, n), rng.uniform(0.2, 1, n), DETECTOR_NAMES))
    return out


@pytest.fixture(scope="module")
def objects_model():
    """Pose + objects, residual fusion: the micro pose backbone and the micro object encoder, T = 8, K = 3."""
    from har_tf.models import MultiModalFusionModel, PoseFormerFactorized
    from har_tf.models.object_encoder import ObjectEncoder

    keras.utils.set_random_seed(2)
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=EXPORT_T)
    encoder = ObjectEncoder.from_preset("micro", num_frames=EXPORT_T, max_objects=K, class_names=OBJECTS)
    model = MultiModalFusionModel(
        backbone, None, len(EXPORT_CLASSES), class_names=EXPORT_CLASSES, fusion="residual", object_encoder=encoder
    )
    _sharpen(model.head.get_layer("objects_correction"), 10.0)  # objects visibly change the answer
    return model


@pytest.fixture(scope="module")
def window_model(objects_model):
    return WindowModel.from_keras(objects_model)


def _offline(frames, detections, size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Square poses (N, 17, 3) and objects (N, K, 6) of every frame, computed without the recogniser."""
    estimator, box = ScriptedEstimator(), Letterbox(WIDTH, HEIGHT, size)
    poses = np.stack([box.to_square(main_person(estimator(f), 17)) for f in frames])
    (sx, sy), (ox, oy) = box.scale, box.offset
    square = [
        Detections(np.clip(d.boxes * [sx, sy, sx, sy] + [ox, oy, ox, oy], 0, size), d.classes, d.scores)
        for d in detections
    ]
    seen = poses[..., 2] > 0
    person = np.where(
        seen.any(-1)[:, None],
        np.concatenate(
            [
                np.where(seen[..., None], poses[..., :2], 1e9).min(1),
                np.where(seen[..., None], poses[..., :2], -1e9).max(1),
            ],
            -1,
        ),
        0.0,
    )
    return poses, detections_to_objects(square, K, TO_MODEL, person)


def _stream(model, frames, **kwargs) -> StreamingRecognizer:
    recogniser = StreamingRecognizer(model, ScriptedEstimator(), fps=10.0, **kwargs)
    for frame in frames:
        recogniser.push(frame)
    recogniser.flush()
    return recogniser


def test_windows_with_a_detector_match_the_whole_model_on_the_same_windows(objects_model, window_model):
    assert window_model.takes_objects and not window_model.takes_frames
    assert window_model.object_classes == OBJECTS and window_model.max_objects == K
    frames, detections = _frames(), _detections()
    recogniser = _stream(window_model, frames, stride=3, detector=AnnotationDetector(detections))
    assert [w.start_frame for w in recogniser.windows] == list(range(0, FRAMES - EXPORT_T + 1, 3))
    poses, objects = _offline(frames, detections)
    assert (objects[..., 0] == 3).any() and (objects[2, :, 0] == 0).all()  # books mapped; frame 2 has none
    starts = [w.start_frame for w in recogniser.windows]
    offline = objects_model.predict(
        {
            "pose": np.stack([poses[s : s + EXPORT_T] for s in starts]),
            "objects": np.stack([objects[s : s + EXPORT_T] for s in starts]),
        },
        verbose=0,
    )["probabilities"]
    np.testing.assert_allclose(np.stack([w.probabilities for w in recogniser.windows]), offline, atol=1e-5)
    pose_only = objects_model.pose_only_model().predict(np.stack([poses[s : s + EXPORT_T] for s in starts]), verbose=0)
    assert not np.allclose(offline, pose_only, atol=1e-3)  # the objects count
    summary = recogniser.latency.summary()
    assert summary["detector"]["runs"] == FRAMES and "embed" not in summary


def test_objects_given_per_frame_equal_the_detector_and_come_back_in_video_pixels(window_model):
    frames, detections = _frames(), _detections()
    by_detector = _stream(window_model, frames, stride=2, detector=AnnotationDetector(detections))
    recogniser = StreamingRecognizer(window_model, ScriptedEstimator(), stride=2, fps=10.0)
    results = []
    for frame, found in zip(frames, detections):  # as rows [class, x1, y1, x2, y2, score] in the model's ids
        keep = np.isin(found.classes, list(TO_MODEL))
        rows = (
            np.concatenate(
                [[[TO_MODEL[int(c)]] for c in found.classes[keep]], found.boxes[keep], found.scores[keep, None]], axis=1
            )
            if keep.any()
            else np.zeros((0, 6))
        )
        results.append(recogniser.push(frame, objects=rows))
    np.testing.assert_allclose(
        np.stack([w.probabilities for w in recogniser.windows]),
        np.stack([w.probabilities for w in by_detector.windows]),
        atol=1e-6,
    )
    # the rows the model got, back in the video's pixels: the given boxes (nearest the person first)
    for result, found in zip(results, detections):
        used = result.objects[result.objects[:, 0] >= 1]
        assert result.objects.shape == (K, 6) and len(used) == min(K, int(np.isin(found.classes, list(TO_MODEL)).sum()))
        for row in used:
            assert np.abs(found.boxes - row[1:5]).max(axis=1).min() < 1e-3


def test_without_detections_the_answer_is_the_pose_branch(objects_model, window_model):
    frames = _frames()
    poses, _ = _offline(frames, _detections())
    for kwargs in ({}, {"use_objects": False}):
        recogniser = _stream(window_model, frames, stride=4, **kwargs)
        starts = [w.start_frame for w in recogniser.windows]
        expected = objects_model.pose_only_model().predict(
            np.stack([poses[s : s + EXPORT_T] for s in starts]), verbose=0
        )
        np.testing.assert_allclose(np.stack([w.probabilities for w in recogniser.windows]), expected, atol=1e-5)
        assert "detector" not in recogniser.latency.summary()
    # an annotation detector past its last frame gives no detections; a short stream's padding has none
    short = _stream(window_model, _frames(5), detector=AnnotationDetector(_detections(3)))
    assert len(short.windows) == 1 and short.windows[0].padded


def test_max_objects_keeps_fewer_rows(window_model):
    recogniser = StreamingRecognizer(
        window_model, ScriptedEstimator(), detector=AnnotationDetector(_detections()), max_objects=1
    )
    rows = [recogniser.push(frame).objects for frame in _frames(8)]
    assert all(r.shape == (K, 6) and (r[1:] == 0).all() for r in rows) and any(r[0, 0] >= 1 for r in rows)


def test_clear_errors(window_model, tiny_pose_classifier):
    class Unlabelled(ObjectDetector):
        def detect(self, frame):
            return Detections.empty()

    pose_model = WindowModel.from_keras(tiny_pose_classifier)
    detector = AnnotationDetector(_detections())
    with pytest.raises(InvalidInputError, match="no object branch"):
        StreamingRecognizer(pose_model, ScriptedEstimator(), detector=detector)
    with pytest.raises(InvalidInputError, match="no object branch"):
        StreamingRecognizer(pose_model, ScriptedEstimator()).push(_frames(1)[0], objects=np.zeros((0, 6)))
    with pytest.raises(InvalidInputError, match="max_objects must be a whole number in 1..3"):
        StreamingRecognizer(window_model, ScriptedEstimator(), max_objects=4)
    with pytest.raises(InvalidInputError, match="label names are unknown"):
        StreamingRecognizer(window_model, ScriptedEstimator(), detector=Unlabelled())
    with pytest.raises(InvalidInputError, match="none of the detector's 2 classes matches"):
        StreamingRecognizer(window_model, ScriptedEstimator(), detector=AnnotationDetector([], ("none", "dog", "cat")))
    recogniser = StreamingRecognizer(window_model, ScriptedEstimator())
    with pytest.raises(InvalidInputError, match="rows \\(N, 6\\)"):
        recogniser.push(_frames(1)[0], objects=np.zeros((2, 5)))
    with pytest.raises(InvalidInputError, match="class ids must be whole numbers in \\[0, 4\\)"):
        recogniser.push(_frames(1)[0], objects=np.array([[7, 1, 1, 5, 5, 0.9]]))
    with pytest.raises(InvalidInputError, match="T = 3 frames but the poses have T = 8"):
        window_model.classify(np.zeros((EXPORT_T, 17, 3)), None, np.zeros((3, K, 6)))
    with pytest.raises(InvalidInputError, match="takes no objects"):
        pose_model.classify(np.zeros((EXPORT_T, 17, 3)), None, np.zeros((EXPORT_T, K, 6)))


def test_pose_image_and_objects_model_matches_the_whole_model():
    from har_tf.models import FrameEncoder, MultiModalFusionModel, PoseFormerFactorized
    from har_tf.models.object_encoder import ObjectEncoder

    keras.utils.set_random_seed(3)
    size, count = 48, 14
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=EXPORT_T)
    model = MultiModalFusionModel(
        backbone,
        FrameEncoder(num_frames=3, frame_size=size, image_size=size, crop="hands"),
        len(EXPORT_CLASSES),
        class_names=EXPORT_CLASSES,
        fusion="residual",
        object_encoder=ObjectEncoder.from_preset("micro", num_frames=EXPORT_T, max_objects=K, class_names=OBJECTS),
    )
    windows = WindowModel.from_keras(model)
    assert windows.takes_frames and windows.takes_objects and "objects" in windows.description
    frames, detections = _frames(count), _detections(count)
    poses, objects = _offline(frames, detections, size)
    squares = np.stack([Letterbox(WIDTH, HEIGHT, size).apply(f) for f in frames])
    indices = np.asarray(windows.frame_indices)
    for use_frames in (True, False):  # without frames: the objects still count (residual), the image adds nothing
        recogniser = _stream(windows, frames, stride=3, detector=AnnotationDetector(detections), use_frames=use_frames)
        starts = [w.start_frame for w in recogniser.windows]
        shown = np.stack([squares[s + indices] for s in starts])
        expected = model.predict(
            {
                "pose": np.stack([poses[s : s + EXPORT_T] for s in starts]),
                "frames": shown if use_frames else np.zeros_like(shown),
                "objects": np.stack([objects[s : s + EXPORT_T] for s in starts]),
            },
            verbose=0,
        )["probabilities"]
        np.testing.assert_allclose(np.stack([w.probabilities for w in recogniser.windows]), expected, atol=1e-5)
