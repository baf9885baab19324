"""A multimodal pose dataset from a folder of videos: pose estimation, clips, RGB frames, a resumable run.

Videos are laid out ``ROOT/<class>/<clip>.<ext>`` (HAA500, Kinetics; sub-folders inside a class
folder are searched too), or ``ROOT/train/<class>/...`` and ``ROOT/test/<class>/...`` (and ``val``) to
keep the user's own split. Every frame of every video goes through a pose estimator; the main person
of each frame (:meth:`~har_tf.inference.pose.base.PoseEstimator.main_person`) is kept, in the
estimator's layout or converted to ``layout``. Frames are letterboxed into ``image_size`` squares
(:class:`~har_tf.data.video.Letterbox`) and the poses are stored in the square's pixels, as the
multimodal models take them. Clips are windows of T = ``num_frames`` consecutive frames every
``stride`` frames (frames after the last whole window are left out); a video shorter than T gives one
clip padded at the end with all-zero pose frames, whose RGB frames repeat the last real frame. The
split is by video (every window of a video in the same split), stratified by class and seeded:
``round(test_fraction * n)`` of a class's n readable videos go to test, at least one when n >= 2 and at
most n - 1. Classes are the sorted class folder names; a class without a readable video keeps its
label (and is warned about).

The output NPZ (read by :func:`~har_tf.data.pose_npz.load_pose_npz` and ``scripts/train.py --data``;
``<split>`` is ``train``, ``test``, or ``val`` in a user split; an empty split is left out):

==========================  ======================  =================================================
key                         dtype / shape           meaning
==========================  ======================  =================================================
``x_<split>``               float32 (N, T, J, 3)    pose clips, (x, y, score) in square pixels
``y_<split>``               int64 (N,)              class index of each clip
``class_names``             str (K,)                the class folder names, sorted
``layout``                  str ()                  joint layout of the poses (coco17 for MoveNet)
``frame_indices``           int64 (F,)              positions in a clip of its RGB frames
``image_size``              int64 (2,)              [S, S], the square frames' size
``frames_<split>_jpeg``     uint8 (bytes,)          JPEG frames of the clips (see ``data/frames.py``)
``frames_<split>_offsets``  int64 (N * F + 1,)      frame k of clip i: ``offsets[i * F + k]``
``video_<split>``           str (N,)                video of each clip, relative to ROOT
``clip_start_<split>``      int64 (N,)              first video frame of each clip
``videos_<split>``          str (V,)                the split's videos, relative to ROOT
``video_size_<split>``      int64 (V, 2)            [width, height] of each video
``fps_<split>``             float64 (V,)            frames per second of each video
``poses_<split>``           float32 (M, J, 3)       the main person of every frame of every video
``poses_<split>_offsets``   int64 (V + 1,)          video v: ``poses[offsets[v]:offsets[v + 1]]``
``objects_<split>``         float32 (N, T, K, 6)    with detections: each clip's objects (see below)
``object_classes``          str (O,)                with detections: the object class names, "none" first
``extraction_info``         str ()                  JSON: estimator, detections, settings, ROOT
==========================  ======================  =================================================

Objects (optional, ``detections=``): a detector run on every frame (:class:`DetectorSource`) or a
detections JSON folder per video (:class:`DetectionJsonFolders`, ``DETECTIONS/<class>/<clip>/`` as
OpenPose's). Each frame's detections are mapped to the dataset's object classes, moved into the square
through the same letterbox as the keypoints (clipped to it), ordered by nearness to the frame's person
and cut to ``max_objects`` rows (:func:`~har_tf.inference.detection.frame_objects`); a clip's
``(T, K, 6)`` objects are its frames' rows (zero rows for frames without detections and for a short
video's padding), in the raw format of :mod:`har_tf.data.objects`.

Square pixels map back to a video's pixels with ``Letterbox(width, height, S).to_video``.

Resumable: each video's result (its poses, the JPEG frames its windows use, size and fps, its objects)
is written atomically to ``DATA.parts/<video>.npz`` as soon as it is done; a rerun with the same
settings reuses every readable part file (a truncated or stale one is extracted again; the detections
source, its object classes and ``max_objects`` are settings too, so a part written without detections is
extracted again when they are asked for). ``DATA.report.json`` lists the skipped videos with the
reason, per-class counts, clips per split and the extraction speed. The parts folder is removed once
the NPZ is written, unless ``keep_parts``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import pickle
import re
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from har_tf.config import DictConfig
from har_tf.data.checks import positive_int
from har_tf.data.detections import check_class_names
from har_tf.data.frames import encode_jpeg, frame_indices
from har_tf.data.pose_npz import PoseDataset, read_npz, save_npz_atomic
from har_tf.data.video import Letterbox, VideoReader
from har_tf.errors import DataFormatError, HARError, InvalidInputError, MissingFileError, expect
from har_tf.inference.detection import (
    AnnotationDetector,
    ObjectDetector,
    class_map_by_name,
    detect_frame,
    frame_objects,
    letterbox_detections,
)
from har_tf.inference.pose.base import PoseEstimator
from har_tf.io import atomic_write
from har_tf.skeleton.layouts import get_layout

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp")
USER_SPLITS = ("train", "val", "test")
PART_VERSION = 1  # bump when the part files' content changes: old parts are then extracted again
log = logging.getLogger(__name__)

#: a pose source: one estimator for every video, or a callable giving the estimator of a video
PoseSource = PoseEstimator | Callable[["VideoEntry"], PoseEstimator]


@dataclasses.dataclass(frozen=True)
class ExtractionConfig(DictConfig):
    """The settings of an extraction (see the module docstring)."""

    num_frames: int = 30
    stride: int = 15
    frames_per_clip: int = 8
    image_size: int = 224
    test_fraction: float = 0.2
    seed: int = 0
    max_frames: int | None = None  # read at most this many frames of each video
    layout: str | None = None  # convert the poses to this layout (default: the estimator's)
    jpeg_quality: int = 90
    max_objects: int = 4  # K, object rows per frame (with detections only)

    def __post_init__(self) -> None:
        T, F = self.num_frames, self.frames_per_clip
        expect(T >= 1, f"num_frames (T) must be at least 1, got {T}")
        expect(self.stride >= 1, f"stride must be at least 1 frame, got {self.stride}")
        expect(1 <= F <= T, f"frames_per_clip must be between 1 and num_frames ({T}), got {F}")
        expect(self.image_size >= 16, f"image_size must be at least 16 pixels, got {self.image_size}")
        expect(0.0 <= self.test_fraction < 1.0, f"test_fraction must be in [0, 1), got {self.test_fraction}")
        expect(
            self.max_frames is None or self.max_frames >= 1,
            f"max_frames must be at least 1 (or None for every frame), got {self.max_frames}",
        )
        expect(1 <= self.jpeg_quality <= 100, f"jpeg_quality must be in 1..100, got {self.jpeg_quality}")
        expect(self.max_objects >= 1, f"max_objects (K, rows per frame) must be at least 1, got {self.max_objects}")
        if self.layout is not None:
            get_layout(self.layout)

    def part_key(self, estimator: str, detections: dict | None = None) -> str:
        """What a part file depends on: the estimator, every setting but the split's and, when objects are
        extracted, the detections source (``{"source", "object_classes"}``) and ``max_objects``. Without
        detections the key is what it was before objects existed, so older parts stay valid."""
        settings = {k: v for k, v in self.to_dict().items() if k not in ("test_fraction", "seed", "max_objects")}
        content = {"version": PART_VERSION, "estimator": estimator, **settings}
        if detections is not None:
            content["detections"] = {**detections, "max_objects": self.max_objects}
        text = json.dumps(content, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class VideoEntry:
    """One video of ROOT: its file, its path relative to ROOT, its class and (in a user split) its split."""

    path: Path
    relative: str
    label: int
    class_name: str
    split: str | None = None


@dataclasses.dataclass
class ExtractionResult:
    """What :func:`extract_dataset` wrote: the NPZ, its report, the dataset and the report's content."""

    path: Path
    report_path: Path
    dataset: PoseDataset
    report: dict


