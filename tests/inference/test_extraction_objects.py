"""Extraction with object detections: detections JSON folders per video or a detector on every frame,
(T, K, 6) objects per clip in the square's pixels beside the poses, and resumable parts."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from har_tf.data.detections import Detections, write_detections_folder
from har_tf.data.objects import check_objects_batch
from har_tf.data.pose_npz import load_pose_npz
from har_tf.data.video import Letterbox
from har_tf.errors import InvalidInputError, MissingFileError
from har_tf.inference.detection import ObjectDetector, detections_to_objects, person_box
from har_tf.inference.extraction import (
    DetectionJsonFolders,
    DetectorSource,
    ExtractionConfig,
    extract_dataset,
    part_path,
)
from har_tf.inference.pose.base import PoseEstimator

W, H, S, K = 64, 48, 32, 3
CLASSES = ("none", "cup", "phone")
CONFIG = ExtractionConfig(num_frames=8, stride=4, frames_per_clip=2, image_size=S, max_objects=K, seed=0)
VIDEOS = {"drink/a.avi": 14, "drink/b.avi": 5, "walk/c.avi": 12, "walk/d.avi": 10}  # b: shorter than T
ANNOTATED = {"drink/b.avi": 3}  # frames with a detections file (the later frames have none)


class BrightnessEstimator(PoseEstimator):
    """COCO-17 joints in a band whose height follows the frame's brightness; counts its calls."""

    layout = "coco17"

    def __init__(self):
        self.calls = 0

    def estimate(self, frame):
        self.calls += 1
        pose = np.zeros((1, 17, 3), np.float32)
        pose[0, :, 0] = np.linspace(0.3, 0.6, 17) * frame.shape[1]
        pose[0, :, 1] = (0.2 + 0.5 * float(frame.mean()) / 255.0) * frame.shape[0]
        pose[0, :, 2] = 0.9
        return pose


def _video_objects(frames: int, seed: int) -> np.ndarray:
    """(T, 4, 6) detections in the video's pixels: a far high-scoring cup, a near low-scoring phone and
    two more, some frames empty."""
    rng = np.random.default_rng(seed)
    objects = np.zeros((frames, 4, 6), np.float32)
    for t in range(frames):
        if t % 4 == 3:
            continue  # no detections in this frame
        objects[t, 0] = [1, 56, 2, 63, 8, 0.95]  # top-right corner: far from the person
        objects[t, 1] = [2, 22, 14, 30, 22, 0.4]  # on the person
        x, y = rng.uniform(42, 52), rng.uniform(28, 40)  # right of the person
        objects[t, 2] = [rng.integers(1, 3), x, y, x + 6, y + 5, 0.6]
        objects[t, 3] = [1, 0, 40, 4, 48, 0.5]  # bottom-left corner
    return objects


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    for i, (relative, frames) in enumerate(VIDEOS.items()):
        path = folder / "videos" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (W, H))
        for t in range(frames):
            writer.write(np.full((H, W, 3), 40 + 12 * t + 7 * i, np.uint8))
        writer.release()
        stem = Path(relative).stem
        objects = _video_objects(frames, i)[: ANNOTATED.get(relative, frames)]
        write_detections_folder(objects, CLASSES, folder / "detections" / Path(relative).parent / stem, stem)
    return folder


def _expected_clip_objects(root: Path, relative: str, start: int, poses: np.ndarray) -> np.ndarray:
    """What a clip's objects should be, from the written annotations (video pixels), the letterbox and the
    clip's square poses."""
    frames = VIDEOS[relative]
    raw = _video_objects(frames, list(VIDEOS).index(relative))[: ANNOTATED.get(relative, frames)]
    box = Letterbox(W, H, S)
    (sx, sy), (ox, oy) = box.scale, box.offset
    per_frame = []
    for t in range(start, start + CONFIG.num_frames):
        if t >= len(raw):
            per_frame.append(None)
            continue
        rows = raw[t][raw[t, :, 0] >= 1]
        boxes = np.clip(rows[:, 1:5] * [sx, sy, sx, sy] + [ox, oy, ox, oy], 0, S)
        per_frame.append(Detections(boxes, rows[:, 0], rows[:, 5], CLASSES))
    return detections_to_objects(per_frame, K, None, person_box(poses))


