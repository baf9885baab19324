"""UTD-MHAD (Kinect skeleton, depth video, wrist/thigh IMU) read in its official layout, and converted
into a multimodal pose dataset NPZ.

The official layout (Chen, Jafari, Kehtarnavaz, ICIP 2015; 27 actions x 8 subjects x 4 trials)::

    ROOT/Skeleton/aA_sS_tT_skeleton.mat    d_skel  float64 (20, 3, T)  Kinect v1 joints, metres, y up
    ROOT/Depth/aA_sS_tT_depth.mat          d_depth uint16 (240, 320, T)  depth in mm, 0 = no reading
    ROOT/Inertial/aA_sS_tT_inertial.mat    d_iner  float64 (N, 6)  accelerometer (g), gyroscope (deg/s)

A (A, S, T) triple names one recording in every folder. A recording found in some of the folders a
conversion needs but not in all of them is skipped with a warning naming what is missing; a damaged
``.mat`` file is an error naming the file.

:func:`convert_utd_mhad` writes the :mod:`har_tf.data.pose_npz` format (``<s>`` = ``train``, ``val``,
``test``; every split has the same keys):

==========================  ======================  ===================================================
key                         dtype / shape           meaning
==========================  ======================  ===================================================
``x_<s>``                   float32 (N, T, 20, C)   skeletons, layout ``kinect_v1``, camera space in
                                                    metres (x right, y up, z away from the camera);
                                                    ``channels`` ``xyz`` (C = 3) or ``xy`` (C = 2: x and
                                                    y only). Zero-padded after each clip's true length
                                                    to T = the longest clip converted.
``y_<s>``                   int64 (N,)              action number - 1
``class_names``             str (27,)               :data:`ACTIONS`, always all 27
``channels``                str ()                  ``xyz`` or ``xy``
``subject_<s>``             int64 (N,)              subject number (1-8)
``trial_<s>``               int64 (N,)              trial number (1-4)
``length_<s>``              int64 (N,)              true number of skeleton frames of each clip
``frames_<s>_jpeg``         uint8 (bytes,)          F rendered depth frames per clip (JPEG, see
``frames_<s>_offsets``      int64 (N * F + 1,)      :mod:`har_tf.data.frames`), :mod:`har_tf.data.depth`
``frame_indices``           int64 (F,)              ``frame_indices(num_frames, F)``: the frames of the
                                                    model's T = ``num_frames`` resampled clip they show
``image_size``              int64 (2,)              [size, size]
``depth_box_<s>``           int64 (N, 4)            the square crop [x1, y1, x2, y2] in depth pixels
``depth_window_<s>``        float32 (N, 2)          [near, far] mm of the rendering
``imu_<s>``                 float32 (N, S, 6)       the whole inertial recording resampled to S samples
``imu_channels``            str (6,)                :data:`IMU_CHANNELS`
``imu_rate_hz``             float32 ()              50 Hz * S / the median raw sample count
``imu_length_<s>``          int64 (N,)              raw inertial samples of each clip (50 Hz)
``conversion_info``         str ()                  JSON: source, settings, subjects of each split,
                                                    ``depth_boxes``: how many crops came from the
                                                    skeleton, the depth fallback or the whole frame
==========================  ======================  ===================================================

Depth frames: the clip of L frames resampled to ``num_frames`` (the model's T, half-frame convention of
:mod:`har_tf.data.preprocessing`) shows its frames ``frame_indices(num_frames, F)``; frame i of those is
the source frame nearest to ``p = (i + 0.5) * L / num_frames - 0.5``. The images are depth rendered
near-bright and cropped as :mod:`har_tf.data.depth` describes (``crop="person"`` or ``"none"``); they
are already cropped, so a model should take them whole. ``frames=0`` leaves the depth out (no
``Depth/`` needed), ``imu_samples=0`` the inertial data.

Inertial: the recording spans the action like the skeleton clip does (the two clocks are not
synchronised frame by frame), so the whole recording of N samples is resampled to S samples by linear
interpolation at ``p = (i + 0.5) * N / S - 0.5``. The S samples of a clip cover its own duration N / 50
s; ``imu_rate_hz`` is the typical rate they correspond to.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import scipy.io
from tqdm.auto import tqdm

from har_tf.data.depth import DEPTH_CROPS, depth_images
from har_tf.data.frames import encode_jpeg, frame_indices
from har_tf.data.pose_npz import PoseDataset
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError

log = logging.getLogger(__name__)

ACTIONS = (
    "swipe_left",
    "swipe_right",
    "wave",
    "clap",
    "throw",
    "arm_cross",
    "basketball_shoot",
    "draw_x",
    "draw_circle_CW",
    "draw_circle_CCW",
    "draw_triangle",
    "bowling",
    "boxing",
    "baseball_swing",
    "tennis_swing",
    "arm_curl",
    "tennis_serve",
    "push",
    "knock",
    "catch",
    "pickup_throw",
    "jog",
    "walk",
    "sit2stand",
    "stand2sit",
    "lunge",
    "squat",
)
"""The 27 actions; action number ``a`` (1-27) is ``ACTIONS[a - 1]``."""

STANDARD_TEST_SUBJECTS = (2, 4, 6, 8)
"""The standard cross-subject protocol: train on 1, 3, 5, 7, test on 2, 4, 6, 8."""

MODALITIES = ("skeleton", "depth", "inertial")
_FOLDERS = {"skeleton": "Skeleton", "depth": "Depth", "inertial": "Inertial"}
_VARIABLES = {"skeleton": "d_skel", "depth": "d_depth", "inertial": "d_iner"}
_FILE = re.compile(r"^a(\d+)_s(\d+)_t(\d+)_(skeleton|depth|inertial)\.mat$")

NUM_JOINTS = 20
DEPTH_SHAPE = (240, 320)
IMU_CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
"""Accelerometer in g, then gyroscope in deg/s."""
IMU_RATE_HZ = 50.0
SKELETON_FPS = 30.0
POSE_CHANNELS = ("xyz", "xy")


@dataclasses.dataclass(frozen=True, order=True)
class Recording:
    """One recording: action number (1-27), subject (1-8) and trial (1-4)."""

    action: int
    subject: int
    trial: int

    @property
    def name(self) -> str:
        return f"a{self.action}_s{self.subject}_t{self.trial}"

    @property
    def label(self) -> int:
        return self.action - 1

    @property
    def action_name(self) -> str:
        return ACTIONS[self.action - 1]

    def path(self, root: str | os.PathLike, modality: str) -> Path:
        """The ``.mat`` file of this recording for one modality."""
        return Path(root) / _FOLDERS[modality] / f"{self.name}_{modality}.mat"


# --- discovery ---------------------------------------------------------------------------------
def find_recordings(
    root: str | os.PathLike,
    modalities: Sequence[str] = MODALITIES,
    *,
    actions: Iterable[int | str] | None = None,
    subjects: Iterable[int] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[Recording]:
    """The recordings present in every folder of ``modalities`` under ``root``, sorted.

    A recording present in some of these folders but not all is left out and reported through
    ``warn`` (default: the module's logger). ``actions`` (numbers 1-27 or names) and ``subjects``
    restrict the search.
    """
    warn = warn or log.warning
    modalities = _check_modalities(modalities)
    root = Path(root)
    if not root.is_dir():
        raise MissingFileError(f"no such UTD-MHAD folder: {root}")
    wanted_actions = None if actions is None else set(action_numbers(actions))
    wanted_subjects = None if subjects is None else {int(s) for s in subjects}
    found: dict[str, set[Recording]] = {}
    for modality in modalities:
        folder = root / _FOLDERS[modality]
        if not folder.is_dir():
            raise MissingFileError(
                f"{folder} is missing: a UTD-MHAD folder holds "
                f"{', '.join(_FOLDERS[m] + '/' for m in modalities)} with aA_sS_tT_<modality>.mat files"
            )
        found[modality] = set()
        for path in folder.iterdir():
            match = _FILE.match(path.name)
            if match is None or match.group(4) != modality:
                continue
            action, subject, trial = (int(g) for g in match.groups()[:3])
            if not 1 <= action <= len(ACTIONS):
                warn(f"skipping {path}: action {action} is not one of the 27 UTD-MHAD actions (1-27)")
                continue
            if (wanted_actions is None or action in wanted_actions) and (
                wanted_subjects is None or subject in wanted_subjects
            ):
                found[modality].add(Recording(action, subject, trial))
    everywhere = set.intersection(*found.values())
    for rec in sorted(set.union(*found.values()) - everywhere):
        missing = [_FOLDERS[m] for m in modalities if rec not in found[m]]
        present = [_FOLDERS[m] for m in modalities if rec in found[m]]
        warn(f"skipping recording {rec.name}: it is in {', '.join(present)} but not in {', '.join(missing)}")
    return sorted(everywhere)


def action_numbers(actions: Iterable[int | str]) -> list[int]:
    """Action numbers (1-27) from numbers or names (``"wave"``, case-insensitive)."""
    lower = [a.lower() for a in ACTIONS]
    numbers = []
    for action in actions:
        if isinstance(action, str) and not action.strip().isdigit():
            if action.lower() not in lower:
                raise InvalidInputError(
                    f"unknown UTD-MHAD action {action!r}: expected a number 1-27 or one of {list(ACTIONS)}"
                )
            numbers.append(lower.index(action.lower()) + 1)
            continue
        number = int(action)
        if not 1 <= number <= len(ACTIONS):
            raise InvalidInputError(f"UTD-MHAD action numbers are 1-27, got {number}")
        numbers.append(number)
    return numbers


def _check_modalities(modalities: Sequence[str]) -> tuple[str, ...]:
    modalities = tuple(modalities)
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown or not modalities:
        raise InvalidInputError(f"modalities must be a non-empty subset of {MODALITIES}, got {list(modalities)}")
    return modalities


# --- readers -----------------------------------------------------------------------------------
def _load_variable(path: str | os.PathLike, variable: str) -> np.ndarray:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no such UTD-MHAD file: {path}")
    try:
        contents = scipy.io.loadmat(path, variable_names=[variable])
    except Exception as err:  # noqa: BLE001 - scipy raises many kinds for damaged files
        raise DataFormatError(f"{path}: not a readable MATLAB .mat file ({err.__class__.__name__}: {err})") from None
    if variable not in contents:
        try:
            names = [name for name, *_ in scipy.io.whosmat(path)]
        except Exception:  # noqa: BLE001
            names = []
        raise DataFormatError(f"{path}: expected a variable {variable!r}, the file holds {names}")
    return np.asarray(contents[variable])


def read_skeleton(path: str | os.PathLike) -> np.ndarray:
    """``d_skel`` (20, 3, T) -> float32 (T, 20, 3): Kinect v1 joints (layout ``kinect_v1``), x y z in metres."""
    data = _load_variable(path, "d_skel")
    if data.ndim != 3 or data.shape[:2] != (NUM_JOINTS, 3) or data.shape[2] < 1 or data.dtype.kind not in "fiu":
        raise DataFormatError(f"{path}: d_skel must be a numeric (20, 3, T) array, got {data.dtype} {data.shape}")
    skeleton = np.ascontiguousarray(data.transpose(2, 0, 1), dtype=np.float32)
    if not np.all(np.isfinite(skeleton)):
        raise DataFormatError(f"{path}: d_skel holds NaN or infinite values")
    return skeleton


def read_depth(path: str | os.PathLike) -> np.ndarray:
    """``d_depth`` (240, 320, T) -> uint16 (T, 240, 320): depth in mm, 0 where nothing was measured."""
    data = _load_variable(path, "d_depth")
    if data.ndim != 3 or data.shape[2] < 1 or data.dtype.kind not in "iu":
        raise DataFormatError(
            f"{path}: d_depth must be an integer (H, W, T) array in mm, got {data.dtype} {data.shape}"
        )
    if data.min() < 0 or data.max() > np.iinfo(np.uint16).max:
        raise DataFormatError(f"{path}: d_depth values must lie in [0, 65535] mm, got [{data.min()}, {data.max()}]")
    return np.ascontiguousarray(data.transpose(2, 0, 1), dtype=np.uint16)


def read_inertial(path: str | os.PathLike) -> np.ndarray:
    """``d_iner`` float64 (N, 6): accelerometer x y z (g), then gyroscope x y z (deg/s), at 50 Hz."""
    data = _load_variable(path, "d_iner")
    if data.ndim != 2 or data.shape[1] != len(IMU_CHANNELS) or data.shape[0] < 2 or data.dtype.kind not in "fiu":
        raise DataFormatError(
            f"{path}: d_iner must be a numeric (N, 6) array with N >= 2, got {data.dtype} {data.shape}"
        )
    data = data.astype(np.float64)
    if not np.all(np.isfinite(data)):
        raise DataFormatError(f"{path}: d_iner holds NaN or infinite values")
    return data


# --- resampling --------------------------------------------------------------------------------
def resample_imu(samples, num_samples: int) -> np.ndarray:
    """Sensor samples (N, D) -> float32 (num_samples, D), linear interpolation at the half-sample
    positions ``p = (i + 0.5) * N / num_samples - 0.5`` (clipped to [0, N - 1])."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[0] < 1:
        raise InvalidInputError(f"expected sensor samples (N, D) with N >= 1, got shape {samples.shape}")
    if int(num_samples) < 1:
        raise InvalidInputError(f"num_samples must be at least 1, got {num_samples}")
    length = samples.shape[0]
    pos = np.clip((np.arange(num_samples) + 0.5) * length / num_samples - 0.5, 0, length - 1)
    grid = np.arange(length)
    return np.stack([np.interp(pos, grid, samples[:, d]) for d in range(samples.shape[1])], axis=-1).astype(np.float32)


def depth_positions(length: int, num_frames: int, frames: int) -> np.ndarray:
    """Source frames (int64 (F,)) a clip of ``length`` frames shows at ``frame_indices(num_frames, F)``
    once resampled to ``num_frames`` (half-frame convention, nearest frame)."""
    if length < 1:
        raise InvalidInputError(f"a clip needs at least one frame, got length {length}")
    idx = frame_indices(num_frames, frames).astype(np.float64)
    pos = (idx + 0.5) * length / num_frames - 0.5
    return np.clip(np.floor(pos + 0.5), 0, length - 1).astype(np.int64)


# --- conversion --------------------------------------------------------------------------------
def _subject_list(values: Iterable[int], name: str) -> tuple[int, ...]:
    try:
        subjects = tuple(sorted({int(s) for s in values}))
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name} must be subject numbers, got {values!r}") from None
    return subjects