# --- finding the videos ------------------------------------------------------------------------
def _visible_dirs(folder: Path, exclude: Iterable[Path] = ()) -> list[Path]:
    skip = {p.resolve() for p in exclude}
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p.resolve() not in skip)


def _video_files(folder: Path) -> list[Path]:
    found = []
    for path in folder.rglob("*"):
        hidden = any(part.startswith(".") for part in path.relative_to(folder).parts)
        if not hidden and path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
            found.append(path)
    return sorted(found)


def find_videos(root: str | os.PathLike, exclude: Iterable[Path] = ()) -> tuple[list[str], list[VideoEntry]]:
    """The class names (sorted folder names) and every video file of ROOT, with clear errors for a
    missing ROOT, a ROOT without class folders and one without videos."""
    root = Path(root)
    if not root.exists():
        raise MissingFileError(f"no such video folder: {root}")
    if not root.is_dir():
        raise InvalidInputError(f"expected a folder of class folders (ROOT/<class>/<clip>.mp4), got a file: {root}")
    top = _visible_dirs(root, exclude)
    names = {p.name for p in top}
    user_split = bool(names) and names <= set(USER_SPLITS)
    if not user_split and names & {"train", "test"}:
        raise InvalidInputError(
            f"{root} mixes split folders {sorted(names & set(USER_SPLITS))} with class folders "
            f"{sorted(names - set(USER_SPLITS))[:5]}: use ROOT/<class>/ or ROOT/train/<class>/ "
            "and ROOT/test/<class>/"
        )
    if user_split and "train" not in names:
        raise InvalidInputError(f"{root} has split folders {sorted(names)} but no 'train' folder")
    groups = [(p.name, _visible_dirs(p, exclude)) for p in top] if user_split else [(None, top)]
    class_names = sorted({d.name for _, dirs in groups for d in dirs})
    if not class_names:
        where = "ROOT/train/" if user_split else "ROOT/"
        raise InvalidInputError(
            f"{root} has no class folders: expected {where}<class>/<clip>.mp4 (HAA500 / Kinetics "
            "layout), one folder per action class"
        )
    videos = [
        VideoEntry(path, path.relative_to(root).as_posix(), class_names.index(d.name), d.name, split)
        for split, dirs in groups
        for d in dirs
        for path in _video_files(d)
    ]
    if not videos:
        raise InvalidInputError(
            f"found no video files ({', '.join(VIDEO_EXTENSIONS)}) in the {len(class_names)} class folders of {root}"
        )
    return class_names, sorted(videos, key=lambda v: v.relative)


