"""Extraction of a multimodal dataset from a folder of real videos: MoveNet, clips, frames, split, resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from har_tf.data.frames import decode_clips
from har_tf.data.pose_npz import load_pose_npz
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from har_tf.inference.extraction import (
    EstimatorSource,
    ExtractionConfig,
    assign_splits,
    clip_frame_positions,
    clip_starts,
    extract_dataset,
    find_videos,
    part_path,
)
from har_tf.inference.pose.base import PoseEstimator
from tests.helpers import shared_file

MOVENET = "models/movenet_singlepose_lightning_int8.tflite"
CONFIG = ExtractionConfig(max_frames=60)  # T = 30, stride 15: 3 clips a video
READABLE = ("exercise/exercise.avi", "tai_chi/clean_and_jerk.mp4", "tai_chi/ta_chi.mp4")


class FakeEstimator(PoseEstimator):
    """Fixed keypoints that follow the frame's brightness; counts its calls."""

    layout = "coco17"

    def __init__(self):
        self.calls = 0

    def estimate(self, frame):
        self.calls += 1
        height, width = frame.shape[:2]
        pose = np.zeros((1, 17, 3), np.float32)
        pose[0, :, 0] = np.linspace(0.2, 0.8, 17) * width
        pose[0, :, 1] = (0.2 + 0.6 * float(frame.mean()) / 255.0) * height
        pose[0, :, 2] = 0.9
        return pose


def make_root(folder: Path, videos: Path) -> Path:
    """2 classes of real clips (symlinks), a corrupt .mp4 and an empty .mp4."""
    for rel, name in (
        ("tai_chi/ta_chi.mp4", "ta_chi.mp4"),
        ("tai_chi/clean_and_jerk.mp4", "clean_and_jerk.mp4"),
        ("exercise/exercise.avi", "exercise.avi"),
    ):
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).symlink_to(videos / name)
    (folder / "exercise" / "corrupt.mp4").write_bytes(np.random.default_rng(0).bytes(4096))
    (folder / "exercise" / "empty.mp4").write_bytes(b"")
    (folder / "exercise" / "notes.txt").write_text("not a video")
    return folder