def test_objects_of_each_clip_are_aligned_mapped_and_nearest_first(root, tmp_path):
    source = DetectionJsonFolders(root / "detections", ["cup", "phone"])
    out = tmp_path / "data.npz"
    warnings: list[str] = []
    result = extract_dataset(
        root / "videos", out, BrightnessEstimator(), CONFIG, progress=False, warn=warnings.append, detections=source
    )
    assert not warnings
    data = load_pose_npz(out)
    assert data.extras["object_classes"].tolist() == list(CLASSES)
    assert result.report["detections"]["object_classes"] == list(CLASSES)
    checked = 0
    for split in data.splits:
        x, y = data.split(split)
        objects = data.extras[f"objects_{split}"]
        assert objects.shape == (len(y), CONFIG.num_frames, K, 6) and objects.dtype == np.float32
        check_objects_batch(objects, CONFIG.num_frames, len(CLASSES), K, len(y))
        for i, (video, start) in enumerate(zip(data.extras[f"video_{split}"], data.extras[f"clip_start_{split}"])):
            expected = _expected_clip_objects(root, str(video), int(start), x[i])
            np.testing.assert_allclose(objects[i], expected, atol=1e-4, err_msg=f"{video} from {start}")
            checked += 1
    assert checked == sum(len(data.split(s)[1]) for s in data.splits) == 6  # 2 + 1 + 2 + 1 windows
    # by hand: a frame with detections starts with the one on the person (phone), despite its lower score
    rows = data.extras["objects_train"][0, 0]
    assert rows[0, 0] == 2 and rows[0, 5] == pytest.approx(0.4)
    box = Letterbox(W, H, S)
    (sx, sy), (ox, oy) = box.scale, box.offset
    np.testing.assert_allclose(rows[0, 1:5], [22 * sx + ox, 14 * sy + oy, 30 * sx + ox, 22 * sy + oy], atol=1e-4)
    # the short video's padding and its frames past the last detections file have zero rows
    split = "train" if "drink/b.avi" in data.extras["video_train"] else "test"
    b_objects = data.extras[f"objects_{split}"][list(data.extras[f"video_{split}"]).index("drink/b.avi")]
    assert (b_objects[3:] == 0).all() and (b_objects[:3, 0, 0] >= 1).all()


def test_a_detector_on_every_frame_is_mapped_to_the_object_classes_by_name(root, tmp_path):
    class Corners(ObjectDetector):
        """A mug top-left and a cell phone bottom-right of every frame, and a dog (no such object class)."""

        class_names = ("none", "mug", "cell phone", "dog")

        def detect(self, frame):
            h, w = frame.shape[:2]
            boxes = [[0, 0, 8, 8], [w - 8, h - 8, w, h], [20, 20, 30, 30]]
            return Detections(boxes, [1, 2, 3], [0.9, 0.8, 0.99], self.class_names)

    source = DetectorSource(Corners(), object_classes=["cup", "phone"])
    assert source.class_map == {1: 1, 2: 2}
    result = extract_dataset(
        root / "videos",
        tmp_path / "d.npz",
        BrightnessEstimator(),
        CONFIG,
        progress=False,
        warn=lambda _: None,
        detections=source,
    )
    objects = result.dataset.extras["objects_train"]
    valid = objects[..., 0] >= 1
    assert set(np.unique(objects[..., 0][valid])) == {1, 2}  # the dog is dropped
    real = result.dataset.x_train[..., 2].max(axis=-1) > 0  # real (not padded) frames
    assert (valid.sum(axis=-1)[real] == 2).all() and (valid.sum(axis=-1)[~real] == 0).all()
    box = Letterbox(W, H, S)
    corner = objects[real][objects[real][..., 0] == 2][0, 1:5]
    np.testing.assert_allclose(
        corner, box.to_square(np.array([[W - 8, H - 8], [W, H]], np.float32)).reshape(4), atol=1e-4
    )
    # default object classes: the detector's own names
    assert DetectorSource(Corners()).object_classes == ("none", "mug", "cell phone", "dog")


