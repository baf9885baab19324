"""Pose preprocessing with TensorFlow ops: validity masks, temporal resampling, normalisation.

Every function here runs inside ``tf.data`` (graph mode) and eagerly on NumPy input. Pose tensors
follow :mod:`har_tf.data.pose_npz`: float ``(..., T, J, C)`` whose channels are described by
``channels`` (see :mod:`har_tf.skeleton.channels`): ``xy``, ``xyc``, ``xyz`` or ``xyzc``.
``channels=None`` means ``xy`` for C = 2 and ``xyc`` for C = 3 (C = 4 needs ``channels="xyzc"``).
A joint is *valid* when all its values are finite and its confidence is positive (channels with
``c``) or its coordinates are not all 0 (``xy``, ``xyz``); invalid joints come out of every
function here as exactly 0 in every channel.

Temporal sampling uses the "half-frame" convention: source frame ``k`` covers the time interval
``[k, k + 1)``, a segment ``[start, start + span)`` is cut into ``num_frames`` equal bins and each
output frame samples the source at its bin centre (``p_i = start + (i + 0.5) * span / num_frames
- 0.5``, clipped to ``[0, length - 1]``). With ``start = 0`` and ``span = num_frames = length``
this is the identity.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from har_tf.errors import InvalidInputError
from har_tf.skeleton.channels import has_confidence, resolve_channels, spatial_dims
from har_tf.skeleton.layouts import JointLayout, get_layout

CLIP_VALUE = 10.0  # normalised coordinates are clipped to [-CLIP_VALUE, CLIP_VALUE]
_MIN_SCALE = 1e-6
NORMALIZE_MODES = ("sequence", "frame")
SAMPLING_MODES = ("resample", "window")


def _as_pose(pose, channels: str | None = None) -> tf.Tensor:
    try:
        pose = tf.convert_to_tensor(pose)
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"expected a numeric pose array (..., J, C), got {type(pose).__name__}: {err}"
        ) from None
    if not (pose.dtype.is_floating or pose.dtype.is_integer):
        raise InvalidInputError(f"expected a numeric pose array, got dtype {pose.dtype.name}")
    if pose.dtype != tf.float32:
        pose = tf.cast(pose, tf.float32)
    if pose.shape.rank is not None and pose.shape.rank < 2:
        raise InvalidInputError(f"expected a pose array of shape (..., J, C), got shape {pose.shape}")
    if channels is None and pose.shape[-1] not in (2, 3):
        hint = "; 3D poses need channels 'xyz' (C = 3) or 'xyzc' (C = 4)" if pose.shape[-1] == 4 else ""
        raise InvalidInputError(
            f"expected C = 2 (x, y) or 3 (x, y, confidence) in the last axis, got shape {pose.shape}{hint}"
        )
    if channels is not None:
        resolve_channels(channels, pose.shape[-1])
    return pose


def pose_channels(pose, channels: str | None = None) -> str:
    """The channel description of ``pose`` (``(..., J, C)``): ``channels`` checked against C, or C's default."""
    return resolve_channels(channels, _as_pose(pose, channels).shape[-1])


def joint_validity(pose, channels: str | None = None) -> tf.Tensor:
    """Bool ``(..., T, J)``: finite values and (confidence > 0 when the channels have one, else
    coordinates not all 0)."""
    pose = _as_pose(pose, channels)
    channels = resolve_channels(channels, pose.shape[-1])
    finite = tf.reduce_all(tf.math.is_finite(pose), axis=-1)
    if has_confidence(channels):
        present = pose[..., -1] > 0
    else:
        present = tf.reduce_any(tf.not_equal(pose[..., : spatial_dims(channels)], 0.0), axis=-1)
    return tf.logical_and(finite, present)


def sanitize(pose, channels: str | None = None) -> tf.Tensor:
    """``pose`` as float32 with every invalid joint set to exactly 0 (no NaN/Inf survives)."""
    pose = _as_pose(pose, channels)
    return tf.where(joint_validity(pose, channels)[..., None], pose, tf.zeros_like(pose))


