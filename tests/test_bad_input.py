"""The bad-input table: what a user sees for each mistake. Every row raises a project error
(``HARError``) whose message says what was expected and what came, never a raw TensorFlow trace; the
rows marked "accepted" are documented behaviours, not errors. ``docs/errors.md`` lists the messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

from har_tf.errors import DataFormatError, HARError, InvalidInputError, MissingFileError
from har_tf.inference.imu_buffer import IMUBuffer, resample_clip
from tests.helpers import EXPORT_CLASSES, EXPORT_F, EXPORT_SIZE, EXPORT_T, export_inputs


@pytest.fixture(scope="module")
def files(tiny_pose_classifier, tiny_fusion_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_input")
    tiny_pose_classifier.save(folder / "pose_model.keras")
    tiny_fusion_model.save(folder / "fusion_model.keras")
    return folder


@pytest.fixture(scope="module")
def predictor(files):
    from har_tf.inference import HARPredictor

    return HARPredictor.load(files / "fusion_model.keras")


def _pose(n: int = 2) -> np.ndarray:
    return export_inputs(n=n, seed=3)["pose"]


def _frames(n: int = 2) -> np.ndarray:
    return export_inputs(n=n, seed=3)["frames"]


def _with(pose: np.ndarray, index, value) -> np.ndarray:
    pose = pose.copy()
    pose[index] = value
    return pose


# --- poses and frames handed to a model --------------------------------------------------------------
PREDICTION_CASES = {
    "pose of the wrong rank": (lambda: _pose()[0, 0], InvalidInputError, "must be (N, T, J, C) or one clip"),
    "T that does not match the model": (
        lambda: _pose()[:, :5],
        InvalidInputError,
        "T = 5 frames but the model takes T = 8",
    ),
    "J that does not match the model": (
        lambda: np.zeros((2, EXPORT_T, 25, 3)) + 1,
        InvalidInputError,
        "J = 25 joints but the model takes J = 17",
    ),
    "C not 2 or 3": (lambda: np.ones((2, EXPORT_T, 17, 4)), InvalidInputError, "C = 2 (x, y) or 3"),
    "C = 2 for a C = 3 model": (
        lambda: _pose()[..., :2],
        InvalidInputError,
        "C = 2 channels but the model takes C = 3",
    ),
    "Inf keypoints": (
        lambda: _with(_pose(), (1, 2, 3, 0), np.inf),
        InvalidInputError,
        "infinite values (first at clip 1, frame 2, joint 3)",
    ),
    "every joint missing": (
        lambda: _with(_pose(), (0, ..., 2), 0.0),
        InvalidInputError,
        "clip 0 of pose has every joint missing",
    ),
    "confidences outside [0, 1]": (
        lambda: _with(_pose(), (0, 0, 0, 2), 1.7),
        InvalidInputError,
        "confidences must lie in [0, 1] (0 = missing joint), got 1.7",
    ),
    "wrong dtype (strings)": (lambda: np.full((2, EXPORT_T, 17, 3), "a"), InvalidInputError, "must hold numbers"),
    "ragged nested lists": (lambda: [[[[1, 2, 3]]], [[[1, 2]]]], InvalidInputError, "rectangular array"),
    "empty batch": (lambda: np.zeros((0, EXPORT_T, 17, 3)), InvalidInputError, "empty batch (0 clips)"),
}


@pytest.mark.parametrize("case", sorted(PREDICTION_CASES))
def test_bad_poses(predictor, case):
    make, error, message = PREDICTION_CASES[case]
    with pytest.raises(error) as caught:
        predictor.predict_proba(make())
    assert message in str(caught.value)


def test_accepted_nan_marks_a_missing_joint(predictor):
    pose = _with(_pose(), (0, slice(None), 4), np.nan)  # joint 4 missing in every frame of clip 0
    probabilities = predictor.predict_proba(pose)
    assert probabilities.shape == (2, len(EXPORT_CLASSES)) and np.isfinite(probabilities).all()
    assert np.allclose(
        probabilities[0], predictor.predict_proba(_with(_pose(), (0, slice(None), 4), 0.0))[0], atol=1e-6
    )


FRAME_CASES = {
    "frames of the wrong size": (
        lambda: _frames()[:, :, :40],
        f"frames must be uint8 (N, {EXPORT_F}, {EXPORT_SIZE}, {EXPORT_SIZE}, 3) with N = 2",
    ),
    "frames with 4 channels": (lambda: np.concatenate([_frames(), _frames()[..., :1]], axis=-1), "(3 channels: RGB)"),
    "frames for another number of clips": (lambda: _frames(3), "with N = 2"),
    "frames outside [0, 255]": (lambda: _frames().astype(np.int32) + 300, "pixels in [0, 255]"),
}


@pytest.mark.parametrize("case", sorted(FRAME_CASES))
def test_bad_frames(predictor, case):
    make, message = FRAME_CASES[case]
    with pytest.raises(InvalidInputError) as caught:
        predictor.predict_proba(_pose(), make())
    assert message in str(caught.value)


def test_frames_for_a_pose_only_model(files):
    from har_tf.inference import HARPredictor

    with pytest.raises(InvalidInputError, match="pose-only model: it takes no frames"):
        HARPredictor.load(files / "pose_model.keras").predict_proba(_pose(), _frames())


# --- wearable-sensor samples (imu) handed to a model with an inertial branch, or to a stream --------------
IMU_S, IMU_D = 16, 6


@pytest.fixture(scope="module")
def imu_predictor(tmp_path_factory):
    """A pose + imu fusion model (micro presets, S = 16 samples of 6 channels) behind HARPredictor."""
    import keras

    from har_tf.inference import HARPredictor
    from har_tf.models import MultiModalFusionModel, PoseFormerFactorized
    from har_tf.models.inertial_encoder import InertialEncoder

    keras.utils.set_random_seed(7)
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=EXPORT_T)
    model = MultiModalFusionModel(
        backbone,
        None,
        len(EXPORT_CLASSES),
        class_names=EXPORT_CLASSES,
        fusion="residual",
        inertial_encoder=InertialEncoder.from_preset("micro", IMU_S, IMU_D),
    )
    path = tmp_path_factory.mktemp("bad_imu") / "imu_model.keras"
    model.save(path)
    return HARPredictor.load(path, device="cpu")


def _imu(n: int = 2) -> np.ndarray:
    return np.random.default_rng(3).normal(0, 1, (n, IMU_S, IMU_D)).astype(np.float32)


IMU_CASES = {
    "imu with the wrong channel count": (lambda: _imu()[..., :3], "imu has D = 3 channels but the model takes D = 6"),
    "imu with another number of samples": (
        lambda: _imu()[:, :10],
        "imu has S = 10 samples per clip but the model takes S = 16",
    ),
    "imu for another number of clips": (lambda: _imu(3), "imu has 3 clips but the poses have 2"),
    "imu of the wrong rank": (lambda: _imu()[0, 0], "imu must be (N, S, D)"),
    "infinite imu values": (
        lambda: _with(_imu(), (1, 4, 2), np.inf),
        "imu holds infinite values (first at clip 1, sample 4, channel 2)",
    ),
    "imu as strings": (lambda: np.full((2, IMU_S, IMU_D), "a"), "imu must hold float sensor samples"),
}


@pytest.mark.parametrize("case", sorted(IMU_CASES))
def test_bad_imu(imu_predictor, case):
    make, message = IMU_CASES[case]
    with pytest.raises(InvalidInputError) as caught:
        imu_predictor.predict_proba(_pose(), imu=make())
    assert message in str(caught.value)


def test_imu_for_a_model_without_an_inertial_branch(predictor):
    with pytest.raises(
        InvalidInputError, match=r"this model \(pose \+ image\) has no inertial branch: it takes no imu"
    ):
        predictor.predict_proba(_pose(), imu=_imu())


def test_accepted_nan_marks_a_missing_sensor_sample(imu_predictor):
    missing = _with(_imu(), (0, slice(3, 7)), np.nan)  # samples 3-6 of clip 0 missing
    probabilities = imu_predictor.predict_proba(_pose(), imu=missing)
    assert np.isfinite(probabilities).all()
    np.testing.assert_allclose(
        probabilities, imu_predictor.predict_proba(_pose(), imu=np.nan_to_num(missing, nan=0.0)), atol=1e-6
    )


STREAM_IMU_CASES = {  # raw time-stamped samples pushed to a stream's sensor buffer: rows [t, 6 values]
    "sensor samples with the wrong channel count": (
        lambda buffer: buffer.push(np.ones((4, 5)) * np.arange(4)[:, None]),
        "have D = 4 channels",
    ),
    "NaN sensor samples": (
        lambda buffer: buffer.push(_with(np.ones((4, 7)) * np.arange(4)[:, None], (2, 3), np.nan)),
        "NaN or infinite values (first at sample 2, channel 2)",
    ),
    "time stamps that go back": (
        lambda buffer: buffer.push(np.ones((4, 7)) * np.array([[0], [1], [3], [2]])),
        "time stamps must increase, but sample 3 at 2 s does not come after sample 2",
    ),
    "a sensor too slow to resample": (
        lambda buffer: buffer.push(np.ones((12, 7)) * np.arange(12)[:, None]),
        "samples come every 1 s (1 Hz), further apart than max_gap_s",
    ),
    "a rate that is not a rate": (
        lambda buffer: resample_clip(np.ones((20, 6)), -50, IMU_S),
        "rate must be a positive number of samples per second (Hz), got -50",
    ),
}


@pytest.mark.parametrize("case", sorted(STREAM_IMU_CASES))
def test_bad_sensor_streams(case):
    make, message = STREAM_IMU_CASES[case]
    with pytest.raises(InvalidInputError) as caught:
        make(IMUBuffer(IMU_D))
    assert message in str(caught.value)


# --- training data and models --------------------------------------------------------------------------
def test_label_out_of_range():
    from har_tf.data.pose_npz import PoseDataset

    with pytest.raises(DataFormatError, match=r"labels in \[0, 7\] but there are 4 classes"):
        PoseDataset(_pose(), [0, 7], EXPORT_CLASSES, "coco17")


def test_stage_two_data_with_other_class_names(tiny_pose_classifier):
    from har_tf.data.pose_npz import PoseDataset
    from har_tf.training.stage1 import check_model_matches

    data = PoseDataset(_pose(), [0, 1], ("sit", "stand", "run", "jump"), "coco17")
    with pytest.raises(InvalidInputError, match=r"the model's classes \['walk', 'fall', 'drink', 'wave'\] differ"):
        check_model_matches(tiny_pose_classifier, data)


def test_stage_one_model_of_another_joint_layout(tiny_pose_classifier):
    from har_tf.data.pose_npz import PoseDataset
    from har_tf.training.stage1 import check_model_matches

    body25 = PoseDataset(np.ones((2, EXPORT_T, 25, 3), np.float32), [0, 1], EXPORT_CLASSES, "body25")
    with pytest.raises(InvalidInputError, match=r"J=17 joints and C=3 channels, but the data has J=25 \(body25\)"):
        check_model_matches(tiny_pose_classifier, body25)


def test_stage_one_model_of_another_layout_with_the_same_joint_count():
    from har_tf.data.pose_npz import PoseDataset
    from har_tf.models import PoseClassifier, PoseFormerFactorized
    from har_tf.training.stage1 import check_model_matches

    body25 = PoseClassifier(PoseFormerFactorized.from_preset("micro", "body25", num_frames=EXPORT_T), 2, ["a", "b"])
    body25b = PoseDataset(np.ones((2, EXPORT_T, 25, 3), np.float32), [0, 1], ["a", "b"], "body25b")
    with pytest.raises(InvalidInputError, match="joint layout 'body25' but the data's is 'body25b'"):
        check_model_matches(body25, body25b)


def test_a_keras_file_that_is_not_a_model(tmp_path):
    from har_tf.models.saving import load_keras_model

    (tmp_path / "model.keras").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataFormatError, match="is not a readable Keras model"):
        load_keras_model(tmp_path / "model.keras")


def test_npz_with_missing_arrays_or_pickles(tmp_path):
    from har_tf.data.pose_npz import load_pose_npz

    np.savez(tmp_path / "no_labels.npz", x_train=_pose())
    with pytest.raises(DataFormatError, match="needs arrays 'x_train' and 'y_train'; found \\['x_train'\\]"):
        load_pose_npz(tmp_path / "no_labels.npz")
    np.savez(tmp_path / "pickle.npz", x_train=np.array([{"a": 1}], dtype=object), y_train=np.array([0]))
    with pytest.raises(DataFormatError, match="object array \\(a pickle\\), which is refused"):
        load_pose_npz(tmp_path / "pickle.npz")


def test_malformed_openpose_json(tmp_path):
    from har_tf.data.openpose import read_openpose_dir

    (tmp_path / "frame_000000000000_keypoints.json").write_text('{"people": [{"pose_keypoints_2d": [1, 2')
    with pytest.raises(DataFormatError, match="frame_000000000000_keypoints.json"):
        read_openpose_dir(tmp_path)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"epochz": 3}, "unknown TrainConfig settings ['epochz']"),
        ({"epochs": "ten"}, "epochs must be a positive integer or auto, got 'ten'"),
        ({"learning_rate": "fast"}, "learning_rate must be a number in (0, 1), got 'fast'"),
    ],
)
def test_config_file_with_unknown_keys_or_wrong_types(tmp_path, settings, message):
    from har_tf.training.config import load_train_config

    path = tmp_path / "config.json"
    path.write_text(json.dumps(settings))
    with pytest.raises(InvalidInputError) as caught:
        load_train_config(path)
    assert message in str(caught.value)


# --- videos -------------------------------------------------------------------------------------------
def test_video_files(tmp_path, shared_dir):
    import cv2

    from har_tf.data.video import VideoReader
    from tests.helpers import shared_file

    with pytest.raises(MissingFileError, match="no such video file"):
        VideoReader(tmp_path / "missing.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(DataFormatError, match="the video file is empty"):
        VideoReader(tmp_path / "empty.mp4")
    (tmp_path / "notes.avi").write_text("not a video\n" * 100)
    with pytest.raises(DataFormatError, match="not a readable video|no decodable frames"):
        VideoReader(tmp_path / "notes.avi")
    writer = cv2.VideoWriter(str(tmp_path / "zero.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    writer.release()  # a container with no frame in it
    with pytest.raises(DataFormatError, match="not a readable video|no decodable frames"):
        VideoReader(tmp_path / "zero.avi")
    data = shared_file(shared_dir, "data/videos/exercise.avi").read_bytes()
    (tmp_path / "truncated.avi").write_bytes(data[: len(data) // 4])
    with VideoReader(tmp_path / "truncated.avi") as reader:  # accepted: the frames it has
        assert 0 < sum(1 for _ in reader) < 393


def test_every_error_is_a_project_error():
    for error in (InvalidInputError, DataFormatError, MissingFileError):
        assert issubclass(error, HARError)