def arrays_of(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def assert_same_arrays(a: dict, b: dict, skip=("extraction_info",)) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        if key not in skip:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.fixture(scope="module")
def root(shared_dir, tmp_path_factory) -> Path:
    return make_root(tmp_path_factory.mktemp("videos"), shared_file(shared_dir, "data/videos"))


@pytest.fixture(scope="module")
def movenet(shared_dir) -> EstimatorSource:
    source = EstimatorSource("movenet", shared_file(shared_dir, MOVENET), num_threads=1)
    source.load()
    return source


@pytest.fixture(scope="module")
def movenet_run(root, movenet, tmp_path_factory):
    warnings: list[str] = []
    out = tmp_path_factory.mktemp("movenet") / "data.npz"
    result = extract_dataset(root, out, movenet, CONFIG, progress=False, warn=warnings.append)
    return result, warnings


# --- the real run ------------------------------------------------------------------------------
def test_movenet_dataset_loads_with_the_documented_arrays(movenet_run):
    result, _ = movenet_run
    assert result.path.is_file() and result.report_path.is_file()
    assert not result.path.with_suffix(".parts").exists()  # removed after success
    data = load_pose_npz(result.path)
    assert data.class_names == ("exercise", "tai_chi") and data.layout.name == "coco17"
    assert data.splits == ("train", "test")
    total = sum(len(data.split(s)[1]) for s in data.splits)
    assert total == 9  # 3 readable videos x 60 frames: windows at 0, 15, 30
    size, fi = data.extras["image_size"], data.extras["frame_indices"]
    assert size.tolist() == [224, 224] and fi.tolist() == [0, 4, 8, 12, 17, 21, 25, 29]
    for split in data.splits:
        x, y = data.split(split)
        assert x.shape == (len(y), 30, 17, 3) and x.dtype == np.float32
        frames = decode_clips(data.extras[f"frames_{split}_jpeg"], data.extras[f"frames_{split}_offsets"], 8)
        assert frames.shape == (len(y), 8, 224, 224, 3) and frames.dtype == np.uint8
        valid = x[..., 2] > 0
        assert valid.mean() > 0.9  # MoveNet reports all 17 joints of a visible person
        assert x[..., :2][valid].min() >= 0 and x[..., :2][valid].max() <= 224
        videos = data.extras[f"video_{split}"]
        assert [data.class_names[label] for label in y] == [v.split("/")[0] for v in videos]
        assert data.extras[f"clip_start_{split}"].tolist() == [0, 15, 30] * (len(y) // 3)
        offsets = data.extras[f"poses_{split}_offsets"]
        assert data.extras[f"poses_{split}"].shape == (offsets[-1], 17, 3) and np.all(np.diff(offsets) == 60)
        assert data.extras[f"videos_{split}"].dtype.kind == "U"
    # a clip is its video's all-frame poses, windowed
    poses, offsets = data.extras["poses_train"], data.extras["poses_train_offsets"]
    index = list(data.extras["videos_train"]).index(data.extras["video_train"][1])
    np.testing.assert_array_equal(data.x_train[1], poses[offsets[index] + 15 : offsets[index] + 45])


def test_the_person_is_found_where_the_frames_show_it(movenet_run):
    """The person's joints lie on the letterboxed picture, not on the grey bars around it."""
    data = load_pose_npz(movenet_run[0].path)
    frames = decode_clips(data.extras["frames_train_jpeg"], data.extras["frames_train_offsets"], 8)
    checked = 0
    for clip, pose in enumerate(data.x_train):
        for k, t in enumerate(data.extras["frame_indices"]):
            good = pose[t, :, 2] > 0.3
            if good.sum() >= 5:
                cx, cy = np.median(pose[t, good, :2], axis=0).astype(int)
                assert np.abs(frames[clip, k, cy, cx].astype(int) - 114).max() > 3, (clip, k)  # not the bars' grey
                checked += 1
    assert checked >= len(data.x_train) * 4


def test_unreadable_videos_are_reported_and_skipped(movenet_run):
    result, warnings = movenet_run
    report = json.loads(result.report_path.read_text())
    assert report == result.report
    assert {s["video"] for s in report["skipped"]} == {"exercise/corrupt.mp4", "exercise/empty.mp4"}
    assert "empty" in next(s["reason"] for s in report["skipped"] if s["video"] == "exercise/empty.mp4")
    assert sum("corrupt.mp4" in w for w in warnings) == 1 and sum("empty.mp4" in w for w in warnings) == 1
    assert report["videos"] == {"found": 5, "readable": 3, "skipped": 2, "extracted": 3, "resumed": 0}
    assert report["classes"]["exercise"]["skipped"] == 2 and report["classes"]["tai_chi"]["readable"] == 2
    assert report["frames"] == 180 and report["frames_per_second"] > 10
    assert sum(report["clips"].values()) == 9


def test_split_keeps_each_video_whole_and_is_stratified(movenet_run):
    data = load_pose_npz(movenet_run[0].path)
    train, test = set(data.extras["video_train"]), set(data.extras["video_test"])
    assert not train & test and train | test == set(READABLE)
    assert test <= {"tai_chi/clean_and_jerk.mp4", "tai_chi/ta_chi.mp4"}  # the one-video class stays in train
    assert len(test) == 1


def test_two_runs_give_identical_arrays(root, movenet, movenet_run, tmp_path):
    again = extract_dataset(root, tmp_path / "again.npz", movenet, CONFIG, progress=False, warn=lambda _: None)
    assert_same_arrays(arrays_of(movenet_run[0].path), arrays_of(again.path))


def test_worker_processes_give_the_same_dataset(root, movenet, movenet_run, tmp_path):
    parallel = extract_dataset(
        root, tmp_path / "p.npz", movenet, CONFIG, workers=2, progress=False, warn=lambda _: None
    )
    assert_same_arrays(arrays_of(movenet_run[0].path), arrays_of(parallel.path))
    assert parallel.report["videos"]["skipped"] == 2
    with pytest.raises(InvalidInputError, match="picklable"):
        extract_dataset(root, tmp_path / "q.npz", lambda video: FakeEstimator(), CONFIG, workers=2, progress=False)


def test_stage2_crop_boxes_fall_inside_the_frames(movenet_run):
    from har_tf.models.image_encoder import crop_boxes_layer

    data = load_pose_npz(movenet_run[0].path)
    layer = crop_boxes_layer("person", data.layout, data.extras["frame_indices"], int(data.extras["image_size"][0]))
    boxes = np.asarray(layer(data.x_train))  # (N, F, 4) y1, x1, y2, x2 in frame fractions
    assert boxes.shape == (len(data.y_train), 8, 4)
    centres = (boxes[..., :2] + boxes[..., 2:]) / 2
    assert np.all((centres > 0) & (centres < 1))
    assert np.all(boxes[..., 2:] - boxes[..., :2] < 1.0)  # a crop around the person, not the whole frame


# --- resume ------------------------------------------------------------------------------------
def test_a_rerun_extracts_only_missing_or_damaged_parts(root, tmp_path):
    fake = FakeEstimator()
    out = tmp_path / "data.npz"
    first = extract_dataset(root, out, fake, CONFIG, keep_parts=True, progress=False, warn=lambda _: None)
    assert fake.calls == 180
    reference = arrays_of(out)
    parts = out.with_suffix(".parts")
    part_path(parts, "tai_chi/ta_chi.mp4").unlink()
    damaged = part_path(parts, "exercise/exercise.avi")
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])

    fake.calls = 0
    second = extract_dataset(root, out, fake, CONFIG, keep_parts=True, progress=False, warn=lambda _: None)
    assert fake.calls == 120  # two videos of 60 frames
    assert second.report["extracted"] == ["exercise/exercise.avi", "tai_chi/ta_chi.mp4"]
    assert second.report["resumed"] == ["tai_chi/clean_and_jerk.mp4"]
    assert second.report["videos"]["skipped"] == 2  # the corrupt files are tried again, and skipped again
    assert_same_arrays(reference, arrays_of(out))
    assert first.report["frames"] == second.report["frames"] == 180

    fake.calls = 0
    extract_dataset(root, out, fake, CONFIG, progress=False, warn=lambda _: None)
    assert fake.calls == 0 and not parts.exists()


