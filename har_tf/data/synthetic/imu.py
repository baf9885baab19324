"""A simulated wrist-worn inertial sensor (accelerometer + gyroscope) from a clip's 3D joint trajectories.

The video frames are ``1 / fps`` seconds apart. The wrist and elbow trajectories are interpolated
with a cubic spline (continuous acceleration) and sampled at the sensor's own rate from the first
frame's time to the last frame's. The sensor frame follows the forearm: its x axis points from the
elbow to the wrist; y and z turn with the forearm without twisting about it (parallel transport,
started with z pointing away from the body), then a fixed random roll about x stands for how the
strap sits. In that frame:

- the accelerometer reads the specific force ``a - g`` (the wrist's acceleration minus gravity) in
  units of g: about 1 g at rest, along the forearm when the arm hangs;
- the gyroscope reads the frame's angular velocity in deg/s, and integrating it reproduces the
  frame's orientation (the two streams agree).

Each clip gets a constant bias per channel and white noise per sample, then saturates at the ranges
of a consumer wrist sensor (+-16 g, +-2000 deg/s). Samples are finally resampled (linearly) to a
fixed count when one is asked for. All noise comes from the generator passed in, so a seeded
generator gives the same bytes.
"""

from __future__ import annotations

import math

import numpy as np

from har_tf.errors import InvalidInputError

IMU_CHANNELS: tuple[str, ...] = ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
GRAVITY = 9.80665  # m/s^2 per g
ACC_NOISE_G, ACC_BIAS_G, ACC_RANGE_G = 0.01, 0.02, 16.0
GYR_NOISE_DPS, GYR_BIAS_DPS, GYR_RANGE_DPS = 0.5, 1.5, 2000.0
MOUNT_ROLL_DEG = 20.0  # the strap's roll about the forearm: uniform in +-this per clip


def imu_sample_count(num_frames: int, fps: float, rate_hz: float) -> int:
    """Samples a sensor at ``rate_hz`` takes from the first of ``num_frames`` video frames to the last."""
    if not (math.isfinite(fps) and fps > 0 and math.isfinite(rate_hz) and rate_hz > 0):
        raise InvalidInputError(f"expected a positive finite video fps and sensor rate, got {fps!r} and {rate_hz!r}")
    count = math.floor((num_frames - 1) / fps * rate_hz + 1e-9) + 1
    if count < 2:
        raise InvalidInputError(
            f"a sensor at {rate_hz} Hz takes fewer than 2 samples during {num_frames} frames at "
            f"{fps} fps: raise the rate"
        )
    return count


def _spline_second_derivatives(y: np.ndarray, h: float) -> np.ndarray:
    """Knot second derivatives (T, D) of the cubic spline through ``y`` (T, D) on a uniform grid of step h,
    with parabolic run-out ends (the end intervals keep a constant second derivative)."""
    T = y.shape[0]
    if T < 3:
        return np.zeros_like(y)
    A = np.zeros((T, T))
    b = np.zeros_like(y)
    A[0, :2], A[-1, -2:] = (1.0, -1.0), (-1.0, 1.0)
    idx = np.arange(1, T - 1)
    A[idx, idx - 1], A[idx, idx], A[idx, idx + 1] = 1.0, 4.0, 1.0
    b[1:-1] = 6.0 * (y[2:] - 2.0 * y[1:-1] + y[:-2]) / h**2
    return np.linalg.solve(A, b)


def _spline_eval(y: np.ndarray, h: float, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position and second derivative (len(t), D) of the spline through ``y`` (knots at 0, h, 2h...) at ``t``."""
    M = _spline_second_derivatives(y, h)
    i = np.clip((t / h).astype(np.int64), 0, y.shape[0] - 2)
    a = ((i + 1) * h - t)[:, None]  # time to the right knot
    c = (t - i * h)[:, None]  # time from the left knot
    pos = (M[i] * a**3 + M[i + 1] * c**3) / (6 * h)
    pos += (y[i] / h - M[i] * h / 6) * a + (y[i + 1] / h - M[i + 1] * h / 6) * c
    return pos, (M[i] * a + M[i + 1] * c) / h


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def forearm_frames(elbow: np.ndarray, wrist: np.ndarray, outward: np.ndarray) -> np.ndarray:
    """Sensor axes (N, 3, 3) (columns x, y, z in world coordinates) along the forearm, parallel transported.

    x = elbow -> wrist; the first z is ``outward`` (3,) made perpendicular to x (world up or forward when
    the two are parallel); later frames turn by the smallest rotation that carries x along (two
    reflections: across the plane normal to x_k + x_k+1, then across the one normal to x_k+1).
    """
    x = _unit(wrist - elbow)
    z = outward - np.dot(outward, x[0]) * x[0]
    for fallback in (np.array([0.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0])):
        if np.linalg.norm(z) > 0.2:
            break
        z = fallback - np.dot(fallback, x[0]) * x[0]
    y = np.empty_like(x)
    y[0] = _unit(np.cross(_unit(z), x[0]))
    for k in range(1, len(x)):
        a, b, v = x[k - 1], x[k], y[k - 1]
        n = a + b
        nn = float(np.dot(n, n))
        if nn > 1e-12:  # (x flipping by 180 degrees in one step keeps y as it is)
            v = v - (2.0 * float(np.dot(n, v)) / nn) * n
            v = v - (2.0 * float(np.dot(b, v))) * b
        v = v - float(np.dot(v, b)) * b  # keep the frame orthonormal
        y[k] = v / math.sqrt(max(float(np.dot(v, v)), 1e-18))
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def angular_velocity(frames: np.ndarray, dt: float) -> np.ndarray:
    """Angular velocity (N, 3) in rad/s of the rotating frames (N, 3, 3), in each frame's own axes."""
    rel = np.einsum("kji,kjl->kil", frames[:-1], frames[1:])  # R_k^T R_{k+1}: the step in frame k's axes
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1.0) / 2.0, -1.0, 1.0)
    angle = np.arccos(cos)
    vee = np.stack([rel[:, 2, 1] - rel[:, 1, 2], rel[:, 0, 2] - rel[:, 2, 0], rel[:, 1, 0] - rel[:, 0, 1]], axis=-1)
    scale = np.where(angle > 1e-9, angle / np.maximum(2.0 * np.sin(angle), 1e-12), 0.5)
    steps = vee * scale[:, None] / dt  # one rate per interval, at its midpoint
    n = len(frames)
    mid = np.arange(n - 1) + 0.5
    return np.stack([np.interp(np.arange(n), mid, steps[:, d]) for d in range(3)], axis=-1)