def sequence_lengths(x) -> np.ndarray:
    """True lengths of zero-padded sequences ``(..., T, J, C)`` -> int32 ``(...)`` (NumPy).

    The length is the number of frames up to and including the last frame that is not all zeros.
    NaN/Inf count as zeros here, so trailing frames of NaN are padding too; a NaN frame followed
    by a real frame is kept (its joints are simply missing).
    """
    x = np.asarray(x)
    if x.ndim < 3:
        raise InvalidInputError(f"expected pose sequences of shape (..., T, J, C), got shape {x.shape}")
    real = np.isfinite(x) & (x != 0)
    nonpad = real.reshape(*x.shape[:-2], -1).any(axis=-1)  # (..., T)
    num_frames = x.shape[-3]
    last = num_frames - np.argmax(nonpad[..., ::-1], axis=-1)
    return np.where(nonpad.any(axis=-1), last, 0).astype(np.int32)


def resample_sequence(pose, length, num_frames: int, start=None, span=None, channels: str | None = None) -> tf.Tensor:
    """Resample the first ``length`` frames of ``(T_in, J, C)`` to ``(num_frames, J, C)``.

    Output frame ``i`` samples the source at ``p_i = start + (i + 0.5) * span / num_frames - 0.5``
    (clipped to ``[0, length - 1]``), i.e. the segment ``[start, start + span)`` of the sequence
    (default: the whole of it). A joint is linearly interpolated between the two neighbouring
    source frames when it is valid in both, copied from the one where it is valid otherwise, and
    missing (all zeros) when invalid in both. A sample that falls exactly on a source frame uses
    that frame alone, so ``num_frames == length`` is the identity (missing joints stay missing).
    ``length`` (and ``start``/``span``) may be tensors; ``length = 1`` repeats the frame and
    ``length = 0`` gives all zeros. Output is sanitized.
    """
    pose = _as_pose(pose, channels)
    if pose.shape.rank is not None and pose.shape.rank != 3:
        raise InvalidInputError(f"resample_sequence expects one sequence (T, J, C), got shape {pose.shape}")
    if int(num_frames) < 1:
        raise InvalidInputError(f"num_frames must be >= 1, got {num_frames}")
    total = tf.shape(pose)[0]
    length = tf.minimum(tf.cast(length, tf.int32), total)
    last = tf.cast(tf.maximum(length - 1, 0), tf.float32)
    start = tf.zeros([], tf.float32) if start is None else tf.cast(start, tf.float32)
    span = tf.cast(length, tf.float32) if span is None else tf.cast(span, tf.float32)

    steps = (tf.range(num_frames, dtype=tf.float32) + 0.5) * (span / float(num_frames))
    pos = tf.clip_by_value(start + steps - 0.5, 0.0, last)
    lo_f = tf.floor(pos)
    weight = (pos - lo_f)[:, None, None]
    lo = tf.cast(lo_f, tf.int32)
    hi = tf.minimum(lo + 1, tf.cast(last, tf.int32))

    valid = joint_validity(pose, channels)
    a, b = tf.gather(pose, lo), tf.gather(pose, hi)
    va, vb = tf.gather(valid, lo)[..., None], tf.gather(valid, hi)[..., None]
    zero = tf.zeros_like(a)
    a_safe, b_safe = tf.where(va, a, zero), tf.where(vb, b, zero)
    mixed = a_safe + weight * (b_safe - a_safe)
    vb_near = vb & (weight > 0)  # a sample exactly on frame lo never borrows from frame lo + 1
    out = tf.where(va & vb, mixed, tf.where(va, a_safe, tf.where(vb_near, b_safe, zero)))
    return tf.where(length > 0, out, tf.zeros_like(out))