def test_parts_from_other_settings_are_extracted_again(root, tmp_path):
    fake = FakeEstimator()
    out = tmp_path / "data.npz"
    extract_dataset(root, out, fake, CONFIG, keep_parts=True, progress=False, warn=lambda _: None)
    fake.calls = 0
    other = ExtractionConfig(max_frames=60, image_size=96)
    result = extract_dataset(root, out, fake, other, progress=False, warn=lambda _: None)
    assert fake.calls == 180 and result.report["videos"]["resumed"] == 0
    assert load_pose_npz(out).extras["image_size"].tolist() == [96, 96]


# --- clips -------------------------------------------------------------------------------------
def test_windows_and_the_padding_of_a_short_video(root, tmp_path):
    assert clip_starts(60, 30, 15).tolist() == [0, 15, 30]
    assert clip_starts(100, 30, 15).tolist() == [0, 15, 30, 45, 60]
    assert clip_starts(12, 30, 15).tolist() == [0] and clip_starts(30, 30, 7).tolist() == [0]
    short = ExtractionConfig(max_frames=20, test_fraction=0.0)
    assert clip_frame_positions(20, short)[0].tolist() == [0, 4, 8, 12, 17, 19, 19, 19]

    result = extract_dataset(root, tmp_path / "short.npz", FakeEstimator(), short, progress=False, warn=lambda _: None)
    data = load_pose_npz(result.path)
    assert data.splits == ("train",) and data.x_train.shape == (3, 30, 17, 3)
    assert np.all(data.x_train[:, 20:] == 0) and np.all(data.x_train[:, :20, :, 2] > 0)
    frames = decode_clips(data.extras["frames_train_jpeg"], data.extras["frames_train_offsets"], 8)
    for k in (6, 7):  # frames 25 and 29 of the window repeat the last real frame (19)
        np.testing.assert_array_equal(frames[:, k], frames[:, 5])


def test_layout_conversion(root, tmp_path):
    config = ExtractionConfig(max_frames=30, layout="body25")
    result = extract_dataset(root, tmp_path / "b25.npz", FakeEstimator(), config, progress=False, warn=lambda _: None)
    data = load_pose_npz(result.path)
    assert data.layout.name == "body25" and data.x_train.shape[2] == 25


