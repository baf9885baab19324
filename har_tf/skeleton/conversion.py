"""Conversions between joint layouts (BODY_25 → COCO-17, BODY_25B → COCO-17, BlazePose-33 → COCO-17, ...).

Joints are matched by name. A target joint that the source lacks can be derived as the mean of two
source joints (``neck`` = mean of the shoulders, ``mid_hip`` = mean of the hips); its confidence is
the smaller of the two and it is missing when either is missing. Anything else is an error unless
``allow_missing=True``, in which case it is filled as a missing joint (all zeros). ``upper_neck``
(BODY_25B) derived from the shoulders is a rough stand-in: the real joint sits a little higher.

Poses are 2D (``xy``, ``xyc``) or, given ``channels="xyz"`` / ``"xyzc"``, 3D; every coordinate of a
derived joint is the mean of its two sources' (see :mod:`har_tf.skeleton.channels`).
"""

from __future__ import annotations

import numpy as np

from har_tf.errors import InvalidInputError
from har_tf.skeleton.channels import has_confidence, resolve_channels
from har_tf.skeleton.layouts import JointLayout, get_layout

# Joints that can stand in for a missing target joint: name -> the two source joints averaged.
DERIVED_JOINTS: dict[str, tuple[str, str]] = {
    "neck": ("left_shoulder", "right_shoulder"),
    "upper_neck": ("left_shoulder", "right_shoulder"),
    "mid_hip": ("left_hip", "right_hip"),
}


def conversion_plan(src: str | JointLayout, dst: str | JointLayout, allow_missing: bool = False) -> list:
    """For each target joint: a source index, a pair of source indices to average, or None (missing)."""
    src, dst = get_layout(src), get_layout(dst)
    plan: list = []
    unknown = []
    for name in dst.joint_names:
        if name in src.joint_names:
            plan.append(src.joint_names.index(name))
        elif name in DERIVED_JOINTS and all(j in src.joint_names for j in DERIVED_JOINTS[name]):
            a, b = DERIVED_JOINTS[name]
            plan.append((src.joint_names.index(a), src.joint_names.index(b)))
        else:
            plan.append(None)
            unknown.append(name)
    if unknown and not allow_missing:
        raise InvalidInputError(
            f"cannot convert {src.name} to {dst.name}: the source has no {unknown}; "
            "pass allow_missing=True to fill them as missing joints"
        )
    return plan


def convert_pose(
    pose: np.ndarray,
    src: str | JointLayout,
    dst: str | JointLayout,
    allow_missing: bool = False,
    channels: str | None = None,
) -> np.ndarray:
    """Re-order/derive joints of a pose array ``(..., J_src, C)`` into ``(..., J_dst, C)``.

    ``C`` is 2 (x, y) or 3 (x, y, confidence) by default; ``channels`` names any channel description
    (``"xyz"`` for 3D joints without confidence, ``"xyzc"`` with C = 4). Missing joints (confidence
    0, all zeros, or a NaN without confidence) stay missing (all zeros), and a derived joint is
    missing when one of its two sources is.
    """
    src, dst = get_layout(src), get_layout(dst)
    pose = np.asarray(pose, dtype=np.float32)
    allowed = (2, 3) if channels is None else (len(channels),)
    if pose.ndim < 2 or pose.shape[-2] != src.num_joints or pose.shape[-1] not in allowed:
        expected = "2 or 3" if channels is None else f"{len(channels)} ({channels})"
        raise InvalidInputError(
            f"expected a pose array of shape (..., {src.num_joints}, {expected}) for layout {src.name}, "
            f"got shape {pose.shape}"
        )
    channels = resolve_channels(channels, pose.shape[-1])
    confidence = has_confidence(channels)
    plan = conversion_plan(src, dst, allow_missing)
    if confidence:  # a joint with confidence 0 is missing: drop whatever coordinates it carries
        pose = np.where(pose[..., -1:] > 0, pose, 0.0).astype(np.float32)
    else:  # a joint with a NaN is missing
        pose = np.where(np.all(np.isfinite(pose), axis=-1, keepdims=True), pose, 0.0).astype(np.float32)
    out = np.zeros(pose.shape[:-2] + (dst.num_joints, pose.shape[-1]), dtype=np.float32)
    for j, source in enumerate(plan):
        if source is None:
            continue
        if isinstance(source, int):
            out[..., j, :] = pose[..., source, :]
            continue
        a, b = pose[..., source[0], :], pose[..., source[1], :]
        if confidence:
            valid = (a[..., -1] > 0) & (b[..., -1] > 0)
            derived = np.concatenate([(a[..., :-1] + b[..., :-1]) / 2, np.minimum(a[..., -1:], b[..., -1:])], axis=-1)
        else:
            valid = np.any(a != 0, axis=-1) & np.any(b != 0, axis=-1)
            derived = (a + b) / 2
        out[..., j, :] = np.where(valid[..., None], derived, 0.0)
    return out
