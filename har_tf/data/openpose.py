"""Read OpenPose per-frame JSON output (``--write_json``) as pose sequences.

OpenPose writes one JSON file per video frame, ``{"version": ..., "people": [...]}``, and each person
has ``pose_keypoints_2d``: 75 numbers = 25 joints x (x, y, confidence) in pixels, a missing joint
being ``0, 0, 0``. The 25 joints follow the BODY_25 model (the default) or BODY_25B; the files do not
say which.

Frame order: only ``*.json`` files are read (not ``*_detections.json``: object detections may sit
beside the keypoints, see :mod:`har_tf.data.detections`), sorted by the last integer in their name (natural sort:
``frame_2`` before ``frame_10``), then by name.

Layout detection (``layout="auto"``): every person whose nose (joint 0), one of joints 15/16 and one
of joints 1/2 are confident (c > 0.1) votes. In BODY_25, joints 15/16 are the eyes (next to the nose)
and joints 1/2 are the neck and right shoulder (further away); in BODY_25B, joints 15/16 are the
ankles (far from the nose) and joints 1/2 are the eyes (next to it). A person votes BODY_25 when the
mean nose distance to 15/16 is smaller than the mean nose distance to 1/2, BODY_25B otherwise; the
majority over all people of all frames wins (ties and no voters: BODY_25, OpenPose's default).

Main person (:meth:`OpenPoseSequence.main_person`): a person's box is the bounding box of its joints
with c > 0.1, its score is (box area) x (mean confidence of those joints). In the first frame where
anyone appears, the main person is the highest-scoring one. In each later frame it is the person whose
box has the highest IoU with the last main box, if that IoU is >= 0.3; otherwise (track lost) the
highest-scoring person again. Frames with nobody (no person with a joint of c > 0.1) are all zeros
(missing) and keep the last main box for tracking.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import numpy as np

from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from har_tf.io import read_json
from har_tf.skeleton.conversion import convert_pose
from har_tf.skeleton.layouts import BODY25, BODY25B, JointLayout, get_layout

NUM_JOINTS = 25
CONF_THRESHOLD = 0.1
IOU_THRESHOLD = 0.3


@dataclasses.dataclass
class OpenPoseSequence:
    """The people of each frame of one OpenPose JSON directory.

    Attributes:
        layout: BODY_25 or BODY_25B.
        frame_names: file name of each frame, in frame order.
        people: one float32 array (P_t, 25, 3) of (x, y, confidence) per frame; P_t may be 0.
    """

    layout: JointLayout
    frame_names: list[str]
    people: list[np.ndarray]

    @property
    def num_frames(self) -> int:
        return len(self.people)

    def people_counts(self) -> list[int]:
        """Number of people detected in each frame."""
        return [len(p) for p in self.people]

    def main_person_indices(self) -> np.ndarray:
        """Index of the main person in each frame (see the module docstring), -1 when nobody is there."""
        indices = np.full(self.num_frames, -1, dtype=np.int64)
        last_box = None
        for t, frame in enumerate(self.people):
            boxes_scores = [_box_and_score(person) for person in frame]
            boxes = [box for box, _ in boxes_scores]
            scores = [score for _, score in boxes_scores]
            candidates = [i for i, box in enumerate(boxes) if box is not None]
            if not candidates:
                continue
            best = None
            if last_box is not None:
                ious = {i: _iou(last_box, boxes[i]) for i in candidates}
                i = max(ious, key=ious.get)
                best = i if ious[i] >= IOU_THRESHOLD else None
            if best is None:
                best = max(candidates, key=lambda i: scores[i])
            indices[t], last_box = best, boxes[best]
        return indices

    def main_person(self) -> np.ndarray:
        """The main person's joints, ``(T, 25, 3)`` float32; frames without anyone are all zeros."""
        out = np.zeros((self.num_frames, NUM_JOINTS, 3), dtype=np.float32)
        for t, i in enumerate(self.main_person_indices()):
            if i >= 0:
                out[t] = self.people[t][i]
        return out

    def all_people(self) -> np.ndarray:
        """Every person, ``(T, P_max, 25, 3)`` float32, zero-padded to the largest frame (JSON order)."""
        most = max(self.people_counts(), default=0)
        out = np.zeros((self.num_frames, most, NUM_JOINTS, 3), dtype=np.float32)
        for t, frame in enumerate(self.people):
            out[t, : len(frame)] = frame
        return out