def test_user_split_folders_are_kept(shared_dir, tmp_path):
    videos = shared_file(shared_dir, "data/videos")
    for rel, name in (
        ("train/tai_chi/a.mp4", "ta_chi.mp4"),
        ("test/tai_chi/b.mp4", "clean_and_jerk.mp4"),
        ("train/exercise/c.avi", "exercise.avi"),
        ("val/exercise/d.avi", "exercise.avi"),
    ):
        (tmp_path / "root" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "root" / rel).symlink_to(videos / name)
    config = ExtractionConfig(max_frames=30)
    result = extract_dataset(tmp_path / "root", tmp_path / "d.npz", FakeEstimator(), config, progress=False)
    data = load_pose_npz(result.path)
    assert data.splits == ("train", "val", "test") and data.class_names == ("exercise", "tai_chi")
    assert data.extras["video_train"].tolist() == ["train/exercise/c.avi", "train/tai_chi/a.mp4"]
    assert data.extras["video_test"].tolist() == ["test/tai_chi/b.mp4"] and data.y_val.tolist() == [0]


def test_split_is_seeded_stratified_and_by_video():
    from har_tf.inference.extraction import VideoEntry

    videos = [
        VideoEntry(Path(f"{c}/{i}.mp4"), f"{c}/{i}.mp4", label, c) for label, c in enumerate("ab") for i in range(10)
    ]
    split = assign_splits(videos, 0.2, seed=0)
    assert split == assign_splits(videos, 0.2, seed=0) and split != assign_splits(videos, 0.2, seed=1)
    for c in "ab":
        assert sum(split[f"{c}/{i}.mp4"] == "test" for i in range(10)) == 2
    assert all(s == "train" for s in assign_splits(videos[:1], 0.5, seed=0).values())


# --- errors ------------------------------------------------------------------------------------
def test_clear_errors_for_bad_roots(tmp_path):
    with pytest.raises(MissingFileError, match="no such video folder"):
        find_videos(tmp_path / "absent")
    (tmp_path / "file.mp4").write_bytes(b"x")
    with pytest.raises(InvalidInputError, match="got a file"):
        find_videos(tmp_path / "file.mp4")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no class folders"):
        find_videos(tmp_path / "empty")
    (tmp_path / "empty" / "walk").mkdir()
    (tmp_path / "empty" / "walk" / "readme.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="no video files"):
        find_videos(tmp_path / "empty")
    (tmp_path / "empty" / "train").mkdir()
    with pytest.raises(InvalidInputError, match="mixes split folders"):
        find_videos(tmp_path / "empty")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_frames": 0}, "num_frames"),
        ({"stride": 0}, "stride"),
        ({"frames_per_clip": 40}, "frames_per_clip"),
        ({"test_fraction": 1.0}, "test_fraction"),
        ({"max_frames": 0}, "max_frames"),
        ({"layout": "nope"}, "unknown joint layout"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        ExtractionConfig(**kwargs)


def test_no_readable_video_is_an_error_and_writes_nothing(root, tmp_path):
    bad = tmp_path / "bad"
    (bad / "walk").mkdir(parents=True)
    shutil.copy(root / "exercise" / "corrupt.mp4", bad / "walk" / "x.mp4")
    (bad / "walk" / "y.avi").write_bytes(b"")
    out = tmp_path / "out" / "data.npz"
    with pytest.raises(DataFormatError, match="none of the 2 videos"):
        extract_dataset(bad, out, FakeEstimator(), CONFIG, progress=False, warn=lambda _: None)
    assert not (tmp_path / "out").exists()


def test_a_class_without_readable_video_is_warned_about(root, tmp_path):
    folder = tmp_path / "root"
    shutil.copytree(root, folder, symlinks=True)
    (folder / "exercise" / "exercise.avi").unlink()
    warnings: list[str] = []
    result = extract_dataset(folder, tmp_path / "d.npz", FakeEstimator(), CONFIG, progress=False, warn=warnings.append)
    assert any("'exercise' has no readable video" in w for w in warnings)
    assert result.dataset.class_names == ("exercise", "tai_chi") and set(result.dataset.y_train) == {1}