def assign_splits(videos: list[VideoEntry], test_fraction: float, seed: int) -> dict[str, str]:
    """``relative path -> split``: the user's split folders, or a seeded split by video, stratified by class."""
    if any(v.split is not None for v in videos):
        return {v.relative: v.split or "train" for v in videos}
    splits = {}
    for label in sorted({v.label for v in videos}):
        members = sorted(v.relative for v in videos if v.label == label)
        n = len(members)
        n_test = 0 if n < 2 or test_fraction == 0 else min(n - 1, max(1, int(round(test_fraction * n))))
        order = np.random.default_rng([seed, label]).permutation(n)
        for rank, index in enumerate(order):
            splits[members[index]] = "test" if rank < n_test else "train"
    return splits


# --- clips -------------------------------------------------------------------------------------
def clip_starts(num_video_frames: int, num_frames: int, stride: int) -> np.ndarray:
    """First frame of each window of ``num_frames`` frames every ``stride`` (one window for a short video)."""
    if num_video_frames < 1:
        return np.zeros(0, np.int64)
    if num_video_frames <= num_frames:
        return np.zeros(1, np.int64)
    return np.arange(0, num_video_frames - num_frames + 1, stride, dtype=np.int64)


def clip_frame_positions(num_video_frames: int, config: ExtractionConfig) -> np.ndarray:
    """``(C, F)`` video frames shown by each clip's RGB frames (past the end: the last frame)."""
    starts = clip_starts(num_video_frames, config.num_frames, config.stride)
    positions = starts[:, None] + frame_indices(config.num_frames, config.frames_per_clip)[None]
    return np.minimum(positions, num_video_frames - 1)


def clip_pose(poses: np.ndarray, start: int, num_frames: int) -> np.ndarray:
    """``(T, J, 3)`` frames ``start .. start + T`` of a video's poses, padded with zero frames at the end."""
    window = poses[start : start + num_frames]
    if len(window) == num_frames:
        return window
    pad = np.zeros((num_frames - len(window),) + poses.shape[1:], np.float32)
    return np.concatenate([window, pad])


# --- one video ---------------------------------------------------------------------------------
def _maybe_needed(t: int, offsets: np.ndarray, stride: int) -> bool:
    """Whether frame ``t`` is an RGB frame of some window starting at a multiple of ``stride``."""
    back = t - offsets
    return bool(np.any((back >= 0) & (back % stride == 0)))


def _jpeg(square: np.ndarray, quality: int) -> np.ndarray:
    blob, _ = encode_jpeg([square], quality)
    return blob


def extract_video(
    path: str | os.PathLike,
    estimator: PoseEstimator,
    config: ExtractionConfig,
    detector: ObjectDetector | None = None,
    class_map: dict[int, int] | None = None,
) -> dict[str, np.ndarray]:
    """One video's part: ``poses`` (M, J, 3) in square pixels, the JPEGs of the frames its clips show
    (``jpeg``, ``jpeg_offsets``, ``jpeg_frames``), ``size`` [w, h], ``fps``, ``seconds``, ``layout``; with
    a ``detector`` (its classes mapped to the dataset's by ``class_map``) also ``objects`` (M, K, 6) in
    square pixels (see the module docstring).

    Raises :class:`~har_tf.errors.HARError` for a video that cannot be read, a still image or one of fewer than
    2 frames (see ``VideoReader``)."""
    start = time.perf_counter()
    estimator.reset()
    if detector is not None and hasattr(detector, "reset"):
        detector.reset()
    layout = config.layout or estimator.layout
    offsets = np.unique(frame_indices(config.num_frames, config.frames_per_clip))
    poses, objects, chunks, last = [], [], {}, None
    with VideoReader(path, max_frames=config.max_frames) as reader:
        box = Letterbox(reader.info.width, reader.info.height, config.image_size)
        for t, frame in enumerate(reader):
            pose = box.to_square(estimator.main_person(frame, layout=layout))
            pose[..., :2] = np.clip(pose[..., :2], 0.0, config.image_size)  # joints MoveNet puts on the bars
            poses.append(pose)
            if detector is not None:
                found = letterbox_detections(detect_frame(detector, frame, t), box)
                objects.append(frame_objects(found, config.max_objects, class_map, pose))
            if _maybe_needed(t, offsets, config.stride):
                chunks[t] = _jpeg(box.apply(frame), config.jpeg_quality)
            last = frame
        fps = reader.info.fps
    count = len(poses)
    needed = np.unique(clip_frame_positions(count, config))
    if count - 1 in needed and count - 1 not in chunks:
        chunks[count - 1] = _jpeg(box.apply(last), config.jpeg_quality)
    kept = [chunks[int(t)] for t in needed]
    jpeg_offsets = np.zeros(len(kept) + 1, np.int64)
    jpeg_offsets[1:] = np.cumsum([c.size for c in kept])
    out = {
        "poses": np.stack(poses).astype(np.float32),
        "jpeg": np.concatenate(kept).astype(np.uint8),
        "jpeg_offsets": jpeg_offsets,
        "jpeg_frames": needed.astype(np.int64),
        "size": np.asarray([box.width, box.height], np.int64),
        "fps": np.asarray(fps, np.float64),
        "seconds": np.asarray(time.perf_counter() - start, np.float64),
        "layout": np.asarray(get_layout(layout).name),
    }
    if detector is not None:
        out["objects"] = np.stack(objects).astype(np.float32)
    return out


