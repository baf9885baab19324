"""The synthetic action classes: each one a random generator of joint-target trajectories.

Every action draws its own timing (onset, duration, number of cycles), amplitude and handedness, so
no two clips move alike. Two groups of classes share one motion sampler and differ only by what the
person holds: ``drink`` / ``phone_call`` (a hand raised beside the face) and ``read_book`` /
``use_tablet`` (both hands holding something in front of the chest). Pose alone cannot tell the
classes of a group apart; the image can.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from har_tf.data.synthetic.body import BodyShape, Motion


@dataclasses.dataclass(frozen=True)
class ActionSpec:
    """One class: its name, its motion sampler, what is held and which scene props it needs."""

    name: str
    motion: Callable[[np.random.Generator, BodyShape, int], tuple[Motion, str]]
    held_object: str | None = None  # drawn at the hand named by the motion sampler
    props: tuple[str, ...] = ()  # scene props that must appear (others appear at random)
    group: str | None = None  # classes sharing a group share the motion sampler


def _time(T: int) -> np.ndarray:
    return np.linspace(0.0, 1.0, T)


def _smooth(x: np.ndarray) -> np.ndarray:
    """Smoothstep of x clipped to [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _bump(p: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((p - centre) / width) ** 2)


def _vec(x, y, z, T: int) -> np.ndarray:
    """A (T, 3) array from scalars or length-T arrays."""
    return np.stack(np.broadcast_arrays(x, y, z, np.zeros(T))[:3], axis=-1).astype(np.float64)


def _base(rng: np.random.Generator, s: BodyShape, T: int) -> Motion:
    """Standing still with arms hanging, breathing sway and a little weight shift."""
    p = _time(T)
    sway = rng.uniform(0.0, 0.015) * s.height * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * p + rng.uniform(0, 6.3))
    hang = -(s.upper_arm + s.forearm) * 0.97 + 0.02 * s.height
    stance = rng.uniform(0.0, 0.04) * s.height
    zero = np.zeros(T)
    return Motion(
        root=_vec(sway, s.hip_height, zero, T),
        yaw=zero.copy(),
        pitch=zero + rng.normal(0, 0.03),
        roll=zero.copy(),
        lean=zero + rng.normal(0.03, 0.03),
        twist=zero.copy(),
        head_pitch=zero + rng.normal(0.05, 0.08),
        hand_left=_vec(s.shoulder_half + 0.03 * s.height, hang, 0.02 * s.height, T),
        hand_right=_vec(-s.shoulder_half - 0.03 * s.height, hang, 0.02 * s.height, T),
        foot_left=_vec(s.hip_half + stance, -(s.hip_height - s.ankle_height), zero, T),
        foot_right=_vec(-s.hip_half - stance, -(s.hip_height - s.ankle_height), zero, T),
    )


def _side(rng: np.random.Generator) -> tuple[str, float]:
    return ("right", -1.0) if rng.random() < 0.7 else ("left", 1.0)


def _gait(rng: np.random.Generator, s: BodyShape, T: int, m: Motion, stride_scale: float, swing_arms: bool) -> None:
    """Walking in place on the spot of the pelvis frame while the root moves forward."""
    p = _time(T)
    cycles = rng.uniform(0.9, 2.0)
    phase = 2 * np.pi * cycles * p + rng.uniform(0, 2 * np.pi)
    stride = rng.uniform(0.30, 0.42) * s.height * stride_scale
    lift = rng.uniform(0.05, 0.09) * s.height
    drop = -(s.hip_height - s.ankle_height)
    for side, sign, offset in (("left", 1.0, 0.0), ("right", -1.0, np.pi)):
        ph = phase + offset
        foot = _vec(sign * s.hip_half, drop + lift * np.maximum(0, np.cos(ph)), 0.5 * stride * np.sin(ph), T)
        setattr(m, f"foot_{side}", foot)
        if swing_arms:
            hand = getattr(m, f"hand_{side}")
            hand[:, 2] += -0.4 * stride * np.sin(ph)
    m.root[:, 2] += stride * cycles * 2 * p  # two steps per cycle
    m.root[:, 1] += 0.012 * s.height * np.abs(np.cos(phase))


def walk(rng, s, T):
    m = _base(rng, s, T)
    _gait(rng, s, T, m, 1.0, swing_arms=True)
    return m, "right"


def carry_box(rng, s, T):
    m = _base(rng, s, T)
    _gait(rng, s, T, m, 0.7, swing_arms=False)
    height, depth = rng.uniform(-0.24, -0.14) * s.height, rng.uniform(0.20, 0.27) * s.height
    half = rng.uniform(0.09, 0.12) * s.height
    m.hand_left[:] = [half, height, depth]
    m.hand_right[:] = [-half, height, depth]
    m.lean += rng.uniform(-0.08, 0.02)
    return m, "both"


