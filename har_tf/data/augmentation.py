"""Training-time pose augmentation with stateless TensorFlow random ops.

Every random choice comes from ``tf.random.stateless_*`` ops whose seeds are split from one seed
per example (an int scalar or a shape-``[2]`` tensor), so an augmentation is a pure function of
``(pose, length, seed)``: the same seed always gives the same output, in eager and inside
``tf.data`` with parallel calls. Each step draws from its own sub-seed, so switching one step off
does not change the random choices of the others.

Order in :func:`augment_example`: temporal crop / speed change (on the raw variable-length sequence,
while resampling to ``num_frames``) -> normalisation -> spatial affine (rotation, anisotropic scale,
shear) -> horizontal flip -> jitter -> joint dropout. Missing joints stay exactly 0 throughout:
the validity mask is computed once before normalisation and carried through every step.

3D poses (``channels`` ``xyz`` or ``xyzc``, y up as in Kinect camera space) get the same steps in 3D:
the affine also rotates about the vertical axis (:data:`VERTICAL_AXIS`) and scales z, the flip
mirrors x, and the jitter moves x, y and z. 2D poses never draw the 3D-only random numbers, so their
augmentation is the same as without 3D support.
"""

from __future__ import annotations

import dataclasses
import math

import tensorflow as tf

from har_tf.config import DictConfig
from har_tf.data.preprocessing import (
    NORMALIZE_MODES,
    SAMPLING_MODES,
    joint_validity,
    normalize_pose,
    resample_sequence,
)
from har_tf.errors import InvalidInputError
from har_tf.skeleton.channels import resolve_channels, spatial_dims
from har_tf.skeleton.layouts import JointLayout, get_layout

# Sub-seed slots (fixed, so disabling a step never shifts the others' random streams).
_CROP, _SPEED, _START, _AFFINE, _FLIP, _JITTER, _DROPOUT, _AFFINE_3D = range(8)
_NUM_SEEDS = 8
VERTICAL_AXIS = 1  # index of the vertical (up) coordinate of 3D poses: y in Kinect camera space


def _range(value, name: str, low_bound: float) -> tuple[float, float] | None:
    if value is None:
        return None
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"AugmentConfig.{name} must be None or a pair (low, high), got {value!r}") from None
    if not (low_bound < low <= high):
        raise InvalidInputError(f"AugmentConfig.{name} must satisfy {low_bound} < low <= high, got {value!r}")
    return (low, high)


@dataclasses.dataclass
class AugmentConfig(DictConfig):
    """What to randomise during training (JSON-friendly; 0 or None disables a step).

    Attributes:
        rotation_deg: rotation in the x-y (image) plane drawn uniformly in ``[-rotation_deg,
            rotation_deg]`` degrees.
        scale_range: x and y (and z for 3D poses) scale factors, drawn independently (anisotropic)
            in this range.
        shear: horizontal shear factor drawn in ``[-shear, shear]``.
        flip_prob: probability of a horizontal (left/right) flip, or ``auto``: decided from the training
            clips by :func:`har_tf.data.laterality.resolve_flip` (off when the actions are lateralised).
        jitter_std: std of Gaussian noise added to x, y (normalised units: torso length ~ 1).
        joint_dropout: probability that a joint is dropped (set missing) in a frame.
        temporal_crop: fraction of the true sequence length kept, drawn in this range (``"window"``
            sampling ignores the fraction; ``None`` there means the centre window, not a random one).
        speed_range: playback speed factor, drawn log-uniformly in this range (> 1 = faster).
        vertical_rotation_deg: 3D poses only: rotation about the vertical axis (a change of viewpoint)
            drawn uniformly in ``[-vertical_rotation_deg, vertical_rotation_deg]`` degrees.
    """

    rotation_deg: float = 15.0
    scale_range: tuple[float, float] | None = (0.85, 1.15)
    shear: float = 0.15
    flip_prob: float | str = 0.5
    jitter_std: float = 0.01
    joint_dropout: float = 0.05
    temporal_crop: tuple[float, float] | None = (0.8, 1.0)
    speed_range: tuple[float, float] | None = (0.8, 1.25)
    vertical_rotation_deg: float = 30.0

    def __post_init__(self) -> None:
        for name in ("rotation_deg", "shear", "jitter_std", "vertical_rotation_deg"):
            value = float(getattr(self, name) or 0.0)
            if not (value >= 0 and math.isfinite(value)):
                raise InvalidInputError(f"AugmentConfig.{name} must be a finite number >= 0, got {value!r}")
            setattr(self, name, value)
        for name in ("flip_prob", "joint_dropout"):
            if name == "flip_prob" and self.flip_prob == "auto":
                continue  # decided from the training clips: har_tf.data.laterality.resolve_flip
            raw = getattr(self, name)
            try:
                value = float(raw or 0.0)
            except (TypeError, ValueError):
                value = float("nan")
            if not 0.0 <= value <= 1.0:
                allowed = "a probability in [0, 1]" + (" or auto" if name == "flip_prob" else "")
                raise InvalidInputError(f"AugmentConfig.{name} must be {allowed}, got {raw!r}")
            setattr(self, name, value)
        self.scale_range = _range(self.scale_range, "scale_range", 0.0)
        self.speed_range = _range(self.speed_range, "speed_range", 0.0)
        self.temporal_crop = _range(self.temporal_crop, "temporal_crop", 0.0)
        if self.temporal_crop is not None and self.temporal_crop[1] > 1.0:
            raise InvalidInputError(f"AugmentConfig.temporal_crop must lie in (0, 1], got {self.temporal_crop}")

    @classmethod
    def disabled(cls) -> AugmentConfig:
        """A config that changes nothing (every step off)."""
        return cls(0.0, None, 0.0, 0.0, 0.0, 0.0, None, None, 0.0)