# --- pose sources ------------------------------------------------------------------------------
class EstimatorSource:
    """An estimator made by name (:func:`~har_tf.inference.pose.make_estimator`: ``movenet`` from a .tflite
    file or TF Hub handle, ``blazepose`` from its model folder), built once per process on first use;
    picklable, for ``workers > 1``. ``track``: follow the person from frame to frame (reset per video)."""

    def __init__(
        self,
        estimator: str = "movenet",
        model: str | os.PathLike | None = None,
        num_threads: int | None = None,
        track: bool = True,
    ):
        if estimator not in ("movenet", "blazepose"):
            raise InvalidInputError(f"expected the estimator 'movenet' or 'blazepose', got {estimator!r}")
        if estimator == "movenet" and model is not None:
            from har_tf.inference.pose.movenet import resolve_model_file

            model = resolve_model_file(model)  # a TF Hub handle is downloaded here, once
        self.estimator, self.model = estimator, None if model is None else str(model)
        self.num_threads, self.track = num_threads, bool(track)
        self._loaded: PoseEstimator | None = None

    @property
    def name(self) -> str:
        model = Path(self.model).name if self.model else "default"
        return f"{self.estimator}:{model}:track={self.track}"

    def load(self) -> PoseEstimator:
        """The estimator (loading the model: a clear error for a missing or wrong file)."""
        if self._loaded is None:
            from har_tf.inference.pose import make_estimator

            self._loaded = make_estimator(self.estimator, self.model, num_threads=self.num_threads, track=self.track)
        return self._loaded

    def __call__(self, video: VideoEntry) -> PoseEstimator:
        return self.load()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_loaded": None}


def video_folder(root: Path, video: VideoEntry, what: str) -> Path:
    """A video's folder of per-frame files under ``root``: ``<class>/<clip>/`` (``<clip>`` = the video's
    file stem), or a folder mirroring the video tree (``<video path without its extension>/``)."""
    candidates = [root / video.class_name / Path(video.relative).stem, root / Path(video.relative).with_suffix("")]
    for folder in candidates:
        if folder.is_dir():
            return folder
    raise MissingFileError(f"no {what} for {video.relative}: expected {candidates[0]}/")


class OpenPoseJsonFolders:
    """OpenPose JSON per video: ``JSON/<class>/<clip>/`` (``<clip>`` = the video's file stem), or a folder
    mirroring ROOT (``JSON/<video path without its extension>/``)."""

    def __init__(self, json_root: str | os.PathLike, layout: str = "auto"):
        self.json_root, self.layout = Path(json_root), layout
        if not self.json_root.is_dir():
            raise MissingFileError(f"no such OpenPose JSON folder: {self.json_root}")

    @property
    def name(self) -> str:
        return f"openpose-json:{self.json_root.resolve()}:{self.layout}"

    def folder_for(self, video: VideoEntry) -> Path:
        """The JSON folder of a video, or MissingFileError naming where it was looked for."""
        return video_folder(self.json_root, video, "OpenPose JSON folder")

    def __call__(self, video: VideoEntry) -> PoseEstimator:
        from har_tf.inference.pose.openpose_source import OpenPoseJsonSource

        return OpenPoseJsonSource(self.folder_for(video), self.layout)


# --- detections sources ------------------------------------------------------------------------
def _dataset_classes(names) -> tuple[str, ...]:
    """Object class names as a label map: ``"none"`` first (added when missing), no blanks or repeats."""
    if isinstance(names, (str, bytes)):
        raise InvalidInputError(f"object classes must be a list of names, got the string {names!r}")
    names = [str(n).strip() for n in names]
    names = names[1:] if names and names[0].lower() == "none" else names
    if not names or any(not n or n.lower() == "none" for n in names) or len({n.lower() for n in names}) != len(names):
        raise InvalidInputError(f"object classes must be distinct, non-empty names besides 'none', got {names}")
    return check_class_names(["none", *names])