def center_segment(length, window: int) -> tuple[tf.Tensor, tf.Tensor]:
    """``(start, span)`` of the centre ``window`` frames (the whole sequence when shorter)."""
    length = tf.cast(length, tf.int32)
    start = tf.maximum((length - window) // 2, 0)
    span = tf.minimum(length, window)
    return tf.cast(start, tf.float32), tf.cast(span, tf.float32)


def center_window(seq, length: int, window: int, channels: str | None = None) -> np.ndarray:
    """The centre ``window`` frames of a ``(T, J, C)`` sequence of true length ``length`` (NumPy).

    Sequences shorter than the window are resampled (stretched) up to ``window`` frames. Invalid
    joints come out as zeros.
    """
    start, span = center_segment(length, int(window))
    return resample_sequence(seq, length, int(window), start=start, span=span, channels=channels).numpy()


def sliding_windows(seq, length: int, window: int, stride: int, channels: str | None = None) -> np.ndarray:
    """Windows ``(W, window, J, C)`` over the first ``length`` frames of ``(T, J, C)`` (NumPy).

    Windows start at ``0, stride, 2 * stride, ...``; when the last one does not end at ``length``
    one more window aligned to the end is added, so every frame is covered. A sequence shorter than
    ``window`` gives one window, resampled (stretched) up to ``window`` frames. Invalid joints come
    out as zeros.
    """
    window, stride, length = int(window), int(stride), int(length)
    if window < 1 or stride < 1:
        raise InvalidInputError(f"window and stride must be >= 1, got window={window}, stride={stride}")
    seq = sanitize(seq, channels).numpy()
    if seq.ndim != 3:
        raise InvalidInputError(f"sliding_windows expects one sequence (T, J, C), got shape {seq.shape}")
    length = min(max(length, 0), seq.shape[0])
    if length < window:
        return center_window(seq, length, window, channels)[None]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] + window < length:
        starts.append(length - window)
    return np.stack([seq[s : s + window] for s in starts])