def wave(rng, s, T):
    m = _base(rng, s, T)
    side, sign = _side(rng)
    p = _time(T)
    rise = _smooth((p - rng.uniform(0.0, 0.2)) / rng.uniform(0.1, 0.2))
    waves = rng.uniform(2.0, 4.5)
    x = sign * (0.22 * s.height + 0.07 * s.height * np.sin(2 * np.pi * waves * p + rng.uniform(0, 6.3)))
    up = _vec(x, rng.uniform(0.10, 0.2) * s.height, rng.uniform(0.0, 0.1) * s.height, T)
    hand = getattr(m, f"hand_{side}")
    setattr(m, f"hand_{side}", hand + rise[:, None] * (up - hand))
    return m, side


def punch(rng, s, T):
    m = _base(rng, s, T)
    p = _time(T)
    lead = rng.choice([-1.0, 1.0])
    m.foot_left[:, 2] += lead * 0.1 * s.height
    m.foot_right[:, 2] -= lead * 0.1 * s.height
    m.root[:, 1] -= 0.03 * s.height
    for side, sign in (("left", 1.0), ("right", -1.0)):
        setattr(m, f"hand_{side}", _vec(sign * 0.07 * s.height, rng.uniform(0.0, 0.04) * s.height, 0.13 * s.height, T))
    count = rng.integers(2, 5)
    times = np.sort(rng.uniform(0.15, 0.9, count))
    first = rng.integers(0, 2)
    reach = (s.upper_arm + s.forearm) * rng.uniform(0.85, 1.0)
    for i, t0 in enumerate(times):
        side, sign = (("left", 1.0), ("right", -1.0))[(first + i) % 2]
        hit = _bump(p, t0, rng.uniform(0.025, 0.045))[:, None]
        target = np.array([sign * 0.02 * s.height, -0.02 * s.height, reach])
        hand = getattr(m, f"hand_{side}")
        setattr(m, f"hand_{side}", hand + hit * (target - hand))
        m.twist += -sign * 0.35 * hit[:, 0]
    return m, "right"


def kick(rng, s, T):
    m = _base(rng, s, T)
    p = _time(T)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        setattr(m, f"hand_{side}", _vec(sign * 0.09 * s.height, -0.03 * s.height, 0.12 * s.height, T))
    side, sign = _side(rng)
    for t0 in np.sort(rng.uniform(0.2, 0.85, rng.integers(1, 3))):
        hit = _bump(p, t0, rng.uniform(0.04, 0.07))[:, None]
        target = np.array([sign * s.hip_half, -0.35 * s.leg * rng.uniform(0.6, 1.2), 0.85 * s.leg])
        foot = getattr(m, f"foot_{side}")
        setattr(m, f"foot_{side}", foot + hit * (target - foot))
        m.pitch -= 0.25 * hit[:, 0]
    return m, side


def fall(rng, s, T):
    m = _base(rng, s, T)
    p = _time(T)
    onset, duration = rng.uniform(0.15, 0.5), rng.uniform(0.1, 0.25)
    k = _smooth((p - onset) / duration)
    direction = rng.choice(["forward", "backward", "left", "right"])
    angle = np.deg2rad(rng.uniform(70, 90)) * k
    if direction in ("forward", "backward"):
        m.pitch += angle * (1 if direction == "forward" else -1)
        shift = np.array([0.0, 0.0, 1.0 if direction == "forward" else -1.0])
    else:
        m.roll += angle * (1 if direction == "right" else -1)  # roll > 0 tips the head to -X (right)
        shift = np.array([-1.0 if direction == "right" else 1.0, 0.0, 0.0])
    m.root[:, 1] = s.hip_height + k * (0.11 * s.height - s.hip_height)
    m.root += (k * 0.35 * s.height)[:, None] * shift
    brace = _vec(0.0, 0.2 * s.height, 0.35 * s.height, T) * k[:, None]
    m.hand_left += brace + _vec(0.1 * s.height, 0, 0, T) * k[:, None]
    m.hand_right += brace - _vec(0.1 * s.height, 0, 0, T) * k[:, None]
    bend = _bump(p, onset + duration / 2, duration / 2)[:, None]
    m.foot_left += _vec(0, 0.12 * s.height, 0.1 * s.height, T) * bend
    m.foot_right += _vec(0, 0.12 * s.height, 0.1 * s.height, T) * bend
    return m, "right"


def sit_down(rng, s, T):
    m = _base(rng, s, T)
    p = _time(T)
    onset, duration = rng.uniform(0.1, 0.35), rng.uniform(0.3, 0.5)
    k = _smooth((p - onset) / duration)
    seat = rng.uniform(0.25, 0.29) * s.height
    m.root[:, 1] += k * (seat + 0.03 * s.height - s.hip_height)
    m.root[:, 2] -= k * 0.12 * s.height
    m.lean += 0.5 * np.sin(np.pi * k) + 0.05 * k
    for side in ("left", "right"):
        foot = getattr(m, f"foot_{side}")
        foot[:, 1] = -(m.root[:, 1] - s.ankle_height)
        foot[:, 2] += k * s.thigh * 0.95
        hand = getattr(m, f"hand_{side}")
        sign = 1.0 if side == "left" else -1.0
        on_lap = np.array([sign * 0.1 * s.height, -s.torso * 0.9, s.thigh * 0.6])
        setattr(m, f"hand_{side}", hand + k[:, None] * (on_lap - hand))
    return m, "right"