class DetectorSource:
    """An object detector run on every frame (:func:`~har_tf.inference.detection.make_detector`: a
    ``.tflite`` file, a SavedModel folder or a hub handle, ``kwargs`` such as ``class_names``,
    ``min_score``; or an :class:`~har_tf.inference.detection.ObjectDetector`), built once per process on
    first use; picklable when given by path, for ``workers > 1``.

    ``object_classes``: the dataset's object classes (``"none"`` first, added when missing); the
    detector's classes are mapped to them by name (:func:`~har_tf.inference.detection.class_map_by_name`)
    and detections of other classes are dropped. Default: every named class of the detector's label map.
    """

    def __init__(self, detector: str | os.PathLike | ObjectDetector, object_classes=None, **kwargs):
        self.spec, self.kwargs = detector, kwargs
        self._given = None if object_classes is None else _dataset_classes(object_classes)
        self._loaded: ObjectDetector | None = detector if isinstance(detector, ObjectDetector) else None

    @property
    def name(self) -> str:
        spec = self.spec
        if isinstance(spec, ObjectDetector):
            what = type(spec).__name__ + (f":{Path(spec.path).resolve()}" if hasattr(spec, "path") else "")
        else:  # the whole path: every TF2 Detection Zoo model is a folder named saved_model
            what = str(Path(spec).resolve()) if Path(spec).exists() else str(spec)
        options = dict(self.kwargs)
        if options.get("class_names") is not None:  # a label map is long: its hash tells two apart
            names = json.dumps([str(n) for n in options["class_names"]])
            options["class_names"] = hashlib.sha1(names.encode()).hexdigest()[:8]
        return f"detector:{what}:{json.dumps(options, sort_keys=True, default=str)}"

    def load(self) -> ObjectDetector:
        """The detector (loading the model: a clear error for a missing or wrong file, or unknown labels)."""
        if self._loaded is None:
            from har_tf.inference.detection import make_detector

            self._loaded = make_detector(self.spec, **self.kwargs)
        if self._loaded.names is None:
            raise InvalidInputError(
                "the detector's label names are unknown: give its label map (class_names, "
                "e.g. COCO_LABELS / --detector-labels coco for the TF2 Detection Zoo "
                "models)"
            )
        return self._loaded

    @property
    def object_classes(self) -> tuple[str, ...]:
        """The dataset's object classes (loading the detector; an error when none of its classes is one)."""
        if self._given is not None:
            class_map_by_name(self.load().names, self._given)
            return self._given
        names = [n for n in self.load().names[1:] if n.strip() and n.strip() != "???"]
        return _dataset_classes(list(dict.fromkeys(names)))

    @property
    def class_map(self) -> dict[int, int]:
        return class_map_by_name(self.load().names, self.object_classes)

    def __call__(self, video: VideoEntry) -> ObjectDetector:
        return self.load()

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_loaded": None if not isinstance(self.spec, ObjectDetector) else self._loaded}


class DetectionJsonFolders:
    """Detections JSON per video (:mod:`har_tf.data.detections`): ``DETECTIONS/<class>/<clip>/``
    (``<clip>`` = the video's file stem), or a folder mirroring ROOT, as :class:`OpenPoseJsonFolders`;
    they may be the OpenPose JSON folders themselves. ``object_classes``: the dataset's object classes
    (``"none"`` first, added when missing), the names (or ids) the files use. A frame without a file has
    no detections; a video without a folder is skipped with the reason."""

    class_map = None  # the files' ids are the dataset's

    def __init__(self, root: str | os.PathLike, object_classes):
        self.root = Path(root)
        if not self.root.is_dir():
            raise MissingFileError(f"no such detections folder: {self.root}")
        self.object_classes = _dataset_classes(object_classes)

    @property
    def name(self) -> str:
        return f"detections-json:{self.root.resolve()}"

    def folder_for(self, video: VideoEntry) -> Path:
        """The detections folder of a video, or MissingFileError naming where it was looked for."""
        return video_folder(self.root, video, "detections folder")

    def __call__(self, video: VideoEntry) -> AnnotationDetector:
        return AnnotationDetector.from_folder(self.folder_for(video), self.object_classes)


#: where a video's detections come from: :class:`DetectorSource` or :class:`DetectionJsonFolders`
DetectionSource = DetectorSource | DetectionJsonFolders


def _check_detections(detections) -> None:
    if detections is not None and not isinstance(detections, (DetectorSource, DetectionJsonFolders)):
        raise InvalidInputError(
            f"detections must be a DetectorSource or DetectionJsonFolders, got {type(detections).__name__}"
        )


def source_name(source: PoseSource) -> str:
    """A description of a pose source for the part files' key and the report."""
    name = getattr(source, "name", None)
    if isinstance(name, str):
        return name
    path = getattr(source, "path", None)
    extra = f":{Path(path).name}" if path is not None else ""
    return f"{type(source).__name__}{extra}:{getattr(source, 'layout', '')}"


def _estimator_for(source: PoseSource, video: VideoEntry) -> PoseEstimator:
    return source if isinstance(source, PoseEstimator) else source(video)


