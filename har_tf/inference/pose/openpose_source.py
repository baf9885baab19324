"""Precomputed OpenPose JSON as a pose source: a :class:`PoseEstimator` that replays a ``--write_json`` folder.

OpenPose writes one JSON file per video frame (:mod:`har_tf.data.openpose` reads them; BODY_25 or
BODY_25B, detected from the poses). :class:`OpenPoseJsonSource` hands them out in frame order: each
call returns the people of the next JSON frame, ``(P, 25, 3)`` ``(x, y, score)`` in the pixels of the
video OpenPose ran on, so the JSON of a video and the video's frames go through the pipeline together.

Frame alignment is by position: JSON file ``k`` in the reader's order (sorted by the last number of
its name, e.g. ``cam01.0000.json`` or ``video_000000000000_keypoints.json``) belongs to video frame
``k``, which is how OpenPose numbers them (from 0, one file per frame). :attr:`frame_numbers` gives the
numbers in the names, to check a folder that starts elsewhere. Past the last file, and for a frame in
which OpenPose found nobody, the result is ``(0, 25, 3)``. The frame itself is only checked for
being an RGB image: JSON records no frame size.

:meth:`OpenPoseJsonSource.main_person` follows the reader's main-person rule (the highest-scoring
person, then the one whose box overlaps the last main box most), which is steadier than choosing
afresh in every frame when several people are in view.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from har_tf.data.openpose import NUM_JOINTS, read_openpose_dir
from har_tf.errors import InvalidInputError
from har_tf.inference.pose.base import PoseEstimator, check_frame
from har_tf.skeleton.conversion import convert_pose
from har_tf.skeleton.layouts import JointLayout, get_layout


class OpenPoseJsonSource(PoseEstimator):
    """The people of each frame of an OpenPose JSON folder, in frame order (see the module docstring).

    Args:
        folder: the directory OpenPose wrote with ``--write_json`` (one ``*.json`` per frame).
        layout: ``"auto"`` (detect BODY_25 / BODY_25B from the poses), ``"body25"`` or ``"body25b"``.
    """

    def __init__(self, folder: str | os.PathLike, layout: str | JointLayout = "auto"):
        self.folder = Path(folder)
        self.sequence = read_openpose_dir(self.folder, layout)
        self.layout = self.sequence.layout.name
        self._main = self.sequence.main_person_indices()
        self._next = 0

    @property
    def num_frames(self) -> int:
        """How many JSON frames the folder holds."""
        return self.sequence.num_frames

    @property
    def position(self) -> int:
        """Index of the frame the next :meth:`estimate` call returns."""
        return self._next

    @property
    def frame_numbers(self) -> list[int]:
        """The last number in each JSON file's name, in frame order (-1 for a name without one)."""
        numbers = [re.findall(r"\d+", Path(name).stem) for name in self.sequence.frame_names]
        return [int(found[-1]) if found else -1 for found in numbers]

    def __len__(self) -> int:
        return self.num_frames

    def reset(self) -> None:
        """Start again from the first JSON frame."""
        self._next = 0

    def people(self, index: int) -> np.ndarray:
        """The people of JSON frame ``index``: float32 ``(P, 25, 3)``; ``(0, 25, 3)`` past the end."""
        if not isinstance(index, (int, np.integer)) or index < 0:
            raise InvalidInputError(f"expected a frame index >= 0, got {index!r}")
        if index >= self.num_frames:
            return np.zeros((0, NUM_JOINTS, 3), np.float32)
        return self.sequence.people[int(index)].astype(np.float32, copy=True)

    def estimate(self, frame: np.ndarray) -> np.ndarray:
        people = self.people(self._next)
        self._next += 1
        return people

    def main_person(self, frame: np.ndarray, layout: str | JointLayout | None = None) -> np.ndarray:
        """The tracked main person ``(25, 3)`` of the next frame (zeros when nobody), converted to ``layout``."""
        check_frame(frame)
        index = self._next
        people = self.estimate(frame)
        chosen = int(self._main[index]) if index < self.num_frames else -1
        pose = people[chosen] if chosen >= 0 else np.zeros((NUM_JOINTS, 3), np.float32)
        if layout is not None and get_layout(layout).name != self.layout:
            pose = convert_pose(pose, self.layout, layout, allow_missing=True)
        return pose
