"""The one interface every pose source follows, and what the rest of the pipeline needs from it.

A :class:`PoseEstimator` maps one RGB frame (uint8 ``(H, W, 3)``) to the people in it:
float32 ``(P, J, 3)`` keypoints ``(x, y, score)`` in the frame's pixels, in the estimator's joint
layout (:attr:`PoseEstimator.layout`, e.g. ``coco17``); ``P = 0`` (an array of shape ``(0, J, 3)``)
when nobody is found. That empty result is documented behaviour, not an error. Estimators that track a
person between frames keep that state until :meth:`PoseEstimator.reset` (call it between videos).
"""

from __future__ import annotations

import abc

import numpy as np

from har_tf.errors import InvalidInputError
from har_tf.skeleton.conversion import convert_pose
from har_tf.skeleton.layouts import JointLayout, get_layout


def check_frame(frame) -> np.ndarray:
    """An RGB uint8 ``(H, W, 3)`` frame, or a clear error saying what came instead."""
    if not isinstance(frame, np.ndarray):
        raise InvalidInputError(f"expected an RGB frame as a numpy array (H, W, 3), got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3 or min(frame.shape[:2]) < 1:
        raise InvalidInputError(f"expected an RGB frame of shape (H, W, 3), got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise InvalidInputError(f"expected a uint8 frame (pixels 0..255), got dtype {frame.dtype}")
    return frame


class PoseEstimator(abc.ABC):
    """RGB frame in, ``(P, J, 3)`` keypoints in pixels out (see the module docstring)."""

    #: the joint layout of the returned keypoints
    layout: str = "coco17"

    @abc.abstractmethod
    def estimate(self, frame: np.ndarray) -> np.ndarray:
        """The people in a checked RGB uint8 frame: float32 ``(P, J, 3)``, ``(x, y, score)`` in pixels."""

    def reset(self) -> None:  # noqa: B027 - an optional hook: stateless estimators keep the no-op
        """Forget any tracking state (call between unrelated videos)."""

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        return self.estimate(check_frame(frame))

    def main_person(self, frame: np.ndarray, layout: str | JointLayout | None = None) -> np.ndarray:
        """The keypoints ``(J, 3)`` of the most prominent person (:func:`main_person`), converted to
        ``layout`` when given; all zeros (every joint missing) when nobody is found."""
        people = self(frame)
        pose = main_person(people, get_layout(self.layout).num_joints)
        if layout is not None and get_layout(layout).name != get_layout(self.layout).name:
            pose = convert_pose(pose, self.layout, layout, allow_missing=True)
        return pose


def person_box(person: np.ndarray, min_score: float = 0.1) -> np.ndarray | None:
    """``(x1, y1, x2, y2)`` around a person's joints scoring at least ``min_score``; None if none do."""
    valid = person[:, 2] >= min_score
    if not valid.any():
        return None
    xy = person[valid, :2]
    return np.concatenate([xy.min(axis=0), xy.max(axis=0)])


def main_person(people: np.ndarray, num_joints: int, min_score: float = 0.1) -> np.ndarray:
    """The person whose box area times mean joint score is largest (the nearest, clearest person);
    ``(J, 3)`` zeros when ``people`` is empty."""
    people = np.asarray(people, np.float32).reshape(-1, num_joints, 3)
    best, best_value = None, -1.0
    for person in people:
        box = person_box(person, min_score)
        if box is None:
            continue
        area = max(float((box[2] - box[0]) * (box[3] - box[1])), 1.0)
        value = area * float(person[:, 2].mean())
        if value > best_value:
            best, best_value = person, value
    return np.zeros((num_joints, 3), np.float32) if best is None else best.astype(np.float32)