# --- part files --------------------------------------------------------------------------------
def part_path(parts_dir: Path, relative: str) -> Path:
    """The part file of a video: a readable name from its path, and a hash of it against collisions."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", relative.replace("/", "__"))[-80:]
    return parts_dir / f"{readable}-{hashlib.sha1(relative.encode()).hexdigest()[:8]}.npz"


PART_KEYS = ("poses", "jpeg", "jpeg_offsets", "jpeg_frames", "size", "fps", "seconds", "layout", "key")


def load_part(path: Path, key: str, objects: bool = False) -> dict[str, np.ndarray] | None:
    """A part file's arrays, or None when it is absent, unreadable (e.g. truncated), from other settings
    or (``objects``) without the objects of every frame."""
    if not path.is_file():
        return None
    try:
        arrays = read_npz(path)
    except HARError:
        return None
    if any(k not in arrays for k in PART_KEYS) or str(arrays["key"]) != key:
        return None
    if objects and ("objects" not in arrays or len(arrays["objects"]) != len(arrays["poses"])):
        return None
    return arrays


@dataclasses.dataclass
class VideoOutcome:
    """How one video went: ``error`` is the reason it was skipped, or None."""

    relative: str
    error: str | None = None
    frames: int = 0
    seconds: float = 0.0
    notes: tuple[str, ...] = ()


def _json_notes(estimator: PoseEstimator, frames: int, config: ExtractionConfig, relative: str) -> tuple[str, ...]:
    from har_tf.inference.pose.openpose_source import OpenPoseJsonSource

    if not isinstance(estimator, OpenPoseJsonSource):
        return ()
    expected = estimator.num_frames
    cut = config.max_frames is not None and frames >= config.max_frames
    if frames == expected or (cut and frames < expected):
        return ()
    return (
        f"{relative}: the video has {frames} frames but its OpenPose JSON folder has {expected} files "
        f"(aligned from frame 0; frames without JSON have no pose)",
    )


def _detections_note(detector, frames: int, config: ExtractionConfig, relative: str) -> tuple[str, ...]:
    if not isinstance(detector, AnnotationDetector) or len(detector) <= frames:
        return ()
    if config.max_frames is not None and frames >= config.max_frames:
        return ()
    return (
        f"{relative}: the video has {frames} frames but its detections folder goes to frame {len(detector) - 1} "
        "(aligned from frame 0; the later files are unused)",
    )


def process_video(
    video: VideoEntry,
    source: PoseSource,
    config: ExtractionConfig,
    key: str,
    parts_dir: Path,
    detections: DetectionSource | None = None,
) -> VideoOutcome:
    """Extract one video into its part file; a video that cannot be read gives an outcome with the reason."""
    detector = None
    try:
        estimator = _estimator_for(source, video)
        class_map = None
        if detections is not None:
            detector, class_map = detections(video), detections.class_map
        arrays = extract_video(video.path, estimator, config, detector, class_map)
    except (HARError, OSError, cv2.error) as err:
        return VideoOutcome(video.relative, error=str(err) or type(err).__name__)
    arrays["key"] = np.asarray(key)
    save_npz_atomic(part_path(parts_dir, video.relative), arrays, compress=False)
    frames = len(arrays["poses"])
    notes = _json_notes(estimator, frames, config, video.relative)
    return VideoOutcome(
        video.relative,
        None,
        frames,
        float(arrays["seconds"]),
        notes + _detections_note(detector, frames, config, video.relative),
    )


_WORKER: dict = {}


def _init_worker(
    source: PoseSource, config: ExtractionConfig, key: str, parts_dir: Path, detections: DetectionSource | None = None
) -> None:
    _WORKER.update(source=source, config=config, key=key, parts_dir=parts_dir, detections=detections)


def _worker_task(video: VideoEntry) -> VideoOutcome:
    return process_video(
        video, _WORKER["source"], _WORKER["config"], _WORKER["key"], _WORKER["parts_dir"], _WORKER["detections"]
    )


def _run_videos(
    todo: list[VideoEntry],
    source: PoseSource,
    config: ExtractionConfig,
    key: str,
    parts_dir: Path,
    workers: int,
    detections: DetectionSource | None = None,
) -> Iterator[VideoOutcome]:
    """Each video's outcome as it finishes: in this process, or in ``workers`` processes."""
    if workers <= 1 or len(todo) <= 1:
        for video in todo:
            yield process_video(video, source, config, key, parts_dir, detections)
        return
    for what, item in (("pose source (e.g. EstimatorSource)", source), ("detections source", detections)):
        try:
            pickle.dumps(item)
        except Exception as err:  # noqa: BLE001 - whatever pickling raises
            raise InvalidInputError(
                f"workers > 1 needs a picklable {what}, got {type(item).__name__} ({err})"
            ) from None
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # TensorFlow and OpenCV threads do not survive a fork
    pool = ProcessPoolExecutor(
        min(workers, len(todo)),
        mp_context=context,
        initializer=_init_worker,
        initargs=(source, config, key, parts_dir, detections),
    )
    try:
        futures = [pool.submit(_worker_task, video) for video in todo]
        for future in as_completed(futures):
            yield future.result()
    finally:
        pool.shutdown(cancel_futures=True)


# --- assembling the dataset --------------------------------------------------------------------
def _clip_jpegs(part: dict, positions: np.ndarray) -> list[np.ndarray]:
    where = np.searchsorted(part["jpeg_frames"], positions)
    offsets = part["jpeg_offsets"]
    return [part["jpeg"][offsets[i] : offsets[i + 1]] for i in where]


def _split_arrays(split: str, videos: list[VideoEntry], parts: dict[str, dict], config: ExtractionConfig) -> dict:
    x, y, names, starts, jpegs, objects = [], [], [], [], [], []
    for video in videos:
        part = parts[video.relative]
        count = len(part["poses"])
        for start, positions in zip(
            clip_starts(count, config.num_frames, config.stride), clip_frame_positions(count, config)
        ):
            x.append(clip_pose(part["poses"], int(start), config.num_frames))
            if "objects" in part:
                objects.append(clip_pose(part["objects"], int(start), config.num_frames))
            y.append(video.label)
            names.append(video.relative)
            starts.append(int(start))
            jpegs.extend(_clip_jpegs(part, positions))
    offsets = np.zeros(len(jpegs) + 1, np.int64)
    offsets[1:] = np.cumsum([j.size for j in jpegs])
    pose_offsets = np.zeros(len(videos) + 1, np.int64)
    pose_offsets[1:] = np.cumsum([len(parts[v.relative]["poses"]) for v in videos])
    arrays = {f"objects_{split}": np.stack(objects).astype(np.float32)} if objects else {}
    return {
        **arrays,
        f"x_{split}": np.stack(x).astype(np.float32),
        f"y_{split}": np.asarray(y, np.int64),
        f"frames_{split}_jpeg": np.concatenate(jpegs).astype(np.uint8),
        f"frames_{split}_offsets": offsets,
        f"video_{split}": np.asarray(names, dtype=str),
        f"clip_start_{split}": np.asarray(starts, np.int64),
        f"videos_{split}": np.asarray([v.relative for v in videos], dtype=str),
        f"video_size_{split}": np.stack([parts[v.relative]["size"] for v in videos]).astype(np.int64),
        f"fps_{split}": np.asarray([float(parts[v.relative]["fps"]) for v in videos], np.float64),
        f"poses_{split}": np.concatenate([parts[v.relative]["poses"] for v in videos]).astype(np.float32),
        f"poses_{split}_offsets": pose_offsets,
    }