def read_openpose_dir(path: str | os.PathLike, layout: str | JointLayout = "auto") -> OpenPoseSequence:
    """Read a directory of OpenPose JSON files (one per frame).

    Args:
        path: the directory OpenPose wrote with ``--write_json``.
        layout: ``"auto"`` (detect, see the module docstring), ``"body25"`` or ``"body25b"``.
    """
    auto = isinstance(layout, str) and layout.lower() == "auto"
    chosen = None if auto else get_layout(layout)
    if chosen is not None and chosen not in (BODY25, BODY25B):
        raise InvalidInputError(
            "OpenPose JSON holds BODY_25 or BODY_25B poses: expected layout 'auto', 'body25' or 'body25b', "
            f"got {chosen.name!r}"
        )
    folder = Path(path)
    if not folder.is_dir():
        raise MissingFileError(f"no such OpenPose JSON directory: {folder}")
    files = sorted(
        (
            f
            for f in folder.iterdir()
            if f.suffix.lower() == ".json" and f.is_file() and not f.name.lower().endswith("_detections.json")
        ),
        key=_frame_key,
    )
    if not files:
        raise DataFormatError(f"{folder}: expected OpenPose *.json files (one per frame), found none")
    people = [_read_frame(f) for f in files]
    chosen = chosen or detect_layout(people)
    return OpenPoseSequence(layout=chosen, frame_names=[f.name for f in files], people=people)


def detect_layout(people: list[np.ndarray]) -> JointLayout:
    """BODY_25 or BODY_25B by majority vote over all people (rule in the module docstring)."""
    votes = {BODY25.name: 0, BODY25B.name: 0}
    for person in (p for frame in people for p in frame):
        ok = person[:, 2] > CONF_THRESHOLD
        if not ok[0]:
            continue
        near = [np.linalg.norm(person[j, :2] - person[0, :2]) for j in (15, 16) if ok[j]]
        far = [np.linalg.norm(person[j, :2] - person[0, :2]) for j in (1, 2) if ok[j]]
        if near and far:
            votes[BODY25.name if np.mean(near) < np.mean(far) else BODY25B.name] += 1
    return BODY25B if votes[BODY25B.name] > votes[BODY25.name] else BODY25


def openpose_to_pose_array(seq: OpenPoseSequence, target_layout: str | JointLayout | None = "coco17") -> np.ndarray:
    """The main person as ``(T, J, 3)``, converted to ``target_layout`` (``None`` keeps BODY_25/25B)."""
    pose = seq.main_person()
    return pose if target_layout is None else convert_pose(pose, seq.layout, target_layout)


# --- helpers ---------------------------------------------------------------------------------
def _frame_key(path: Path) -> tuple[int, str]:
    numbers = re.findall(r"\d+", path.stem)
    return (int(numbers[-1]) if numbers else -1, path.name)


def _read_frame(path: Path) -> np.ndarray:
    content = read_json(path, "an OpenPose JSON file")
    if not isinstance(content, dict) or not isinstance(content.get("people"), list):
        raise DataFormatError(f"{path}: expected an OpenPose JSON object with a 'people' list")
    frame = np.zeros((len(content["people"]), NUM_JOINTS, 3), dtype=np.float32)
    for i, person in enumerate(content["people"]):
        values = person.get("pose_keypoints_2d") if isinstance(person, dict) else None
        if not isinstance(values, list) or len(values) != NUM_JOINTS * 3:
            got = f"{len(values)} values" if isinstance(values, list) else f"{type(values).__name__}"
            raise DataFormatError(
                f"{path}: person {i}: expected 'pose_keypoints_2d' with 75 values (25 joints x (x, y, c), "
                f"BODY_25 or BODY_25B), got {got}"
            )
        try:
            frame[i] = np.asarray(values, dtype=np.float32).reshape(NUM_JOINTS, 3)
        except (TypeError, ValueError):
            raise DataFormatError(f"{path}: person {i}: 'pose_keypoints_2d' must hold numbers only") from None
    frame[~np.isfinite(frame).all(axis=-1)] = 0.0  # NaN/inf joints are missing
    return frame


def _box_and_score(person: np.ndarray) -> tuple[np.ndarray | None, float]:
    ok = person[:, 2] > CONF_THRESHOLD
    if not ok.any():
        return None, 0.0
    xy = person[ok, :2]
    box = np.concatenate([xy.min(axis=0), xy.max(axis=0)])
    area = float((box[2] - box[0]) * (box[3] - box[1]))
    return box, area * float(person[ok, 2].mean())


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
