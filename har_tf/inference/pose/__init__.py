"""Pose estimators behind one interface (:class:`PoseEstimator`): MoveNet, BlazePose, OpenPose JSON.

:func:`make_estimator` builds one by name, as the command lines do.
"""

from __future__ import annotations

import os

from har_tf.errors import InvalidInputError
from har_tf.inference.pose.base import PoseEstimator, check_frame, main_person, person_box

ESTIMATORS = ("movenet", "blazepose", "openpose")


def make_estimator(
    name: str, model: str | os.PathLike | None = None, num_threads: int | None = None, track: bool = True
) -> PoseEstimator:
    """``movenet`` (``model``: a .tflite file or TF Hub handle), ``blazepose`` (``model``: the folder of its two
    .tflite files, default the fetched cache) or ``openpose`` (``model``: a folder of per-frame JSON files)."""
    if name == "movenet":
        if model is None:
            raise InvalidInputError(
                "MoveNet needs its model: pass a .tflite file (e.g. movenet_singlepose_lightning "
                "from Kaggle Models / TF Hub) or a TF Hub handle"
            )
        from har_tf.inference.pose.movenet import MoveNetEstimator

        return MoveNetEstimator(model, num_threads=num_threads, track=track)
    if name == "blazepose":
        from har_tf.inference.pose.blazepose import BlazePoseEstimator

        return BlazePoseEstimator(model_dir=model, num_threads=num_threads, track=track)
    if name == "openpose":
        if model is None:
            raise InvalidInputError("the OpenPose source needs the folder of per-frame OpenPose JSON files")
        from har_tf.inference.pose.openpose_source import OpenPoseJsonSource

        return OpenPoseJsonSource(model)
    raise InvalidInputError(f"unknown pose estimator {name!r}: expected one of {ESTIMATORS}")


__all__ = ["ESTIMATORS", "PoseEstimator", "check_frame", "main_person", "make_estimator", "person_box"]