def _common_layout(parts: dict[str, dict]) -> str:
    layouts = {}
    for relative, part in parts.items():
        layouts.setdefault(str(part["layout"]), relative)
    if len(layouts) > 1:
        found = ", ".join(f"{name} (e.g. {video})" for name, video in sorted(layouts.items()))
        raise DataFormatError(
            f"the videos' poses come in different layouts: {found}; pass a layout to convert "
            "them all to (--layout coco17)"
        )
    return next(iter(layouts))


def build_dataset(
    class_names: list[str],
    videos: list[VideoEntry],
    parts: dict[str, dict],
    config: ExtractionConfig,
    info: dict,
    object_classes=None,
) -> PoseDataset:
    """The multimodal :class:`PoseDataset` of the extracted videos (``parts``: relative path -> part arrays;
    with ``object_classes``, each part's ``objects`` become ``objects_<split>``)."""
    if object_classes is not None and any("objects" not in p for p in parts.values()):
        raise DataFormatError("object_classes given but some extracted videos have no objects")
    readable = [v for v in videos if v.relative in parts]
    split_of = assign_splits(readable, config.test_fraction, config.seed)
    arrays = {}
    for split in USER_SPLITS:
        members = [v for v in readable if split_of[v.relative] == split]
        if members:
            arrays.update(_split_arrays(split, members, parts, config))
    if "x_train" not in arrays:
        raise DataFormatError("no training clips: every readable video is in a test or val folder")
    splits = {k: v for k, v in arrays.items() if k.startswith(("x_", "y_"))}
    extras = {k: v for k, v in arrays.items() if k not in splits}
    extras.update(
        frame_indices=frame_indices(config.num_frames, config.frames_per_clip),
        image_size=np.asarray([config.image_size, config.image_size], np.int64),
        extraction_info=np.asarray(json.dumps(info, sort_keys=True)),
    )
    if object_classes is not None:
        extras["object_classes"] = np.asarray(object_classes, dtype=str)
    else:
        extras = {k: v for k, v in extras.items() if not k.startswith("objects_")}
    return PoseDataset(class_names=class_names, layout=_common_layout(parts), extras=extras, **splits)


def _report(class_names, videos, outcomes, parts, dataset, info, wall: float) -> dict:
    skipped = [{"video": o.relative, "reason": o.error} for o in outcomes.values() if o.error]
    fresh = [o for o in outcomes.values() if o.error is None]
    frames = sum(len(p["poses"]) for p in parts.values())
    seconds = sum(float(p["seconds"]) for p in parts.values())
    run_frames, run_seconds = sum(o.frames for o in fresh), sum(o.seconds for o in fresh)
    clips = {s: int(len(dataset.split(s)[1])) for s in dataset.splits}
    classes = {}
    for label, name in enumerate(class_names):
        mine = [v for v in videos if v.label == label]
        per_split = {s: int(np.sum(dataset.split(s)[1] == label)) for s in dataset.splits}
        classes[name] = {
            "videos": len(mine),
            "readable": sum(v.relative in parts for v in mine),
            "skipped": sum(v.relative not in parts for v in mine),
            "clips": per_split,
        }
    return {
        **info,
        "videos": {
            "found": len(videos),
            "readable": len(parts),
            "skipped": len(skipped),
            "extracted": len(fresh),
            "resumed": len(parts) - len(fresh),
        },
        "clips": clips,
        "classes": classes,
        "frames": frames,
        "seconds": round(seconds, 3),
        "frames_per_second": round(frames / seconds, 1) if seconds > 0 else None,
        "this_run": {
            "videos": len(fresh),
            "frames": run_frames,
            "seconds": round(run_seconds, 3),
            "frames_per_second": round(run_frames / run_seconds, 1) if run_seconds > 0 else None,
        },
        "wall_seconds": round(wall, 3),
        "skipped": skipped,
        "extracted": sorted(o.relative for o in fresh),
        "resumed": sorted(r for r in parts if r not in outcomes),
    }


def _remove_parts(parts_dir: Path, videos: list[VideoEntry]) -> None:
    """Delete this dataset's part files (and stray temporary files), then the folder if that empties it."""
    for video in videos:
        part_path(parts_dir, video.relative).unlink(missing_ok=True)
    for stray in parts_dir.glob(".*.tmp"):
        stray.unlink(missing_ok=True)
    if parts_dir.is_dir() and not any(parts_dir.iterdir()):
        parts_dir.rmdir()


