"""The bad-input table for the doors poses and frames come in by: datasets read for training and
evaluation, the predictor, the TF Serving client (request bodies, no server), the streaming recogniser
and the video reader. One row per mistake: what is handed in -> the project error -> a fragment of its
one-line message. The same kind of bad value gets the same message at every door
(:mod:`har_tf.data.checks` has the rule for each). Rows marked "accepted" are documented behaviours."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from har_tf.data.checks import MAX_COORDINATE
from har_tf.data.pipeline import make_pose_dataset
from har_tf.data.pose_npz import PoseDataset, load_pose_npz
from har_tf.data.video import VideoReader
from har_tf.errors import DataFormatError, HARError, InvalidInputError
from har_tf.export.servable import ServingSpec
from har_tf.inference.pose.base import PoseEstimator
from har_tf.inference.serving_client import ServingClient
from tests.helpers import EXPORT_CLASSES, EXPORT_F, EXPORT_SIZE, EXPORT_T, export_inputs

CLASSES = ("walk", "fall", "drink", "wave")


def _pose(n: int = 2) -> np.ndarray:
    return export_inputs(n=n, seed=5, frames=False)["pose"]


def _frames(n: int = 2) -> np.ndarray:
    return export_inputs(n=n, seed=5)["frames"]


def _with(array: np.ndarray, index, value) -> np.ndarray:
    array = array.copy()
    array[index] = value
    return array


def _labels(n: int = 2) -> np.ndarray:
    return np.arange(n) % len(CLASSES)


# --- datasets read for training and evaluation -----------------------------------------------------------
def _dataset(x=None, y=None, classes=CLASSES, **splits) -> PoseDataset:
    x = _pose(4) if x is None else x
    return PoseDataset(x, _labels(len(x)) if y is None else y, classes, "coco17", **splits)


def _test_split(x) -> PoseDataset:
    return _dataset(x_test=x, y_test=_labels(len(x)))


DATASET_CASES = {
    "+Inf in x_train": (
        lambda: _dataset(_with(_pose(4), (1, 2, 3, 0), np.inf)),
        "x_train holds infinite values (first at clip 1, frame 2, joint 3)",
    ),
    "-Inf in x_test": (
        lambda: _test_split(_with(_pose(2), (0, 0, 5, 1), -np.inf)),
        "x_test holds infinite values (first at clip 0, frame 0, joint 5)",
    ),
    "an all-NaN x_train": (
        lambda: _dataset(np.full((4, EXPORT_T, 17, 3), np.nan, np.float32)),
        "x_train has every joint missing in every clip (confidence 0, all zeros or NaN",
    ),
    "an all-NaN test split (evaluation)": (
        lambda: _test_split(np.full((3, EXPORT_T, 17, 3), np.nan, np.float32)),
        "x_test has every joint missing in every clip",
    ),
    "an all-zero x_train": (
        lambda: _dataset(np.zeros((4, EXPORT_T, 17, 3), np.float32)),
        "nothing to learn from or evaluate on",
    ),
    "confidences of 5.0": (
        lambda: _dataset(_with(_pose(4), (2, 1, 0, 2), 5.0)),
        "x_train confidences must lie in [0, 1] (0 = missing joint), got 5 at clip 2, frame 1, joint 0",
    ),
    "negative confidences": (
        lambda: _dataset(_with(_pose(4), (0, 0, 0, 2), -0.5)),
        "x_train confidences must lie in [0, 1] (0 = missing joint), got -0.5",
    ),
    "bool poses": (
        lambda: _dataset(np.ones((4, EXPORT_T, 17, 3), bool)),
        "x_train must hold numbers (float32 pixels), got dtype bool",
    ),
    "coordinates of 1e25": (
        lambda: _dataset(_with(_pose(4), (0, 3, 1, 0), 1e25)),
        "x_train holds coordinates too large to normalise (1e+25 at clip 0, frame 3, joint 1): "
        "coordinates must lie within +-1e+06",
    ),
    "coordinates of -1e7 in x_val": (
        lambda: _dataset(x_val=_with(_pose(2), (1, 0, 0, 1), -1e7), y_val=[0, 1]),
        "x_val holds coordinates too large to normalise (-1e+07 at clip 1",
    ),
    "duplicate class names": (
        lambda: _dataset(classes=("walk", "fall", "walk", "wave")),
        "class_names must be distinct, but 'walk' is class 0 and class 2",
    ),
    "an empty class name": (
        lambda: _dataset(classes=("walk", " ", "drink", "wave")),
        "class name 1 is empty: every class needs a name",
    ),
    "class names as one string": (lambda: _dataset(classes="walk"), "class_names must be a list of names"),
    "labels out of range": (lambda: _dataset(y=[0, 1, 2, 9]), "y_train has labels in [0, 9] but there are 4 classes"),
    "negative labels": (lambda: _dataset(y=[0, -1, 2, 3]), "y_train has labels in [-1, 3] but there are 4 classes"),
    "fractional labels": (lambda: _dataset(y=[0, 1.5, 2, 3]), "y_train must hold integer class indices"),
    "bool labels": (
        lambda: _dataset(y=np.array([True, False, True, False])),
        "y_train must hold integer class indices",
    ),
}


@pytest.mark.parametrize("case", sorted(DATASET_CASES))
def test_bad_training_data(case):
    make, message = DATASET_CASES[case]
    with pytest.raises(DataFormatError) as caught:
        make()
    assert message in str(caught.value)


FILE_CASES = {  # the arrays of a pose dataset NPZ, as scripts/train.py --data and evaluate.py read it
    "+Inf in the file": ({"x_train": _with(_pose(4), (3, 0, 0, 0), np.inf)}, "x_train holds infinite values"),
    "an all-NaN test split in the file": (
        {"x_test": np.full((2, EXPORT_T, 17, 3), np.nan, np.float32), "y_test": np.array([0, 1])},
        "x_test has every joint missing in every clip",
    ),
    "repeated class names in the file": (
        {"class_names": np.array(["a", "b", "a", "c"])},
        "class_names must be distinct, but 'a' is class 0 and class 2",
    ),
    "3D poses saved without channels": (
        {"x_train": _with(_pose(4), (..., 2), 2.5)},
        "got 2.5 at clip 0, frame 0, joint 0; if the third value is z (3D poses), give channels 'xyz'",
    ),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_bad_dataset_files(tmp_path, case):
    arrays, message = FILE_CASES[case]
    path = tmp_path / "data.npz"
    np.savez(path, **{"x_train": _pose(4), "y_train": _labels(4), **arrays})
    with pytest.raises(DataFormatError) as caught:
        load_pose_npz(path)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)


def test_arrays_handed_to_the_input_pipeline_follow_the_same_rules():
    with pytest.raises(InvalidInputError, match=r"x confidences must lie in \[0, 1\] \(0 = missing joint\), got 7"):
        make_pose_dataset(_with(_pose(4), (0, 0, 0, 2), 7.0), _labels(4), "coco17", num_frames=EXPORT_T)
    with pytest.raises(InvalidInputError, match="x has every joint missing in every clip"):
        make_pose_dataset(np.full((4, EXPORT_T, 17, 3), np.nan), _labels(4), "coco17", num_frames=EXPORT_T)


def test_accepted_a_few_missing_joints_and_empty_clips_are_masked_and_counted():
    x = _with(_pose(4), (0, slice(None), 4), np.nan)  # one joint NaN in every frame of clip 0: missing
    x[1] = np.nan  # a whole clip with nobody: kept and counted
    data = _dataset(x)
    assert data.x_train.shape == x.shape and "1 with every joint missing" in data.summary()
    assert (
        abs(float(np.nanmax(np.abs(_dataset(_with(_pose(4), (0, 0, 0, 0), MAX_COORDINATE)).x_train))) - MAX_COORDINATE)
        < 1
    )


# --- the predictor: the same messages as the datasets' ------------------------------------------------------
@pytest.fixture(scope="module")
def predictor(tiny_pose_classifier, tmp_path_factory):
    from har_tf.inference import HARPredictor

    path = tmp_path_factory.mktemp("bad_data") / "pose_model.keras"
    tiny_pose_classifier.save(path)
    return HARPredictor.load(path, device="cpu")


PREDICTOR_CASES = {
    "bool poses": (
        lambda: np.ones((2, EXPORT_T, 17, 3), bool),
        "pose must hold numbers (float32 pixels), got dtype bool",
    ),
    "poses at 1e25": (
        lambda: _with(_pose(), (1, 0, 2, 1), 1e25),
        "pose holds coordinates too large to normalise (1e+25 at clip 1, frame 0, joint 2)",
    ),
    "-Inf keypoints": (
        lambda: _with(_pose(), (0, 4, 0, 0), -np.inf),
        "pose holds infinite values (first at clip 0, frame 4, joint 0)",
    ),
    "an all-NaN clip": (lambda: _with(_pose(), 1, np.nan), "clip 1 of pose has every joint missing in every frame"),
    "negative confidences": (
        lambda: _with(_pose(), (0, 0, 3, 2), -0.25),
        "pose confidences must lie in [0, 1] (0 = missing joint), got -0.25",
    ),
}


@pytest.mark.parametrize("case", sorted(PREDICTOR_CASES))
def test_bad_poses_for_the_predictor(predictor, case):
    make, message = PREDICTOR_CASES[case]
    with pytest.raises(InvalidInputError) as caught:
        predictor.predict_proba(make())
    assert message in str(caught.value)


PREDICTOR_ARGUMENTS = {
    "top-k with k = 0": (lambda p: p.topk(_pose(), k=0), "k must be a positive integer, got 0"),
    "top-k with k = -2": (lambda p: p.topk(_pose(), k=-2), "k must be a positive integer, got -2"),
    "top-k with k = 1.5": (lambda p: p.topk(_pose(), k=1.5), "k must be a positive integer, got 1.5"),
    "threshold given as a string": (
        lambda p: p.threshold(_pose(), thr="0.2"),
        "the threshold must be a probability in [0, 1], got '0.2'",
    ),
    "threshold above 1": (lambda p: p.threshold(_pose(), thr=1.5), "the threshold must be a probability in [0, 1]"),
    "threshold NaN": (
        lambda p: p.threshold(_pose(), thr=float("nan")),
        "the threshold must be a probability in [0, 1], got nan",
    ),
}


@pytest.mark.parametrize("case", sorted(PREDICTOR_ARGUMENTS))
def test_bad_predictor_arguments(predictor, case):
    call, message = PREDICTOR_ARGUMENTS[case]
    with pytest.raises(InvalidInputError) as caught:
        call(predictor)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"normalize_mode": "bogus"}, "normalize_mode must be one of ('sequence', 'frame'), got 'bogus'"),
        ({"layout": "bogus"}, "unknown joint layout 'bogus'"),
        ({"num_threads": 0}, "num_threads must be a positive number of CPU threads (or None), got 0"),
        ({"device": "tpu"}, "device must be 'auto', 'cpu', 'gpu' or a name like '/GPU:0', got 'tpu'"),
    ],
)
def test_bad_load_arguments_are_refused_before_the_model_is_read(tmp_path, kwargs, message):
    from har_tf.inference import HARPredictor

    (tmp_path / "model.keras").write_bytes(b"not read: the arguments are checked first")
    with pytest.raises(InvalidInputError) as caught:
        HARPredictor.load(tmp_path / "model.keras", **kwargs)
    assert message in str(caught.value)


# --- the TF Serving client: refused before a request is sent -----------------------------------------------
SPEC = ServingSpec("fusion", (EXPORT_T, 17, 3), (EXPORT_F, EXPORT_SIZE, EXPORT_SIZE, 3), EXPORT_CLASSES, "coco17")


def _body(pose=None, frames=None, spec=SPEC):
    return ServingClient("har", spec=spec).rest_body(_pose() if pose is None else pose, frames)


SERVING_CASES = {
    "float frames in [0, 1]": (
        lambda: _body(frames=_frames() / 255.0),
        "frames must be RGB pixels in [0, 255] (uint8), got float64 values that are not whole "
        "numbers (from 0 to 1): images scaled to [0, 1] need",
    ),
    "frames of 300 (uint8 would wrap to 44)": (
        lambda: _body(frames=_frames().astype(np.int32) + 300),
        "frames must be RGB pixels in [0, 255] (uint8), got values from 300",
    ),
    "frames of 300 without a spec": (
        lambda: _body(frames=np.full((2, 3, 8, 8, 3), 300), spec=None),
        "got values from 300 to 300",
    ),
    "bool frames": (lambda: _body(frames=_frames() > 127), "frames must hold uint8 RGB pixels, got dtype bool"),
    "NaN frames": (
        lambda: _body(frames=_with(_frames().astype(np.float32), (0, 0, 0, 0, 0), np.nan)),
        "got NaN or infinite values",
    ),
    "frames of another size": (
        lambda: _body(frames=_frames()[:, :, :40]),
        f"frames must be uint8 (N, {EXPORT_F}, {EXPORT_SIZE}, {EXPORT_SIZE}, 3) with N = 2",
    ),
    "frames with 4 channels without a spec": (
        lambda: _body(frames=np.zeros((2, 3, 8, 8, 4), np.uint8), spec=None),
        "(3 channels: RGB)",
    ),
    "bool poses": (lambda: _body(np.ones((2, EXPORT_T, 17, 3), bool)), "pose must hold numbers (float32 pixels)"),
    "poses at 1e25": (lambda: _body(_with(_pose(), (0, 0, 0, 0), 1e25)), "pose holds coordinates too large"),
    "confidences of 5.0": (
        lambda: _body(_with(_pose(), (0, 0, 0, 2), 5.0)),
        "pose confidences must lie in [0, 1] (0 = missing joint), got 5",
    ),
    "top-k with k = 0": (
        lambda: ServingClient("har", spec=SPEC).topk(_pose(), k=0),
        "k must be a positive integer, got 0",
    ),
    "threshold as a string": (
        lambda: ServingClient("har", spec=SPEC).threshold(_pose(), thr="0.2"),
        "the threshold must be a probability in [0, 1], got '0.2'",
    ),
    "a port out of range": (
        lambda: ServingClient("har", rest_port=70000),
        "rest_port must be a TCP port number in 1..65535, got 70000",
    ),
    "a timeout of 0": (lambda: ServingClient("har", timeout=0), "timeout must be a positive number of seconds"),
    "version 0": (lambda: ServingClient("har", version=0), "version must be a positive model version number"),
}


@pytest.mark.parametrize("case", sorted(SERVING_CASES))
def test_bad_serving_requests(case):
    make, message = SERVING_CASES[case]
    with pytest.raises(InvalidInputError) as caught:
        make()
    assert message in str(caught.value)


def test_accepted_whole_number_frames_of_any_numeric_dtype_are_sent_unchanged():
    frames = _frames()
    body = _body(frames=frames.astype(np.float32))
    assert np.array_equal(np.asarray([row["frames"] for row in body["instances"]]), frames)


# --- the streaming recogniser --------------------------------------------------------------------------------
class _OnePerson(PoseEstimator):
    """A stand-in pose estimator: one COCO-17 person in the middle of every frame."""

    layout = "coco17"

    def estimate(self, frame):
        h, w = frame.shape[:2]
        person = np.stack([np.linspace(0.3, 0.7, 17) * w, np.linspace(0.2, 0.8, 17) * h, np.full(17, 0.9)], -1)
        return person[None].astype(np.float32)


@pytest.fixture(scope="module")
def window_model(tiny_pose_classifier):
    from har_tf.inference.window_model import WindowModel

    return WindowModel.from_keras(tiny_pose_classifier)


def _recogniser(window_model, **kwargs):
    from har_tf.inference.streaming import StreamingRecognizer

    return StreamingRecognizer(window_model, _OnePerson(), **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"history": -1}, "history must be a positive number of windows, got -1"),
        ({"history": 0}, "history must be a positive number of windows, got 0"),
        ({"stride": 0}, "stride must be a positive number of frames, got 0"),
        ({"embed_every": 2.5}, "embed_every must be a positive integer, got 2.5"),
        ({"smoothing": "0.5"}, "smoothing must be a number in [0, 1) (0 = none), got '0.5'"),
        ({"fps": -5}, "fps must be a positive number of frames per second (or None for 30), got -5"),
    ],
)
def test_bad_streaming_settings_are_refused_at_construction(window_model, kwargs, message):
    with pytest.raises(InvalidInputError) as caught:
        _recogniser(window_model, **kwargs)
    assert message in str(caught.value)


FRAME = np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8)

STREAM_FRAME_CASES = {
    "a float frame in [0, 1]": (
        [FRAME / 255.0],
        "frame 0 must be RGB pixels in [0, 255] (uint8), got float64 values that are not whole numbers",
    ),
    "a frame of 300": (
        [FRAME.astype(np.int16) + 300],
        "frame 0 must be RGB pixels in [0, 255] (uint8), got values from 300",
    ),
    "a bool frame": ([FRAME > 127], "frame 0 must hold uint8 RGB pixels, got dtype bool"),
    "a grey frame (H, W)": ([FRAME[..., 0]], "frame 0 must be one uint8 RGB image (H, W, 3), got shape (48, 64)"),
    "a frame of another size": ([FRAME, FRAME[:40]], "frame 1 is 40x64 pixels but the stream's first frame was 48x64"),
    "a float32 frame of whole numbers": (
        [FRAME.astype(np.float32)],
        "frame 0 must be a uint8 RGB image (what a pose estimator takes), got dtype float32",
    ),
}


@pytest.mark.parametrize("case", sorted(STREAM_FRAME_CASES))
def test_bad_stream_frames(window_model, case):
    frames, message = STREAM_FRAME_CASES[case]
    recogniser = _recogniser(window_model)
    with pytest.raises(InvalidInputError) as caught:
        for frame in frames:
            recogniser.push(frame)
    assert message in str(caught.value)


def test_latency_records_need_a_positive_size():
    from har_tf.inference.streaming import LatencyRecorder

    with pytest.raises(InvalidInputError, match="max_frames must be a positive number of frames, got 0"):
        LatencyRecorder(0)


# --- videos: a still image or a file of one frame is not a video ------------------------------------------
@pytest.fixture(scope="module")
def stills(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stills")
    cv2.imwrite(str(folder / "photo.png"), FRAME)
    cv2.imwrite(str(folder / "photo.jpg"), FRAME)
    (folder / "photo.mp4").write_bytes((folder / "photo.png").read_bytes())
    (folder / "photo.avi").write_bytes((folder / "photo.jpg").read_bytes())
    writer = cv2.VideoWriter(str(folder / "one_frame.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    writer.write(FRAME)
    writer.release()
    writer = cv2.VideoWriter(str(folder / "two_frames.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    writer.write(FRAME)
    writer.write(FRAME)
    writer.release()
    return folder


VIDEO_CASES = {
    "a PNG renamed .mp4": ("photo.mp4", {}, DataFormatError, "photo.mp4 is a PNG image, not a video"),
    "a JPEG renamed .avi": ("photo.avi", {}, DataFormatError, "photo.avi is a JPEG image, not a video"),
    "a PNG under its own name": ("photo.png", {}, DataFormatError, "photo.png is a PNG image, not a video"),
    "a video of one frame": (
        "one_frame.avi",
        {},
        DataFormatError,
        "has only 1 decodable frame (a still image?), not a video: a video needs at least 2",
    ),
    "max_frames of -1": (
        "two_frames.avi",
        {"max_frames": -1},
        InvalidInputError,
        "max_frames must be a positive whole number of frames (or None for every frame), got -1",
    ),
    "max_frames of 0": ("two_frames.avi", {"max_frames": 0}, InvalidInputError, "max_frames must be a positive"),
}


@pytest.mark.parametrize("case", sorted(VIDEO_CASES))
def test_bad_videos(stills, case):
    name, kwargs, error, message = VIDEO_CASES[case]
    with pytest.raises(error) as caught:
        VideoReader(stills / name, **kwargs)
    assert message in str(caught.value)


def test_accepted_a_video_of_two_frames(stills):
    with VideoReader(stills / "two_frames.avi", max_frames=1) as reader:
        assert sum(1 for _ in reader) == 1


def test_a_still_image_streamed_or_extracted_is_one_clear_error(window_model, stills, tmp_path):
    """What scripts/predict_video.py and scripts/extract_poses.py run on a PNG renamed .mp4."""
    from har_tf.inference.extraction import ExtractionConfig, extract_dataset

    recogniser = _recogniser(window_model)
    with pytest.raises(DataFormatError, match="photo.mp4 is a PNG image, not a video"):
        recogniser.run(stills / "photo.mp4")
    root = tmp_path / "root"
    (root / "walk").mkdir(parents=True)
    (root / "walk" / "clip.mp4").write_bytes((stills / "photo.png").read_bytes())
    with pytest.raises(
        DataFormatError,
        match=r"none of the 1 videos .* could be read \(walk/clip.mp4: .*is a PNG "
        r"image, not a video",
    ):
        extract_dataset(
            root,
            tmp_path / "data.npz",
            _OnePerson(),
            ExtractionConfig(num_frames=EXPORT_T),
            progress=False,
            warn=lambda _: None,
        )
    with pytest.raises(InvalidInputError, match="workers must be a positive number of processes, got 0"):
        extract_dataset(root, tmp_path / "data.npz", _OnePerson(), workers=0, progress=False)
    assert not (tmp_path / "data.npz").exists()


def test_every_error_here_is_a_project_error():
    assert issubclass(DataFormatError, HARError) and issubclass(InvalidInputError, HARError)
