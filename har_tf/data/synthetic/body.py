"""A 3D stick-figure body, its kinematics, and a pinhole camera that projects it to COCO-17 pixels.

Coordinates: world metres with the ground at y = 0 and y up. The body's own frame has its origin at
the pelvis centre, +X to the person's left, +Y up and +Z forward (where the person faces). An action
(see :mod:`.actions`) describes, frame by frame, the pelvis position and orientation, the bend and
twist of the upper body, the head pitch, and where the wrists and ankles should be; two-bone inverse
kinematics places elbows and knees.
"""

from __future__ import annotations

import dataclasses

import numpy as np

# COCO-17 order (har_tf.skeleton.COCO17) of the points this body produces.
COCO17_FROM_BODY = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)


@dataclasses.dataclass(frozen=True)
class BodyShape:
    """Segment lengths of one subject, in metres."""

    height: float
    upper_arm: float
    forearm: float
    thigh: float
    shin: float
    torso: float
    neck: float
    head_radius: float
    shoulder_half: float
    hip_half: float
    ankle_height: float

    @classmethod
    def sample(cls, rng: np.random.Generator) -> BodyShape:
        """A random adult: height 1.50-1.95 m, each proportion varied by about 6%."""
        h = rng.uniform(1.50, 1.95)

        def part(ratio: float) -> float:
            return float(h * ratio * rng.normal(1.0, 0.06))

        return cls(
            height=float(h),
            upper_arm=part(0.186),
            forearm=part(0.146),
            thigh=part(0.245),
            shin=part(0.246),
            torso=part(0.30),
            neck=part(0.075),
            head_radius=part(0.062),
            shoulder_half=part(0.115),
            hip_half=part(0.085),
            ankle_height=part(0.039),
        )

    @property
    def leg(self) -> float:
        return self.thigh + self.shin

    @property
    def hip_height(self) -> float:
        """Pelvis height when standing straight."""
        return self.leg * 0.985 + self.ankle_height


@dataclasses.dataclass
class Motion:
    """Frame-by-frame body state, arrays of length T (vectors (T, 3)).

    ``hand_left`` / ``hand_right`` are wrist targets in the upper-body frame relative to the neck;
    ``foot_left`` / ``foot_right`` are ankle targets in the pelvis frame.
    """

    root: np.ndarray
    yaw: np.ndarray
    pitch: np.ndarray
    roll: np.ndarray
    lean: np.ndarray
    twist: np.ndarray
    head_pitch: np.ndarray
    hand_left: np.ndarray
    hand_right: np.ndarray
    foot_left: np.ndarray
    foot_right: np.ndarray


def rot_x(a: np.ndarray) -> np.ndarray:
    """(T, 3, 3) rotations about X; positive tips +Y towards +Z (leaning forward)."""
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(a: np.ndarray) -> np.ndarray:
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def _apply(rot: np.ndarray, vec) -> np.ndarray:
    return np.einsum("tij,tj->ti", rot, np.broadcast_to(np.asarray(vec, dtype=np.float64), rot.shape[:-1]))