def extract_dataset(
    root: str | os.PathLike,
    out: str | os.PathLike,
    source: PoseSource,
    config: ExtractionConfig | None = None,
    *,
    workers: int = 1,
    keep_parts: bool = False,
    progress: bool = True,
    warn: Callable[[str], None] | None = None,
    detections: DetectionSource | None = None,
) -> ExtractionResult:
    """Extract the videos of ``root`` into the multimodal dataset NPZ ``out`` (see the module docstring).

    Args:
        source: a :class:`PoseEstimator` for every video, or a callable ``VideoEntry -> PoseEstimator``
            (:class:`EstimatorSource`, :class:`OpenPoseJsonFolders`); ``workers > 1`` needs a picklable one.
        detections: where each video's object detections come from (:class:`DetectorSource`,
            :class:`DetectionJsonFolders`), or None for no objects; ``config.max_objects`` rows per frame.
        workers: processes extracting videos side by side (1: this process).
        keep_parts: keep ``out``'s ``.parts`` folder after success.
        progress: a progress bar over the videos (only on a terminal).
        warn: called with each warning line (default: the module's logger).
    """
    config = config or ExtractionConfig()
    warn = warn or log.warning
    workers = positive_int(workers, "workers", "a positive number of processes")
    out = Path(out)
    if out.is_dir():
        raise InvalidInputError(f"the output must be an .npz file path, got a folder: {out}")
    parts_dir, report_path = out.with_suffix(".parts"), out.with_suffix(".report.json")
    _check_detections(detections)
    class_names, videos = find_videos(root, exclude=[parts_dir])
    name = source_name(source)
    object_classes, described = None, None
    if detections is not None:
        object_classes = detections.object_classes
        described = {"source": detections.name, "object_classes": list(object_classes)}
    key = config.part_key(name, described)
    settings = {k: v for k, v in config.to_dict().items() if k != "max_objects" or described is not None}
    info = {"root": str(Path(root)), "estimator": name, "config": settings}
    if described is not None:
        info["detections"] = {**described, "max_objects": config.max_objects}
    start = time.perf_counter()

    with_objects = detections is not None
    parts = {
        v.relative: p
        for v in videos
        if (p := load_part(part_path(parts_dir, v.relative), key, with_objects)) is not None
    }
    todo = [v for v in videos if v.relative not in parts]
    outcomes: dict[str, VideoOutcome] = {}
    bar = tqdm(total=len(videos), initial=len(parts), desc="videos", unit="video", disable=None if progress else True)
    frames, seconds = 0, 0.0
    try:
        for outcome in _run_videos(todo, source, config, key, parts_dir, workers, detections):
            outcomes[outcome.relative] = outcome
            _note(outcome, warn)
            if outcome.error is None:
                parts[outcome.relative] = load_part(part_path(parts_dir, outcome.relative), key, with_objects)
                frames, seconds = frames + outcome.frames, seconds + outcome.seconds
                bar.set_postfix_str(f"{frames / max(seconds, 1e-9):.0f} frames/s")
            bar.update(1)
    finally:
        bar.close()
    if not parts:
        reasons = "; ".join(f"{o.relative}: {o.error}" for o in list(outcomes.values())[:3])
        raise DataFormatError(f"none of the {len(videos)} videos in {root} could be read ({reasons})")
    for label, class_name in enumerate(class_names):
        if not any(v.label == label and v.relative in parts for v in videos):
            warn(f"class {class_name!r} has no readable video: it keeps its label but has no clips")
    dataset = build_dataset(class_names, videos, parts, config, info, object_classes)
    if "test" not in dataset.splits:
        warn("no test split: every class has fewer than 2 readable videos, or test_fraction is 0")
    save_npz_atomic(out, dataset.to_arrays(), compress=False)
    report = _report(
        class_names, videos, outcomes, parts, dataset, {**info, "out": str(out)}, time.perf_counter() - start
    )
    with atomic_write(report_path, "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    if not keep_parts:
        _remove_parts(parts_dir, videos)
    return ExtractionResult(out, report_path, dataset, report)


def _note(outcome: VideoOutcome, warn: Callable[[str], None]) -> None:
    if outcome.error is not None:
        warn(f"skipped {outcome.relative}: {outcome.error}")
    for note in outcome.notes:
        warn(note)


def summary_lines(report: dict) -> list[str]:
    """A few lines for a person: clips per split, skipped videos, speed."""
    videos, run = report["videos"], report["this_run"]
    clips = ", ".join(f"{n} {s}" for s, n in report["clips"].items())
    lines = [
        f"{videos['readable']} of {videos['found']} videos ({videos['extracted']} extracted now, "
        f"{videos['resumed']} resumed, {videos['skipped']} skipped); clips: {clips}",
        f"{report['frames']} frames; pose extraction {report['frames_per_second']} frames/s"
        + (f" (this run: {run['frames']} frames in {run['seconds']:.1f} s)" if run["videos"] else ""),
    ]
    if "detections" in report:
        found = report["detections"]
        lines.append(
            f"objects: up to {found['max_objects']} per frame of {len(found['object_classes']) - 1} classes, "
            f"from {found['source']}"
        )
    lines += [f"  skipped {s['video']}: {s['reason']}" for s in report["skipped"]]
    return lines