def test_parts_are_resumable_and_parts_without_detections_are_extracted_again(root, tmp_path):
    estimator = BrightnessEstimator()
    out = tmp_path / "data.npz"
    frames = sum(VIDEOS.values())
    plain = extract_dataset(root / "videos", out, estimator, CONFIG, keep_parts=True, progress=False)
    assert estimator.calls == frames and "objects_train" not in plain.dataset.extras
    assert "object_classes" not in plain.dataset.extras and "detections" not in plain.report

    source = DetectionJsonFolders(root / "detections", CLASSES)
    estimator.calls = 0
    first = extract_dataset(root / "videos", out, estimator, CONFIG, keep_parts=True, progress=False, detections=source)
    assert estimator.calls == frames and first.report["videos"]["resumed"] == 0  # the old parts had no objects
    reference = {k: v for k, v in first.dataset.to_arrays().items() if k != "extraction_info"}

    parts = out.with_suffix(".parts")
    part_path(parts, "walk/c.avi").unlink()  # as if the run had stopped before this video
    damaged = part_path(parts, "drink/a.avi")
    damaged.write_bytes(damaged.read_bytes()[:100])
    estimator.calls = 0
    again = extract_dataset(root / "videos", out, estimator, CONFIG, keep_parts=True, progress=False, detections=source)
    assert estimator.calls == VIDEOS["walk/c.avi"] + VIDEOS["drink/a.avi"]
    assert again.report["extracted"] == ["drink/a.avi", "walk/c.avi"]
    for key, value in again.dataset.to_arrays().items():
        if key != "extraction_info":
            np.testing.assert_array_equal(value, reference[key], err_msg=key)

    estimator.calls = 0  # other max_objects: extracted again
    other = ExtractionConfig(**{**CONFIG.to_dict(), "max_objects": 2})
    result = extract_dataset(root / "videos", out, estimator, other, progress=False, detections=source)
    assert estimator.calls == frames and result.dataset.extras["objects_train"].shape[2] == 2


def test_missing_detections_and_bad_sources_are_clear(root, tmp_path):
    partial = tmp_path / "detections"
    for relative in ("drink/a.avi", "drink/b.avi", "walk/c.avi"):  # walk/d.avi has none
        folder = Path(relative).parent / Path(relative).stem
        (partial / folder).mkdir(parents=True)
        for f in (root / "detections" / folder).iterdir():
            (partial / folder / f.name).symlink_to(f)
    warnings: list[str] = []
    result = extract_dataset(
        root / "videos",
        tmp_path / "d.npz",
        BrightnessEstimator(),
        CONFIG,
        progress=False,
        warn=warnings.append,
        detections=DetectionJsonFolders(partial, CLASSES),
    )
    assert [s["video"] for s in result.report["skipped"]] == ["walk/d.avi"]
    assert "no detections folder for walk/d.avi" in result.report["skipped"][0]["reason"]
    assert any("walk/d.avi" in w for w in warnings)
    with pytest.raises(MissingFileError, match="no such detections folder"):
        DetectionJsonFolders(tmp_path / "absent", CLASSES)
    with pytest.raises(InvalidInputError, match="distinct, non-empty names"):
        DetectionJsonFolders(partial, ["cup", "cup"])
    with pytest.raises(InvalidInputError, match="max_objects"):
        ExtractionConfig(max_objects=0)
    with pytest.raises(InvalidInputError, match="DetectorSource or DetectionJsonFolders"):
        extract_dataset(
            root / "videos", tmp_path / "e.npz", BrightnessEstimator(), CONFIG, progress=False, detections="detections/"
        )