def _joints_mean(xy: tf.Tensor, valid: tf.Tensor, joints: tuple[int, ...]) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean ``(..., T, D)`` of the given joints and whether all of them are valid ``(..., T)``."""
    if not joints:
        return tf.zeros_like(xy[..., 0, :]), tf.zeros_like(valid[..., 0])
    idx = list(joints)
    ok = tf.reduce_all(tf.gather(valid, idx, axis=-1), axis=-1)
    return tf.reduce_mean(tf.gather(xy, idx, axis=-2), axis=-2), ok


def normalize_pose(pose, layout: str | JointLayout, mode: str = "sequence", channels: str | None = None) -> tf.Tensor:
    """Translate and scale poses ``(..., T, J, C)`` so that the result is image-position/size free.

    Per frame, the centre is the mean of ``layout.center_joints`` (hips) when all are valid, else
    the mean of ``layout.torso_top_joints`` when all are valid, else the mean of the valid joints.
    ``mode="sequence"`` subtracts one centre for the whole sequence (the mean of the per-frame
    centres over frames with a valid joint), which keeps global motion such as falling;
    ``mode="frame"`` subtracts each frame's centre. The scale (one per sequence) is the mean torso
    length (top-of-torso to centre-joints distance over frames where both exist), else the RMS
    distance of the valid joints from the centre, else 1. Output: every coordinate (x, y, and z for
    3D ``channels``; centres and distances are taken in 2D or 3D alike) becomes
    ``(value - centre) / scale`` clipped to ``[-10, 10]``; confidence is unchanged; invalid joints
    are exactly 0. Without a confidence (``xy``, ``xyz``) a valid joint that lands exactly on the
    centre becomes all zeros and reads as missing afterwards: keep the validity mask from before
    normalising.
    """
    layout = get_layout(layout)
    if mode not in NORMALIZE_MODES:
        raise InvalidInputError(f"normalize mode must be one of {NORMALIZE_MODES}, got {mode!r}")
    pose = _as_pose(pose, channels)
    dims = spatial_dims(resolve_channels(channels, pose.shape[-1]))
    if pose.shape.rank is not None and pose.shape.rank < 3:
        raise InvalidInputError(f"normalize_pose expects poses of shape (..., T, J, C), got shape {pose.shape}")
    if pose.shape[-2] is not None and pose.shape[-2] != layout.num_joints:
        raise InvalidInputError(
            f"pose has J={pose.shape[-2]} joints but layout {layout.name!r} has {layout.num_joints}"
        )
    valid = joint_validity(pose, channels)  # (..., T, J)
    vmask = tf.cast(valid, tf.float32)[..., None]
    xy = tf.where(valid[..., None], pose[..., :dims], tf.zeros_like(pose[..., :dims]))  # (..., T, J, D)

    hips, hips_ok = _joints_mean(xy, valid, layout.center_joints)
    top, top_ok = _joints_mean(xy, valid, layout.torso_top_joints)
    count = tf.reduce_sum(vmask, axis=-2)  # (..., T, 1)
    all_mean = tf.reduce_sum(xy * vmask, axis=-2) / tf.maximum(count, 1.0)
    centre = tf.where(hips_ok[..., None], hips, tf.where(top_ok[..., None], top, all_mean))  # (..., T, D)

    if mode == "sequence":
        has = tf.cast(count > 0, tf.float32)  # (..., T, 1)
        centre = tf.reduce_sum(centre * has, axis=-2, keepdims=True) / tf.maximum(
            tf.reduce_sum(has, axis=-2, keepdims=True), 1.0
        )  # (..., 1, D)
    centered = (xy - centre[..., None, :]) * vmask  # (..., T, J, D)

    torso_frames = tf.cast(hips_ok & top_ok, tf.float32)  # (..., T)
    torso_len = tf.norm(top - hips, axis=-1)
    torso_scale = tf.reduce_sum(torso_len * torso_frames, axis=-1) / tf.maximum(
        tf.reduce_sum(torso_frames, axis=-1), 1.0
    )  # (...)
    sq = tf.reduce_sum(tf.square(centered), axis=[-3, -2, -1])
    rms = tf.sqrt(sq / tf.maximum(tf.reduce_sum(vmask, axis=[-3, -2, -1]), 1.0))
    scale = tf.where(torso_scale > _MIN_SCALE, torso_scale, tf.where(rms > _MIN_SCALE, rms, 1.0))

    out_xy = tf.clip_by_value(centered / scale[..., None, None, None], -CLIP_VALUE, CLIP_VALUE)
    # The confidence goes through a multiply (exact: a valid joint keeps its own) instead of being a
    # bare slice of the input: int8 quantisation would otherwise give the raw input (pixels) and
    # this output (normalised units) one scale.
    out = tf.concat([out_xy, pose[..., dims:] * vmask], axis=-1)
    return tf.where(valid[..., None], out, tf.zeros_like(out))


def preprocess_sequence(
    pose,
    length,
    layout: str | JointLayout,
    num_frames: int,
    *,
    sampling: str = "resample",
    normalize_mode: str = "sequence",
    channels: str | None = None,
) -> tf.Tensor:
    """Evaluation-time preprocessing of one sequence: sanitize -> sample frames -> normalise.

    ``pose`` is ``(T, J, C)`` with true length ``length`` (frames after it are ignored). With
    ``sampling="resample"`` the whole sequence is resampled to ``num_frames``; with
    ``sampling="window"`` the centre ``num_frames`` frames are taken (shorter sequences are
    stretched). Returns float32 ``(num_frames, J, C)``.
    """
    if sampling not in SAMPLING_MODES:
        raise InvalidInputError(f"sampling must be one of {SAMPLING_MODES}, got {sampling!r}")
    pose = sanitize(pose, channels)
    if sampling == "window":
        start, span = center_segment(length, int(num_frames))
        pose = resample_sequence(pose, length, num_frames, start=start, span=span, channels=channels)
    else:
        pose = resample_sequence(pose, length, num_frames, channels=channels)
    return normalize_pose(pose, layout, mode=normalize_mode, channels=channels)