def split_seed(seed, num: int = _NUM_SEEDS) -> tf.Tensor:
    """``(num, 2)`` int64 sub-seeds from one seed (an int scalar or a shape-[2] tensor)."""
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.constant(0x5EED, tf.int64)])
    elif seed.shape.rank != 1 or seed.shape[0] != 2:
        raise InvalidInputError(f"seed must be an int scalar or a shape-[2] tensor, got shape {seed.shape}")
    return tf.random.experimental.stateless_split(seed, num=num)


def _uniform(seed, low: float, high: float, shape=()) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed, minval=low, maxval=high, dtype=tf.float32)


def _dims(pose, channels: str | None) -> int:
    """Spatial dimensions (2 or 3) of ``(..., J, C)`` poses with these channels (None: C's default)."""
    return spatial_dims(resolve_channels(channels, pose.shape[-1]))


def _masked(pose, valid, channels: str | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """``(pose with invalid joints zeroed, validity mask)``; ``valid=None`` computes the mask."""
    pose = tf.cast(tf.convert_to_tensor(pose), tf.float32)
    valid = joint_validity(pose, channels) if valid is None else tf.convert_to_tensor(valid, tf.bool)
    return tf.where(valid[..., None], pose, tf.zeros_like(pose)), valid


# --- temporal ---------------------------------------------------------------------------------
def temporal_segment(
    length, seed, config: AugmentConfig, num_frames: int, sampling: str = "resample"
) -> tuple[tf.Tensor, tf.Tensor]:
    """Random ``(start, span)`` (float frames) of the segment to resample to ``num_frames``.

    ``sampling="resample"``: ``span = length * crop * speed`` clipped to ``[1, length]``;
    ``sampling="window"``: ``span = round(num_frames * speed)`` clipped to ``length`` with an
    integer start. ``start`` is uniform over the positions where the segment fits (in window mode
    ``temporal_crop=None`` turns the random position off: the centre window is used).
    """
    if sampling not in SAMPLING_MODES:
        raise InvalidInputError(f"sampling must be one of {SAMPLING_MODES}, got {sampling!r}")
    seeds = split_seed(seed)
    length_f = tf.cast(length, tf.float32)
    speed = tf.constant(1.0)
    if config.speed_range is not None:
        low, high = config.speed_range
        speed = tf.exp(_uniform(seeds[_SPEED], math.log(low), math.log(high)))
    u = _uniform(seeds[_START], 0.0, 1.0)
    if sampling == "window":
        span = tf.minimum(tf.round(float(num_frames) * speed), length_f)
        if config.temporal_crop is None:  # no random position: the centre window
            return tf.floor((length_f - span) / 2.0), span
        start = tf.minimum(tf.floor(u * (length_f - span + 1.0)), length_f - span)
        return start, span
    crop = tf.constant(1.0)
    if config.temporal_crop is not None:
        crop = _uniform(seeds[_CROP], *config.temporal_crop)
    span = tf.clip_by_value(length_f * crop * speed, tf.minimum(1.0, length_f), length_f)
    return u * (length_f - span), span


def random_temporal_resample(
    pose,
    length,
    seed,
    config: AugmentConfig,
    num_frames: int,
    sampling: str = "resample",
    channels: str | None = None,
) -> tf.Tensor:
    """Temporal crop + speed change of ``(T, J, C)`` while resampling it to ``(num_frames, J, C)``."""
    start, span = temporal_segment(length, seed, config, num_frames, sampling)
    return resample_sequence(pose, length, num_frames, start=start, span=span, channels=channels)


# --- spatial ----------------------------------------------------------------------------------
def affine_matrix(rotation_rad=0.0, scale_x=1.0, scale_y=1.0, shear=0.0) -> tf.Tensor:
    """``(2, 2)`` matrix ``R(rotation) @ Shear_x(shear) @ diag(scale_x, scale_y)`` for column vectors."""
    c, s = tf.cos(tf.cast(rotation_rad, tf.float32)), tf.sin(tf.cast(rotation_rad, tf.float32))
    sx, sy, k = (tf.cast(v, tf.float32) for v in (scale_x, scale_y, shear))
    rot = tf.stack([tf.stack([c, -s]), tf.stack([s, c])])
    shear_scale = tf.stack([tf.stack([sx, k * sy]), tf.stack([tf.zeros_like(sx), sy])])
    return rot @ shear_scale


def vertical_rotation_matrix(angle_rad=0.0) -> tf.Tensor:
    """``(3, 3)`` rotation by ``angle_rad`` about the vertical axis :data:`VERTICAL_AXIS` (column vectors).

    With y vertical: ``x' = cos(a) x + sin(a) z``, ``y' = y``, ``z' = -sin(a) x + cos(a) z``.
    """
    c, s = tf.cos(tf.cast(angle_rad, tf.float32)), tf.sin(tf.cast(angle_rad, tf.float32))
    first, second = (axis for axis in range(3) if axis != VERTICAL_AXIS)
    rows = [[tf.ones_like(c) if i == j else tf.zeros_like(c) for j in range(3)] for i in range(3)]
    rows[first][first], rows[first][second] = c, s
    rows[second][first], rows[second][second] = -s, c
    return tf.stack([tf.stack(row) for row in rows])


def affine_matrix_3d(
    vertical_rotation_rad=0.0, rotation_rad=0.0, scale_x=1.0, scale_y=1.0, scale_z=1.0, shear=0.0
) -> tf.Tensor:
    """``(3, 3)`` matrix ``R_vertical @ [[A, 0], [0, scale_z]]`` with ``A = affine_matrix(rotation_rad,
    scale_x, scale_y, shear)`` acting on x, y (column vectors)."""
    plane = affine_matrix(rotation_rad, scale_x, scale_y, shear)
    zero = tf.zeros((2, 1), tf.float32)
    bottom = tf.stack([0.0, 0.0, tf.cast(scale_z, tf.float32)])[None]
    return vertical_rotation_matrix(vertical_rotation_rad) @ tf.concat([tf.concat([plane, zero], 1), bottom], 0)


def apply_affine(pose, matrix, valid=None, channels: str | None = None) -> tf.Tensor:
    """Apply a ``(D, D)`` ``matrix`` to the coordinates of valid joints of ``(..., J, C)``; others stay 0.

    ``D`` is 2 (x, y) or 3 (x, y, z), following ``channels`` (None: C's default, so 2).
    """
    pose, valid = _masked(pose, valid, channels)
    dims = _dims(pose, channels)
    matrix = tf.cast(matrix, tf.float32)
    if matrix.shape != (dims, dims):
        raise InvalidInputError(f"apply_affine needs a ({dims}, {dims}) matrix for {dims}D poses, got {matrix.shape}")
    xy = tf.einsum("...c,dc->...d", pose[..., :dims], matrix)
    out = tf.concat([xy, pose[..., dims:]], axis=-1)
    return tf.where(valid[..., None], out, tf.zeros_like(out))


def random_affine(pose, seed, config: AugmentConfig, valid=None, channels: str | None = None) -> tf.Tensor:
    """Random rotation, anisotropic scale and shear (about the origin) of normalised poses; 3D poses
    also get a random rotation about the vertical axis and a random z scale."""
    seeds = split_seed(split_seed(seed)[_AFFINE], 4)
    angle = math.radians(config.rotation_deg)
    rotation = _uniform(seeds[0], -angle, angle) if angle else 0.0
    scale_x = scale_y = 1.0
    if config.scale_range is not None:
        scale_x, scale_y = _uniform(seeds[1], *config.scale_range), _uniform(seeds[2], *config.scale_range)
    shear = _uniform(seeds[3], -config.shear, config.shear) if config.shear else 0.0
    pose = tf.cast(tf.convert_to_tensor(pose), tf.float32)
    if _dims(pose, channels) == 2:
        return apply_affine(pose, affine_matrix(rotation, scale_x, scale_y, shear), valid, channels)
    seeds_3d = split_seed(split_seed(seed)[_AFFINE_3D], 2)
    yaw_angle = math.radians(config.vertical_rotation_deg)
    yaw = _uniform(seeds_3d[0], -yaw_angle, yaw_angle) if yaw_angle else 0.0
    scale_z = _uniform(seeds_3d[1], *config.scale_range) if config.scale_range is not None else 1.0
    matrix = affine_matrix_3d(yaw, rotation, scale_x, scale_y, scale_z, shear)
    return apply_affine(pose, matrix, valid, channels)


def flip_horizontal(pose, layout: str | JointLayout, valid=None, channels: str | None = None) -> tf.Tensor:
    """Mirror normalised poses ``(..., J, C)`` (centred at 0): x -> -x and left/right joints swapped
    (for 3D poses: a mirror through the vertical y-z plane)."""
    layout = get_layout(layout)
    pose, valid = _masked(pose, valid, channels)
    mirrored = tf.concat([-pose[..., :1], pose[..., 1:]], axis=-1)
    mirrored = tf.where(valid[..., None], mirrored, tf.zeros_like(mirrored))
    return tf.gather(mirrored, list(layout.flip_permutation), axis=-2)


def jitter(pose, seed, std: float, valid=None, channels: str | None = None) -> tf.Tensor:
    """Add Gaussian noise of std ``std`` to the coordinates (x, y, and z for 3D) of valid joints."""
    pose, valid = _masked(pose, valid, channels)
    dims = _dims(pose, channels)
    noise = tf.random.stateless_normal(tf.shape(pose[..., :dims]), seed, stddev=std)
    out = tf.concat([pose[..., :dims] + noise, pose[..., dims:]], axis=-1)
    return tf.where(valid[..., None], out, tf.zeros_like(out))


def drop_joints(pose, seed, rate: float, valid=None, channels: str | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """Set each joint of each frame missing (all zeros) with probability ``rate``; returns (pose, valid)."""
    pose, valid = _masked(pose, valid, channels)
    keep = tf.random.stateless_uniform(tf.shape(valid), seed) >= rate
    valid = valid & keep
    return tf.where(valid[..., None], pose, tf.zeros_like(pose)), valid


# --- everything -------------------------------------------------------------------------------
def augment_example(
    pose,
    length,
    seed,
    layout: str | JointLayout,
    config: AugmentConfig | None = None,
    num_frames: int = 30,
    *,
    sampling: str = "resample",
    normalize_mode: str = "sequence",
    channels: str | None = None,
) -> tf.Tensor:
    """Training preprocessing of one raw sequence ``(T, J, C)`` -> float32 ``(num_frames, J, C)``.

    Temporal crop/speed (resampling to ``num_frames``) -> normalise -> affine -> flip -> jitter ->
    dropout, every random choice derived from ``seed``. With ``config=None`` the defaults are used.
    ``channels`` describes C (None: ``xy`` for C = 2, ``xyc`` for C = 3); 3D poses are augmented in 3D.
    """
    layout = get_layout(layout)
    config = AugmentConfig() if config is None else config
    if normalize_mode not in NORMALIZE_MODES:
        raise InvalidInputError(f"normalize mode must be one of {NORMALIZE_MODES}, got {normalize_mode!r}")
    seeds = split_seed(seed)
    pose = random_temporal_resample(pose, length, seed, config, num_frames, sampling, channels)
    valid = joint_validity(pose, channels)  # before normalisation: a normalised xy joint may sit at (0, 0)
    pose = normalize_pose(pose, layout, mode=normalize_mode, channels=channels)
    yaw = _dims(pose, channels) == 3 and config.vertical_rotation_deg > 0
    if config.rotation_deg or config.scale_range is not None or config.shear or yaw:
        pose = random_affine(pose, seed, config, valid, channels)
    if config.flip_prob == "auto":
        raise InvalidInputError(
            "flip_prob auto is decided from the training clips (har_tf.data.laterality.resolve_flip) "
            "before augmenting; give a probability here"
        )
    if config.flip_prob > 0:
        flipped = flip_horizontal(pose, layout, valid, channels)
        do_flip = _uniform(seeds[_FLIP], 0.0, 1.0) < config.flip_prob
        pose = tf.where(do_flip, flipped, pose)
        valid = tf.where(do_flip, tf.gather(valid, list(layout.flip_permutation), axis=-1), valid)
    if config.jitter_std > 0:
        pose = jitter(pose, seeds[_JITTER], config.jitter_std, valid, channels)
    if config.joint_dropout > 0:
        pose, valid = drop_joints(pose, seeds[_DROPOUT], config.joint_dropout, valid, channels)
    return pose
