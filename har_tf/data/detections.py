"""Object detections of single frames, and the per-frame detections JSON format beside OpenPose output.

:class:`Detections` holds what a detector (or an annotation) gives for one frame: plain numpy arrays,
boxes ``[x1, y1, x2, y2]`` in the frame's pixels, class ids >= 1 and scores. :func:`detections_to_objects`
turns a clip's detections into the raw ``(T, K, 6)`` objects of :mod:`har_tf.data.objects`. This module
is numpy-only (no TensorFlow), so data readers stay light; :mod:`har_tf.inference.detection` builds
the detectors on it.

JSON format (version 1), one file per frame, named like OpenPose's with ``_detections.json`` instead
of ``_keypoints.json`` (``video_000000000099_detections.json`` holds frame 99, frames counted from 0)::

    {"version": 1,
     "detections": [{"class": "cup", "box": [x1, y1, x2, y2], "score": 0.93}, ...]}

- ``class``: a name from the dataset's object classes (case-insensitive, never ``"none"``) or an
  integer id >= 1 into them;
- ``box``: four finite numbers, ``x1 <= x2`` and ``y1 <= y2``, in the frame's pixels (the pose's);
- ``score``: a number in [0, 1]; optional, 1.0 when absent (hand-made annotations); a detection
  scoring 0 is an empty slot and is skipped;
- other keys, at the top or in a detection, are ignored (room for e.g. a track id).

A frame without a file has no detections. The frame number is the last integer in the file name
before ``_detections.json``. They may sit beside the OpenPose keypoint files (the OpenPose reader
skips ``*_detections.json``); pass ``stem`` when several videos share one folder.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from har_tf.data.objects import check_objects_batch
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from har_tf.io import atomic_write, read_json

FORMAT_VERSION = 1
SUFFIX = "_detections.json"
FRAME_DIGITS = 12  # OpenPose's frame number width: video_000000000099_keypoints.json


@dataclasses.dataclass
class Detections:
    """The detections of one frame (N may be 0).

    Attributes:
        boxes: float32 ``(N, 4)``, ``[x1, y1, x2, y2]`` in the frame's pixels.
        classes: int64 ``(N,)``, ids >= 1 in the label space of whoever made them.
        scores: float32 ``(N,)`` in [0, 1].
        names: the label map (index = class id, index 0 = ``"none"``) when known, else None.
    """

    boxes: np.ndarray
    classes: np.ndarray
    scores: np.ndarray
    names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        try:
            boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
            classes = np.asarray(self.classes, dtype=np.float64).reshape(-1)
            scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        except (TypeError, ValueError) as err:
            raise InvalidInputError(
                f"detections must be boxes (N, 4), classes (N,) and scores (N,) of numbers, "
                f"got {np.shape(self.boxes)}, {np.shape(self.classes)}, {np.shape(self.scores)} "
                f"({err})"
            ) from None
        if not len(boxes) == len(classes) == len(scores):
            raise InvalidInputError(
                f"detections need one box, class and score each, got {len(boxes)} boxes, "
                f"{len(classes)} classes and {len(scores)} scores"
            )
        if not (np.isfinite(boxes).all() and np.isfinite(scores).all() and np.isfinite(classes).all()):
            raise InvalidInputError("detections hold NaN or infinite values")
        if ((classes < 1) | (classes != np.round(classes))).any():
            raise InvalidInputError(
                f"detection class ids must be whole numbers >= 1 (0 is 'none'), got {classes.tolist()}"
            )
        if ((scores < 0) | (scores > 1)).any():
            raise InvalidInputError(f"detection scores must lie in [0, 1], got {scores.tolist()}")
        if ((boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])).any():
            raise InvalidInputError(
                f"detection boxes are [x1, y1, x2, y2] with x1 <= x2 and y1 <= y2, got {boxes.tolist()}"
            )
        self.boxes, self.classes, self.scores = boxes, classes.astype(np.int64), scores
        if self.names is not None:
            self.names = tuple(str(n) for n in self.names)

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls, names: Sequence[str] | None = None) -> Detections:
        """No detections."""
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros(0, np.float32), names)

    def labels(self) -> list[str]:
        """The class name of each detection (``"class_<id>"`` where the label map is unknown or too short)."""
        names = self.names or ()
        return [names[c] if c < len(names) and names[c] else f"class_{c}" for c in self.classes.tolist()]

    def select(self, index) -> Detections:
        """The detections at ``index`` (a boolean mask or integer indices), same label map."""
        return Detections(self.boxes[index], self.classes[index], self.scores[index], self.names)


def check_class_names(class_names: Sequence[str], what: str = "object class names") -> tuple[str, ...]:
    """A label map as a tuple; index 0 must be ``"none"`` (the empty slot)."""
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, (Sequence, np.ndarray)):
        raise InvalidInputError(f"{what} must be a list of names (index 0 = 'none'), got {type(class_names).__name__}")
    names = tuple(str(n) for n in class_names)
    if not names or names[0].strip().lower() != "none":
        raise InvalidInputError(
            f"{what} must start with 'none' (class id 0 is the empty slot), got "
            f"{list(names[:3])}{'...' if len(names) > 3 else ''}"
        )
    return names


def detections_to_objects(
    per_frame: Sequence[Detections | None], max_objects: int, class_map: dict[int, int] | None = None, person_box=None
) -> np.ndarray:
    """Raw objects float32 ``(T, K, 6)`` (rows ``[class_id, x1, y1, x2, y2, score]``) of one clip's detections.

    Args:
        per_frame: the detections of each of the T frames (None = no detections).
        max_objects: K, the slots per frame; the best K detections are kept, empty slots are zeros.
        class_map: detector class id -> dataset object class id; detections whose class is not in it
            are dropped. None keeps the ids as they are.
        person_box: optional float ``(T, 4)`` ``[x1, y1, x2, y2]`` of the main person per frame. Where
            given (a finite row with ``x2 > x1`` or ``y2 > y1``), detections nearer the person come
            first (distance = the gap between the two boxes, 0 when they touch or overlap), ties by
            score; elsewhere the order is by score alone (highest first).
    """
    if isinstance(max_objects, bool) or not isinstance(max_objects, (int, np.integer)) or max_objects < 1:
        raise InvalidInputError(f"max_objects must be a whole number >= 1, got {max_objects!r}")
    per_frame = list(per_frame)
    if any(d is not None and not isinstance(d, Detections) for d in per_frame):
        bad = next(d for d in per_frame if d is not None and not isinstance(d, Detections))
        raise InvalidInputError(f"expected one Detections (or None) per frame, got {type(bad).__name__}")
    if class_map is not None and (
        not isinstance(class_map, dict) or not all(_is_whole(k) and _is_whole(v) for k, v in class_map.items())
    ):
        raise InvalidInputError(
            f"class_map must be a dict of detector class id -> dataset class id (whole numbers), got {class_map!r:.200}"
        )
    num_frames = len(per_frame)
    person = None
    if person_box is not None:
        try:
            person = np.asarray(person_box, dtype=np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError("person_box must be numbers (T, 4) [x1, y1, x2, y2]") from None
        if person.shape != (num_frames, 4):
            raise InvalidInputError(
                f"person_box must be (T, 4) = ({num_frames}, 4) [x1, y1, x2, y2], got shape {person.shape}"
            )
    out = np.zeros((num_frames, int(max_objects), 6), np.float32)
    for t, found in enumerate(per_frame):
        if found is None or not len(found):
            continue
        classes = found.classes
        keep = found.scores > 0
        if class_map is not None:
            mapped = np.array([class_map.get(int(c), 0) for c in classes], np.int64)
            keep &= mapped >= 1
            classes = mapped
        index = np.flatnonzero(keep)
        if not len(index):
            continue
        order_keys = [-found.scores[index]]
        if person is not None and _seen(person[t]):
            order_keys.append(_box_gap(found.boxes[index], person[t]))  # lexsort: the last key sorts first
        index = index[np.lexsort(order_keys)][:max_objects]
        n = len(index)
        out[t, :n, 0] = classes[index]
        out[t, :n, 1:5] = found.boxes[index]
        out[t, :n, 5] = found.scores[index]
    return out


def objects_to_detections(objects, class_names: Sequence[str] | None = None) -> list[Detections]:
    """The inverse of :func:`detections_to_objects`: one :class:`Detections` (valid slots only) per frame."""
    array = _check_objects(objects, None if class_names is None else len(class_names))
    names = None if class_names is None else tuple(class_names)
    per_frame = []
    for frame in array:
        valid = (frame[:, 0] >= 1) & (frame[:, 5] > 0)
        per_frame.append(Detections(frame[valid, 1:5], frame[valid, 0], frame[valid, 5], names))
    return per_frame


# --- the JSON files --------------------------------------------------------------------------
def detections_file_name(stem: str, frame: int) -> str:
    """``{stem}_{frame:012d}_detections.json``, as OpenPose names ``..._keypoints.json``."""
    return f"{stem}_{frame:0{FRAME_DIGITS}d}{SUFFIX}"


def read_detections_json(path: str | os.PathLike, class_names: Sequence[str]) -> Detections:
    """One frame's detections file (format in the module docstring), class ids in ``class_names``
    (the dataset's object classes, index 0 = ``"none"``). Detections scoring 0 are skipped."""
    names = check_class_names(class_names)
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no such detections file: {path}")
    content = read_json(path, "a detections JSON file")
    if not isinstance(content, dict):
        raise DataFormatError(
            f'{path}: expected a JSON object {{"version": 1, "detections": [...]}}, got {type(content).__name__}'
        )
    if content.get("version") != FORMAT_VERSION or isinstance(content.get("version"), bool):
        raise DataFormatError(f'{path}: expected "version": {FORMAT_VERSION}, got {content.get("version")!r}')
    items = content.get("detections")
    if not isinstance(items, list):
        raise DataFormatError(f'{path}: expected a "detections" list, got {type(items).__name__}')
    lookup = {n.strip().lower(): i for i, n in enumerate(names) if i >= 1}
    boxes, classes, scores = [], [], []
    for i, item in enumerate(items):
        where = f"{path}: detection {i}"
        if not isinstance(item, dict):
            raise DataFormatError(
                f'{where}: expected an object with "class", "box" and "score", got {type(item).__name__}'
            )
        cls = _read_class(item.get("class"), lookup, names, where)
        box = item.get("box")
        if not isinstance(box, list) or len(box) != 4 or not all(_is_number(v) for v in box):
            got = f"{len(box)} values" if isinstance(box, list) else type(box).__name__
            raise DataFormatError(
                f'{where}: expected "box" as 4 numbers [x1, y1, x2, y2] in pixels, got {got}'
                f"{' ' + json.dumps(box) if isinstance(box, list) else ''}"
            )
        if not all(math.isfinite(v) for v in box):
            raise DataFormatError(f"{where}: the box {box} holds NaN or infinite values")
        if box[2] < box[0] or box[3] < box[1]:
            raise DataFormatError(f"{where}: the box {box} has x2 < x1 or y2 < y1 (expected [x1, y1, x2, y2])")
        score = item.get("score", 1.0)
        if not _is_number(score) or not 0 <= score <= 1:
            raise DataFormatError(f'{where}: expected "score" as a number in [0, 1], got {score!r}')
        if score == 0:
            continue
        boxes.append(box)
        classes.append(cls)
        scores.append(score)
    return Detections(
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.asarray(classes, np.int64),
        np.asarray(scores, np.float32),
        names,
    )


def read_detections_folder(
    folder: str | os.PathLike,
    class_names: Sequence[str],
    max_objects: int,
    num_frames: int | None = None,
    stem: str | None = None,
    person_box=None,
) -> np.ndarray:
    """The raw objects float32 ``(T, K, 6)`` of a folder of per-frame detections files.

    Args:
        folder: the folder of ``*_detections.json`` files.
        class_names: the dataset's object classes (index 0 = ``"none"``).
        max_objects: K; a frame with more detections keeps its best K (:func:`detections_to_objects`).
        num_frames: T (the pose's frame count); default: the largest frame number + 1. A file for a
            frame >= ``num_frames`` is an error.
        stem: read only ``{stem}_<frame>_detections.json`` (when several videos share the folder).
        person_box: optional ``(T, 4)`` main-person boxes to rank detections by nearness first.
    """
    per_frame = read_detections_frames(folder, class_names, num_frames, stem)
    return detections_to_objects(per_frame, max_objects, person_box=person_box)


def read_detections_frames(
    folder: str | os.PathLike, class_names: Sequence[str], num_frames: int | None = None, stem: str | None = None
) -> list[Detections]:
    """Every detection of each frame of a detections folder, T :class:`Detections` (no K limit; the
    arguments as in :func:`read_detections_folder`; a frame without a file has none)."""
    names = check_class_names(class_names)
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingFileError(f"no such detections folder: {folder}")
    if num_frames is not None and (
        isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1
    ):
        raise InvalidInputError(f"num_frames must be a whole number >= 1, got {num_frames!r}")
    files = _detection_files(folder, stem)
    if not files:
        which = f"{stem}_<frame>{SUFFIX}" if stem else f"*{SUFFIX}"
        raise DataFormatError(f"{folder}: expected detections files named {which} (one per frame), found none")
    frames: dict[int, Path] = {}
    for frame, path in files:
        if frame in frames:
            raise DataFormatError(
                f"{folder}: two detections files for frame {frame}: {frames[frame].name} and "
                f"{path.name}; pass stem= to pick one video"
            )
        frames[frame] = path
    total = max(frames) + 1 if num_frames is None else int(num_frames)
    if max(frames) >= total:
        raise DataFormatError(
            f"{folder}: {frames[max(frames)].name} is frame {max(frames)} but the clip has "
            f"{total} frames (0..{total - 1})"
        )
    per_frame = [Detections.empty(names) for _ in range(total)]
    for frame, path in frames.items():
        per_frame[frame] = read_detections_json(path, names)
    return per_frame


def write_detections_folder(objects, class_names: Sequence[str], folder: str | os.PathLike, stem: str) -> list[Path]:
    """Write raw objects ``(T, K, 6)`` as one detections file per frame (``{stem}_<frame>_detections.json``,
    every frame, empty ones included), each atomically (temporary file + ``os.replace``). Files of this
    ``stem`` for frames >= T left by an earlier, longer write are removed. Returns the paths written."""
    names = check_class_names(class_names)
    if not isinstance(stem, str) or not stem or Path(stem).name != stem or stem in (".", ".."):
        raise InvalidInputError(f"stem must be a plain file name prefix (e.g. the video's name), got {stem!r}")
    array = _check_objects(objects, len(names))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for t, frame in enumerate(array):
        items = [
            {"class": names[int(row[0])], "box": [_json_float(v) for v in row[1:5]], "score": _json_float(row[5])}
            for row in frame
            if row[0] >= 1 and row[5] > 0
        ]
        path = folder / detections_file_name(stem, t)
        with atomic_write(path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps({"version": FORMAT_VERSION, "detections": items}) + "\n")
        written.append(path)
    for frame, path in _detection_files(folder, stem):
        if frame >= len(array) and path.name == detections_file_name(stem, frame):
            path.unlink()
    return written


# --- helpers ---------------------------------------------------------------------------------
def _seen(box: np.ndarray) -> bool:
    return bool(np.isfinite(box).all() and (box[2] > box[0] or box[3] > box[1]))


def _box_gap(boxes: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Euclidean gap between each box ``(N, 4)`` and the person's box (0 when they touch or overlap)."""
    dx = np.maximum(0.0, np.maximum(boxes[:, 0] - person[2], person[0] - boxes[:, 2]))
    dy = np.maximum(0.0, np.maximum(boxes[:, 1] - person[3], person[1] - boxes[:, 3]))
    return np.hypot(dx, dy)


def _check_objects(objects, num_classes: int | None) -> np.ndarray:
    """Raw objects of one clip ``(T, K, 6)``, checked by :func:`~har_tf.data.objects.check_objects_batch`."""
    if np.ndim(objects) != 3 or np.shape(objects)[-1] != 6:
        raise InvalidInputError(
            f"objects must be one clip (T, K, 6) with rows [class_id, x1, y1, x2, y2, score], got "
            f"shape {np.shape(objects)}"
        )
    return check_objects_batch(objects, None, num_classes)[0]


def _detection_files(folder: Path, stem: str | None) -> list[tuple[int, Path]]:
    found = []
    for path in folder.iterdir():
        name = path.name
        if not name.endswith(SUFFIX) or not path.is_file():
            continue
        head = name[: -len(SUFFIX)]
        if stem is not None and not re.fullmatch(re.escape(stem) + r"_\d+", head):
            continue
        numbers = re.findall(r"\d+", head)
        if not numbers:
            raise DataFormatError(f"{path}: expected a frame number in the name (e.g. video_000000000099{SUFFIX})")
        found.append((int(numbers[-1]), path))
    return sorted(found, key=lambda item: (item[0], item[1].name))


def _read_class(value, lookup: dict[str, int], names: tuple[str, ...], where: str) -> int:
    if isinstance(value, str):
        key = value.strip().lower()
        if key not in lookup:
            raise DataFormatError(
                f"{where}: unknown class {value!r}; expected one of {list(names[1:])} or an id in 1..{len(names) - 1}"
            )
        return lookup[key]
    if _is_number(value) and math.isfinite(value) and value == int(value) and 1 <= value < len(names):
        return int(value)
    raise DataFormatError(
        f'{where}: expected "class" as a name from {list(names[1:])} or an id in 1..{len(names) - 1}, got {value!r}'
    )


def _is_whole(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_float(value) -> float:
    """The shortest decimal that reads back as the same float32 (10.3, not 10.300000190734863)."""
    return float(str(np.float32(value)))