def _normalize(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def two_bone_ik(root, target, len_a: float, len_b: float, pole) -> tuple[np.ndarray, np.ndarray]:
    """Middle and end joints of a two-segment limb reaching for ``target`` (clamped to its reach).

    ``pole`` is the direction the middle joint (elbow, knee) bends towards.
    """
    delta = target - root
    dist = np.linalg.norm(delta, axis=-1, keepdims=True)
    unit = delta / np.maximum(dist, 1e-9)
    dist = np.clip(dist, abs(len_a - len_b) + 1e-3, (len_a + len_b) * 0.999)
    cos_a = np.clip((len_a**2 + dist**2 - len_b**2) / (2 * len_a * dist), -1.0, 1.0)
    pole = np.broadcast_to(pole, unit.shape)
    perp = _normalize(pole - np.sum(pole * unit, axis=-1, keepdims=True) * unit)
    middle = root + len_a * (cos_a * unit + np.sqrt(1 - cos_a**2) * perp)
    return middle, root + unit * dist


def forward_kinematics(shape: BodyShape, motion: Motion) -> dict[str, np.ndarray]:
    """World positions (T, 3) of the COCO-17 joints plus ``neck``, ``head`` and ``hand_*`` points."""
    T = motion.root.shape[0]
    r = shape.head_radius
    upper = rot_x(motion.lean) @ rot_y(motion.twist)
    head_rot = upper @ rot_x(motion.head_pitch)
    pts: dict[str, np.ndarray] = {}
    neck = _apply(upper, [0.0, shape.torso, 0.0])
    head = neck + _apply(head_rot, [0.0, shape.neck + r * 0.9, 0.0])
    pts["neck"], pts["head"] = neck, head
    pts["nose"] = head + _apply(head_rot, [0.0, -0.15 * r, 1.0 * r])
    for side, sign in (("left", 1.0), ("right", -1.0)):
        pts[f"{side}_eye"] = head + _apply(head_rot, [sign * 0.38 * r, 0.22 * r, 0.85 * r])
        pts[f"{side}_ear"] = head + _apply(head_rot, [sign * 0.97 * r, 0.0, -0.05 * r])
        shoulder = neck + _apply(upper, [sign * shape.shoulder_half, -0.02 * shape.height, 0.0])
        target = neck + _apply(upper, getattr(motion, f"hand_{side}"))
        elbow_pole = _apply(upper, [sign * 0.5, -1.0, -0.6])
        elbow, wrist = two_bone_ik(shoulder, target, shape.upper_arm, shape.forearm, elbow_pole)
        hip = np.broadcast_to([sign * shape.hip_half, 0.0, 0.0], (T, 3)).astype(np.float64)
        knee, ankle = two_bone_ik(
            hip, getattr(motion, f"foot_{side}"), shape.thigh, shape.shin, [sign * 0.15, 0.0, 1.0]
        )
        pts[f"{side}_shoulder"], pts[f"{side}_elbow"], pts[f"{side}_wrist"] = shoulder, elbow, wrist
        pts[f"{side}_hand"] = wrist + _normalize(wrist - elbow) * 0.045 * shape.height
        pts[f"{side}_hip"], pts[f"{side}_knee"], pts[f"{side}_ankle"] = hip, knee, ankle
        pts[f"{side}_toe"] = ankle + np.array([0.0, -shape.ankle_height * 0.8, 0.13 * shape.height])
    body = rot_y(motion.yaw) @ rot_x(motion.pitch) @ rot_z(motion.roll)
    return {name: motion.root + np.einsum("tij,tj->ti", body, p) for name, p in pts.items()}


@dataclasses.dataclass(frozen=True)
class Camera:
    """A pinhole camera looking at ``target`` from ``position``; image x right, y down."""

    position: np.ndarray
    target: np.ndarray
    focal: float
    center: tuple[float, float]

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        forward = _normalize(self.target - self.position)
        right = _normalize(np.cross(forward, [0.0, 1.0, 0.0]))
        return right, np.cross(right, forward), forward

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels (..., 2) and depth (...,) of world points (..., 3)."""
        right, up, forward = self.axes()
        rel = points - self.position
        depth = np.maximum(rel @ forward, 1e-3)
        x = self.focal * (rel @ right) / depth + self.center[0]
        y = -self.focal * (rel @ up) / depth + self.center[1]
        return np.stack([x, y], axis=-1), depth

    @classmethod
    def sample(
        cls,
        rng: np.random.Generator,
        look_at: np.ndarray,
        facing_yaw: float,
        person_height: float,
        image_size: tuple[int, int],
    ) -> Camera:
        """A random viewpoint in front of or beside the person, from eye level to a ceiling camera."""
        height, width = image_size
        azimuth = facing_yaw + np.deg2rad(rng.uniform(-100, 100))
        elevation = np.deg2rad(rng.uniform(0, 35))
        distance = rng.uniform(3.0, 8.0)
        offset = np.array([np.cos(elevation) * np.sin(azimuth), np.sin(elevation), np.cos(elevation) * np.cos(azimuth)])
        fraction = rng.uniform(0.45, 0.75)  # of the image height taken by a standing person
        focal = fraction * height * distance / person_height
        center = (width / 2 + rng.uniform(-0.12, 0.12) * width, height / 2 + rng.uniform(-0.08, 0.08) * height)
        return cls(position=look_at + distance * offset, target=look_at, focal=float(focal), center=center)