def split_subjects(
    present: Iterable[int], test_subjects: Iterable[int], val_subjects: Iterable[int] = ()
) -> dict[str, tuple[int, ...]]:
    """``{"train": ..., "val": ..., "test": ...}`` subjects; every subject not in test or val trains.

    A test or val subject that is not ``present`` is an error naming the subjects present.
    """
    present = tuple(sorted({int(s) for s in present}))
    test, val = _subject_list(test_subjects, "test_subjects"), _subject_list(val_subjects, "val_subjects")
    suggestion = " ".join(str(s) for s in present[len(present) // 2 :]) or "..."
    for name, flag, chosen in (("test", "--test-subjects", test), ("validation", "--val-subjects", val)):
        absent = [s for s in chosen if s not in present]
        if absent:
            raise InvalidInputError(
                f"{name} subjects {absent} are not in the data, which holds subjects {list(present)}: choose "
                f"{name} subjects among those (for example {flag} {suggestion})"
            )
    both = sorted(set(test) & set(val))
    if both:
        raise InvalidInputError(
            f"subjects {both} are both test and validation subjects: a subject belongs to one split"
        )
    train = tuple(s for s in present if s not in test and s not in val)
    if not train:
        raise InvalidInputError(
            f"no training subject is left: the data holds subjects {list(present)}, all of them test or validation"
        )
    return {"train": train, "val": val, "test": test}


@dataclasses.dataclass
class _SplitParts:
    poses: list = dataclasses.field(default_factory=list)
    labels: list = dataclasses.field(default_factory=list)
    subjects: list = dataclasses.field(default_factory=list)
    trials: list = dataclasses.field(default_factory=list)
    images: list = dataclasses.field(default_factory=list)
    boxes: list = dataclasses.field(default_factory=list)
    windows: list = dataclasses.field(default_factory=list)
    imu: list = dataclasses.field(default_factory=list)
    imu_lengths: list = dataclasses.field(default_factory=list)


def convert_utd_mhad(
    root: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    test_subjects: Iterable[int] = STANDARD_TEST_SUBJECTS,
    val_subjects: Iterable[int] = (),
    frames: int = 8,
    image_size: int = 112,
    imu_samples: int = 128,
    channels: str = "xyz",
    crop: str = "person",
    num_frames: int = 30,
    actions: Iterable[int | str] | None = None,
    jpeg_quality: int = 90,
    progress: bool = True,
    warn: Callable[[str], None] | None = None,
) -> PoseDataset:
    """Read UTD-MHAD under ``root`` and write the multimodal dataset NPZ ``out`` (module docstring).

    Args:
        test_subjects: subjects of the test split (the standard protocol's 2, 4, 6, 8 by default).
        val_subjects: subjects of a validation split (none by default); every other subject trains.
        frames: depth frames per clip F (0: no depth).
        image_size: side of the square depth images.
        imu_samples: inertial samples per clip S (0: no inertial data).
        channels: ``"xyz"`` (3D skeleton) or ``"xy"`` (x and y only).
        crop: depth crop, ``"person"`` or ``"none"`` (see :mod:`har_tf.data.depth`).
        num_frames: the model's T the depth frames are placed in (``frame_indices``).
        actions: restrict to these actions (numbers 1-27 or names); class names stay all 27.
        progress: a progress bar over the recordings (on a terminal).
        warn: called with each warning line (default: the module's logger).

    Returns the :class:`PoseDataset`; with ``out=None`` nothing is written.
    """
    frames, image_size, imu_samples, num_frames = (
        _count(frames, "frames", 0),
        _count(image_size, "image_size", 1),
        _count(imu_samples, "imu_samples", 0),
        _count(num_frames, "num_frames", 1),
    )
    if channels not in POSE_CHANNELS:
        raise InvalidInputError(f"channels must be one of {POSE_CHANNELS}, got {channels!r}")
    if crop not in DEPTH_CROPS:
        raise InvalidInputError(f"crop must be one of {DEPTH_CROPS}, got {crop!r}")
    if frames and image_size < 16:
        raise InvalidInputError(f"image_size must be at least 16 pixels, got {image_size}")
    if out is not None and Path(out).is_dir():
        raise InvalidInputError(f"the output must be an .npz file path, got a folder: {out}")
    modalities = ("skeleton",) + (("depth",) if frames else ()) + (("inertial",) if imu_samples else ())
    recordings = find_recordings(root, modalities, actions=actions, warn=warn)
    if not recordings:
        wanted = "" if actions is None else f" for actions {sorted(set(action_numbers(actions)))}"
        raise DataFormatError(
            f"no UTD-MHAD recording{wanted} in {root}: expected aA_sS_tT_<modality>.mat files in "
            f"{', '.join(_FOLDERS[m] + '/' for m in modalities)}"
        )
    split_of_subject = {}
    subjects_by_split = split_subjects({r.subject for r in recordings}, test_subjects, val_subjects)
    for split, members in subjects_by_split.items():
        split_of_subject.update({s: split for s in members})
    positions_of: dict[int, np.ndarray] = {}
    box_sources: dict[str, int] = {}
    parts = {split: _SplitParts() for split in ("train", "val", "test")}
    bar = tqdm(recordings, desc="UTD-MHAD recordings", unit="rec", disable=None if progress else True, leave=False)
    for rec in bar:
        part = parts[split_of_subject[rec.subject]]
        skeleton = read_skeleton(rec.path(root, "skeleton"))
        part.poses.append(skeleton if channels == "xyz" else skeleton[..., :2])
        part.labels.append(rec.label)
        part.subjects.append(rec.subject)
        part.trials.append(rec.trial)
        if frames:
            depth = read_depth(rec.path(root, "depth"))
            if depth.shape[0] != skeleton.shape[0]:
                raise DataFormatError(
                    f"{rec.path(root, 'depth')}: {depth.shape[0]} depth frames but the skeleton has "
                    f"{skeleton.shape[0]}: the two must have the same frames"
                )
            length = skeleton.shape[0]
            positions = positions_of.setdefault(length, depth_positions(length, num_frames, frames))
            images, info = depth_images(depth, positions, image_size, skeleton=skeleton, crop=crop)
            part.images.extend(images)
            part.boxes.append(info["box"])
            part.windows.append((info["near_mm"], info["far_mm"]))
            box_sources[info["box_source"]] = box_sources.get(info["box_source"], 0) + 1
        if imu_samples:
            inertial = read_inertial(rec.path(root, "inertial"))
            part.imu.append(resample_imu(inertial, imu_samples))
            part.imu_lengths.append(len(inertial))

    max_len = max(len(p) for part in parts.values() for p in part.poses)
    splits: dict[str, np.ndarray] = {}
    extras: dict[str, np.ndarray] = {}
    num_channels = len(channels)
    for split, part in parts.items():
        if not part.poses:
            continue
        x = np.zeros((len(part.poses), max_len, NUM_JOINTS, num_channels), np.float32)
        for i, pose in enumerate(part.poses):
            x[i, : len(pose)] = pose
        splits[f"x_{split}"], splits[f"y_{split}"] = x, np.asarray(part.labels, np.int64)
        extras[f"subject_{split}"] = np.asarray(part.subjects, np.int64)
        extras[f"trial_{split}"] = np.asarray(part.trials, np.int64)
        extras[f"length_{split}"] = np.asarray([len(p) for p in part.poses], np.int64)
        if frames:
            extras[f"frames_{split}_jpeg"], extras[f"frames_{split}_offsets"] = encode_jpeg(part.images, jpeg_quality)
            extras[f"depth_box_{split}"] = np.asarray(part.boxes, np.int64).reshape(-1, 4)
            extras[f"depth_window_{split}"] = np.asarray(part.windows, np.float32).reshape(-1, 2)
        if imu_samples:
            extras[f"imu_{split}"] = np.stack(part.imu).astype(np.float32)
            extras[f"imu_length_{split}"] = np.asarray(part.imu_lengths, np.int64)
    if "x_train" not in splits:  # split_subjects leaves at least one training subject
        raise DataFormatError(f"no training recording in {root}")
    if frames:
        extras["frame_indices"] = frame_indices(num_frames, frames)
        extras["image_size"] = np.asarray([image_size, image_size], np.int64)
    if imu_samples:
        raw = np.concatenate([extras[f"imu_length_{s}"] for s in parts if f"imu_length_{s}" in extras])
        extras["imu_channels"] = np.asarray(IMU_CHANNELS, dtype=str)
        extras["imu_rate_hz"] = np.asarray(IMU_RATE_HZ * imu_samples / float(np.median(raw)), np.float32)
    info = {
        "source": "UTD-MHAD",
        "root": str(Path(root)),
        "frames": frames,
        "image_size": image_size,
        "imu_samples": imu_samples,
        "channels": channels,
        "crop": crop,
        "num_frames": num_frames,
        "subjects": {s: list(v) for s, v in subjects_by_split.items() if v},
        "actions": None if actions is None else sorted(set(action_numbers(actions))),
        "recordings": len(recordings),
        "depth_boxes": box_sources,
    }
    extras["conversion_info"] = np.asarray(json.dumps(info, sort_keys=True))
    dataset = PoseDataset(class_names=ACTIONS, layout="kinect_v1", channels=channels, extras=extras, **splits)
    if out is not None:
        dataset.save(out, compress=True)
    return dataset


def _count(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)
