"""MoveNet SinglePose on real photos and a real clip (../shared/models), and the estimator interface."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from har_tf.errors import InvalidInputError, MissingFileError
from har_tf.inference.pose import make_estimator, person_box
from har_tf.inference.pose.movenet import MoveNetEstimator
from tests.helpers import shared_file

NOSE, L_SHOULDER, R_SHOULDER, L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 0, 5, 6, 11, 12, 13, 14, 15, 16


@pytest.fixture(scope="module")
def movenet(shared_dir):
    return MoveNetEstimator(shared_file(shared_dir, "models/movenet_singlepose_lightning_int8.tflite"), num_threads=2)


def _rgb(path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("image", ["images/person.jpg", "images/astronaut.png"])
def test_one_upright_person_in_the_photo_in_its_pixels(shared_dir, movenet, image):
    frame = _rgb(shared_file(shared_dir, image))
    people = movenet(frame)
    assert people.shape == (1, 17, 3) and people.dtype == np.float32
    kp = people[0]
    h, w = frame.shape[:2]
    assert (kp[:, 0] >= 0).all() and (kp[:, 0] <= w).all() and (kp[:, 1] >= 0).all() and (kp[:, 1] <= h).all()
    assert kp[[NOSE, L_SHOULDER, R_SHOULDER], 2].mean() > 0.3
    assert kp[NOSE, 1] < kp[[L_SHOULDER, R_SHOULDER], 1].mean()  # image y grows downwards
    if image.endswith("person.jpg"):  # standing, whole body in view
        assert kp[[L_SHOULDER, R_SHOULDER], 1].mean() < kp[[L_HIP, R_HIP], 1].mean() < kp[[L_ANKLE, R_ANKLE], 1].mean()
        assert kp[[L_KNEE, R_KNEE], 1].mean() < kp[[L_ANKLE, R_ANKLE], 1].mean()


def test_letterbox_gives_the_same_person_whatever_the_frame_aspect(shared_dir, movenet):
    """The person keeps their shape: padding the photo (a wider frame) moves the joints by the padding only."""
    frame = _rgb(shared_file(shared_dir, "images/person.jpg"))
    padded = cv2.copyMakeBorder(frame, 0, 0, 100, 100, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    a, b = movenet(frame)[0], movenet(padded)[0]
    good = (a[:, 2] > 0.2) & (b[:, 2] > 0.2)
    assert good.sum() >= 12
    height = np.ptp(a[good, 1])
    assert np.abs(b[good, :2] - [100, 0] - a[good, :2]).mean() < 0.05 * height


def test_tracking_follows_the_person_through_a_real_clip(shared_dir):
    from har_tf.data.video import VideoReader

    model = shared_file(shared_dir, "models/movenet_singlepose_lightning_int8.tflite")
    video = shared_file(shared_dir, "data/videos/exercise.avi")  # three small people outdoors
    scores = {}
    for track in (False, True):
        estimator = MoveNetEstimator(model, track=track)
        people = [estimator(frame) for frame in VideoReader(video, max_frames=30)]
        assert all(p.shape in ((1, 17, 3), (0, 17, 3)) for p in people)
        scores[track] = np.mean([p[0, :, 2].mean() for p in people if len(p)])
    assert scores[True] > scores[False] + 0.1  # the crop around the person gives clearer joints


def test_nobody_and_bad_frames(movenet):
    assert movenet(np.full((240, 320, 3), 128, np.uint8)).shape == (0, 17, 3)
    with pytest.raises(InvalidInputError, match="uint8"):
        movenet(np.zeros((240, 320, 3), np.float32))
    with pytest.raises(InvalidInputError, match=r"\(H, W, 3\)"):
        movenet(np.zeros((240, 320), np.uint8))


def test_main_person_converts_the_layout(shared_dir, movenet):
    frame = _rgb(shared_file(shared_dir, "images/person.jpg"))
    body25 = movenet.main_person(frame, layout="body25")
    assert body25.shape == (25, 3)
    neck = body25[1]  # derived from the two shoulders
    kp = movenet(frame)[0]
    np.testing.assert_allclose(neck[:2], kp[[L_SHOULDER, R_SHOULDER], :2].mean(axis=0), atol=1e-4)
    assert person_box(kp) is not None and person_box(np.zeros((17, 3))) is None


def test_wrong_files_are_clear_errors(tmp_path, shared_dir):
    with pytest.raises(MissingFileError, match="no such model"):
        MoveNetEstimator(tmp_path / "missing.tflite")
    (tmp_path / "bad.tflite").write_bytes(b"not a model")
    with pytest.raises(InvalidInputError, match="not a TFLite model"):
        MoveNetEstimator(tmp_path / "bad.tflite")
    with pytest.raises(InvalidInputError, match="MoveNet needs its model"):
        make_estimator("movenet", None)
    with pytest.raises(InvalidInputError, match="unknown pose estimator"):
        make_estimator("yolo", None)