def simulate_wrist_imu(
    points: dict[str, np.ndarray],
    fps: float,
    rng: np.random.Generator,
    rate_hz: float = 50.0,
    num_samples: int | None = None,
    side: str = "right",
    noise: bool = True,
) -> tuple[np.ndarray, float]:
    """A wrist sensor's samples (S, 6) float32 (acc_x, acc_y, acc_z in g, gyr_x, gyr_y, gyr_z in deg/s)
    and the rate (Hz) of those S samples.

    ``points``: world trajectories (T, 3) in metres, y up (as from
    :func:`har_tf.data.synthetic.body.forward_kinematics`), with ``{side}_elbow``, ``{side}_wrist``
    and both shoulders. The sensor samples at ``rate_hz`` over the clip; ``num_samples`` resamples
    those to a fixed count (None keeps them). ``noise=False`` gives the ideal sensor (no bias, noise,
    strap roll).
    """
    if side not in ("left", "right"):
        raise InvalidInputError(f"side must be 'left' or 'right', got {side!r}")
    T = len(points[f"{side}_wrist"])
    native = imu_sample_count(T, fps, rate_hz)
    if num_samples is not None and num_samples < 2:
        raise InvalidInputError(
            f"num_samples must be at least 2 (or None for the sensor's own count), got {num_samples}"
        )
    h, dt = 1.0 / fps, 1.0 / rate_hz
    t = np.arange(native) * dt
    wrist, acc_world = _spline_eval(np.asarray(points[f"{side}_wrist"], np.float64), h, t)
    elbow, _ = _spline_eval(np.asarray(points[f"{side}_elbow"], np.float64), h, t)
    other = "left" if side == "right" else "right"
    outward = np.asarray(points[f"{side}_shoulder"][0], np.float64) - points[f"{other}_shoulder"][0]
    frames = forearm_frames(elbow, wrist, _unit(outward))
    if noise:  # how the strap sits: a fixed roll about the forearm
        roll = np.deg2rad(rng.uniform(-MOUNT_ROLL_DEG, MOUNT_ROLL_DEG))
        c, s = math.cos(roll), math.sin(roll)
        frames = frames @ np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])
    specific_force = acc_world + np.array([0.0, GRAVITY, 0.0])  # a - g with g = (0, -9.81, 0)
    acc = np.einsum("kji,kj->ki", frames, specific_force) / GRAVITY
    gyr = np.rad2deg(angular_velocity(frames, dt))
    if noise:
        acc = acc + rng.normal(0.0, ACC_BIAS_G, 3) + rng.normal(0.0, ACC_NOISE_G, acc.shape)
        gyr = gyr + rng.normal(0.0, GYR_BIAS_DPS, 3) + rng.normal(0.0, GYR_NOISE_DPS, gyr.shape)
    acc, gyr = np.clip(acc, -ACC_RANGE_G, ACC_RANGE_G), np.clip(gyr, -GYR_RANGE_DPS, GYR_RANGE_DPS)  # saturation
    samples = np.concatenate([acc, gyr], axis=-1)
    rate = float(rate_hz)
    if num_samples is not None and num_samples != native:
        span = (native - 1) * dt
        new_t = np.linspace(0.0, span, num_samples)
        samples = np.stack([np.interp(new_t, t, samples[:, d]) for d in range(samples.shape[1])], axis=-1)
        rate = (num_samples - 1) / span
    return samples.astype(np.float32), rate