def climb_ladder(rng, s, T):
    m = _base(rng, s, T)
    p = _time(T)
    cycles = rng.uniform(0.8, 1.6)
    phase = 2 * np.pi * cycles * p + rng.uniform(0, 2 * np.pi)
    m.root[:, 1] += rng.uniform(0.25, 0.5) * s.height * p
    m.root[:, 2] = 0.0
    m.lean += 0.1
    for side, sign, offset in (("left", 1.0, 0.0), ("right", -1.0, np.pi)):
        ph = phase + offset
        reach = np.maximum(0, np.sin(ph))
        setattr(m, f"hand_{side}", _vec(sign * 0.13 * s.height, (0.08 + 0.14 * reach) * s.height, 0.2 * s.height, T))
        foot = getattr(m, f"foot_{side}")
        foot[:, 1] += 0.16 * s.height * np.maximum(0, np.cos(ph))
        foot[:, 2] = 0.09 * s.height + 0.05 * s.height * np.maximum(0, np.cos(ph))
    return m, "right"


def hand_to_head(rng, s, T):
    """Shared by drink and phone_call: one hand raised beside the face and held there."""
    m = _base(rng, s, T)
    side, sign = _side(rng)
    p = _time(T)
    onset, duration = rng.uniform(0.0, 0.35), rng.uniform(0.1, 0.25)
    k = _smooth((p - onset) / duration)
    if rng.random() < 0.3:  # lowers the hand again before the end
        k = k * (1 - _smooth((p - rng.uniform(0.75, 0.95)) / 0.1))
    lateral = rng.uniform(0.0, 1.0)  # 0 = in front of the mouth, 1 = at the ear
    target = np.array(
        [
            sign * (0.02 + 0.06 * lateral) * s.height,
            rng.uniform(0.05, 0.1) * s.height,
            (0.09 - 0.06 * lateral) * s.height,
        ]
    )
    wobble = 0.012 * s.height * np.sin(2 * np.pi * rng.uniform(1, 3) * p + rng.uniform(0, 6.3))
    hand = getattr(m, f"hand_{side}")
    setattr(m, f"hand_{side}", hand + k[:, None] * (target + wobble[:, None] - hand))
    m.head_pitch += -rng.uniform(0.0, 0.25) * k
    return m, side


def hold_in_front(rng, s, T):
    """Shared by read_book and use_tablet: both hands hold something in front of the chest."""
    m = _base(rng, s, T)
    p = _time(T)
    height, depth = rng.uniform(-0.16, -0.06) * s.height, rng.uniform(0.17, 0.24) * s.height
    half = rng.uniform(0.05, 0.09) * s.height
    sway = 0.01 * s.height * np.sin(2 * np.pi * rng.uniform(0.3, 1.2) * p + rng.uniform(0, 6.3))
    m.hand_left = _vec(half, height + sway, depth, T)
    m.hand_right = _vec(-half, height + sway, depth, T)
    for _ in range(rng.integers(0, 3)):  # now and then one hand moves (turns a page, swipes)
        side = "left" if rng.random() < 0.5 else "right"
        bump = _bump(p, rng.uniform(0.1, 0.9), 0.04)
        getattr(m, f"hand_{side}")[:, 0] += (1 if side == "left" else -1) * -0.05 * s.height * bump
    m.head_pitch += rng.uniform(0.25, 0.6)
    return m, "both"


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("walk", walk),
    ActionSpec("carry_box", carry_box, held_object="box"),
    ActionSpec("wave", wave),
    ActionSpec("punch", punch),
    ActionSpec("kick", kick),
    ActionSpec("fall", fall),
    ActionSpec("sit_down", sit_down, props=("chair",)),
    ActionSpec("climb_ladder", climb_ladder, props=("ladder",)),
    ActionSpec("drink", hand_to_head, held_object="cup", group="hand_to_head"),
    ActionSpec("phone_call", hand_to_head, held_object="phone", group="hand_to_head"),
    ActionSpec("read_book", hold_in_front, held_object="book", group="hold_in_front"),
    ActionSpec("use_tablet", hold_in_front, held_object="tablet", group="hold_in_front"),
)
CLASS_NAMES: tuple[str, ...] = tuple(a.name for a in ACTIONS)


def ambiguous_groups(actions: tuple[ActionSpec, ...] = ACTIONS) -> dict[str, tuple[int, ...]]:
    """Group name -> class indices whose motion comes from the same sampler."""
    groups: dict[str, list[int]] = {}
    for i, action in enumerate(actions):
        if action.group:
            groups.setdefault(action.group, []).append(i)
    return {g: tuple(idx) for g, idx in groups.items()}
