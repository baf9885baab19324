"""Wrist-sensor (IMU) samples for a model's ``imu`` input: a time-stamped ring buffer and resampling.

A model with an inertial branch takes ``imu`` float32 ``(S, D)`` per clip: D channels (for a 6-axis
sensor the accelerometer in g, then the gyroscope in deg/s) at S instants evenly spaced from the time
of the clip's first pose frame to the time of its last (``numpy.linspace(t_start, t_end, S)``). A
sensor gives samples at its own rate (50-200 Hz for a wrist sensor), each with its time stamp in
seconds on the same clock as the frames. :func:`resample_window` turns those samples into the S
values of a window by linear interpolation, from the samples up to ``t_end`` only (what a live stream
has when the window's last frame comes, so that a streamed window equals the same window offline):

- an instant between two samples at most ``max_gap_s`` apart gets their interpolation; one before
  the first sample or after the last, within ``max_gap_s / 2`` of it, gets that sample's values;
- any other instant falls in a gap (no reading: the sensor was off, out of range or not yet started):
  its row is all zeros, which the model reads as a missing sample (see
  :class:`~har_tf.models.inertial_encoder.InertialEncoder`); a window without any sample is all zeros,
  i.e. "no sensor".

:class:`IMUBuffer` keeps the last ``capacity`` samples (bounded memory on an endless stream) and
answers :meth:`IMUBuffer.window`. :func:`resample_clip` resamples a whole recording taken at a
constant rate (a file of samples without time stamps). Bad samples are refused with an
:class:`~har_tf.errors.InvalidInputError` that says what was expected: the wrong number of channels,
NaN or infinite values, time stamps that do not increase, and a rate that cannot be resampled (not
a positive number of samples per second, samples further apart than ``max_gap_s``, or more samples
per window than the buffer holds).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from har_tf.data.checks import numeric_array
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError

MAX_GAP_S = 0.25  # samples further apart than this leave a gap between them (a wrist sensor: 5-20 ms apart)
CAPACITY = 8192  # samples kept by default: 41 s at 200 Hz, 8 s at 1 kHz; 0.26 MB for 6 channels
RATE_SAMPLES = 8  # intervals needed before a stream's rate is judged (see IMUBuffer.push)


def as_samples(samples, num_channels: int, name: str = "imu samples") -> tuple[np.ndarray, np.ndarray]:
    """Time-stamped sensor samples as ``(times float64 (N,), values float32 (N, D))``, checked.

    ``samples``: a tuple ``(timestamps (N,), values (N, D))``, or an array of rows ``(N, 1 + D)``
    ``[t, v_1, ..., v_D]`` (one row ``(1 + D,)`` is one sample); times in seconds. Refused: another
    shape or number of channels, NaN or infinite times or values, and times that do not increase.
    """
    if isinstance(samples, tuple):
        if len(samples) != 2:
            raise InvalidInputError(
                f"{name} must be (timestamps, values) or rows [t, v_1..v_D], got a tuple of {len(samples)}"
            )
        times, values = numeric_array(samples[0], name, "of numbers"), numeric_array(samples[1], name, "of numbers")
        values = values[None] if values.ndim == 1 and times.ndim == 0 else values
        times = times.reshape(-1) if times.ndim == 0 else times
        if values.ndim != 2 or times.ndim != 1 or len(times) != len(values):
            raise InvalidInputError(
                f"{name}: timestamps (N,) and values (N, D) must have the same N, got shapes "
                f"{times.shape} and {values.shape}"
            )
        if values.shape[1] != num_channels:
            raise InvalidInputError(
                f"{name} have D = {values.shape[1]} channels but the model takes D = {num_channels}"
                f"{_channel_hint(num_channels)}"
            )
    else:
        rows = numeric_array(samples, name, "of numbers")
        rows = rows.reshape(0, 1 + num_channels) if rows.size == 0 else rows[None] if rows.ndim == 1 else rows
        if rows.ndim != 2:
            raise InvalidInputError(
                f"{name} must be rows (N, {1 + num_channels}) [t, v_1..v_{num_channels}] or a "
                f"tuple (timestamps, values), got shape {np.shape(samples)}"
            )
        if rows.shape[1] != 1 + num_channels:
            raise InvalidInputError(
                f"{name} have D = {rows.shape[1] - 1} channels (rows of {rows.shape[1]}: a time "
                f"stamp, then the values) but the model takes D = {num_channels}"
                f"{_channel_hint(num_channels)}"
            )
        times, values = rows[:, 0], rows[:, 1:]
    times, values = times.astype(np.float64), values.astype(np.float32)
    if not np.isfinite(times).all():
        raise InvalidInputError(
            f"{name}: time stamp {int(np.argmin(np.isfinite(times)))} is NaN or infinite; "
            "every sample needs its time in seconds"
        )
    if not np.isfinite(values).all():
        sample, channel = np.argwhere(~np.isfinite(values))[0]
        raise InvalidInputError(
            f"{name} hold NaN or infinite values (first at sample {sample}, channel {channel}): "
            "leave a bad reading out (the time without samples reads as missing)"
        )
    _check_increasing(times, name)
    return times, values


def resample_window(
    times: np.ndarray, values: np.ndarray, t_start: float, t_end: float, num_samples: int, max_gap_s: float = MAX_GAP_S
) -> np.ndarray:
    """The S = ``num_samples`` values ``(S, D)`` at ``linspace(t_start, t_end, S)`` of samples ``values``
    ``(N, D)`` taken at increasing ``times`` ``(N,)`` (see the module docstring: linear interpolation of
    the samples up to ``t_end``, all-zero rows in gaps)."""
    num_samples, max_gap_s = int(num_samples), float(max_gap_s)
    if num_samples < 1:
        raise InvalidInputError(f"a window needs at least one sample, got S = {num_samples}")
    if not (np.isfinite(t_start) and np.isfinite(t_end)) or t_end < t_start:
        raise InvalidInputError(f"a window runs from t_start to t_end >= t_start (seconds), got {t_start} to {t_end}")
    if not np.isfinite(max_gap_s) or max_gap_s <= 0:
        raise InvalidInputError(f"max_gap_s must be a positive number of seconds, got {max_gap_s}")
    times, values = np.asarray(times, np.float64), np.asarray(values, np.float32)
    known = np.searchsorted(times, t_end, side="right")  # the samples up to t_end
    times, values = times[:known], values[:known]
    out = np.zeros((num_samples, values.shape[-1]), np.float32)
    if len(times) == 0:
        return out
    grid = np.linspace(t_start, t_end, num_samples)
    after = np.searchsorted(times, grid, side="left")  # first sample at or after each instant
    before = np.searchsorted(times, grid, side="right") - 1  # last sample at or before it
    has_before, has_after = before >= 0, after < len(times)
    prev_t = times[np.clip(before, 0, None)]
    next_t = times[np.clip(after, None, len(times) - 1)]
    valid = np.where(
        has_before & has_after,
        next_t - prev_t <= max_gap_s,
        np.where(has_before, grid - prev_t <= max_gap_s / 2, next_t - grid <= max_gap_s / 2),
    )
    if valid.any():
        for channel in range(values.shape[1]):
            out[valid, channel] = np.interp(grid[valid], times, values[:, channel])
    return out


def resample_clip(values, rate_hz: float, num_samples: int, name: str = "imu") -> np.ndarray:
    """A recording ``(N, D)`` taken at a constant ``rate_hz`` as S = ``num_samples`` values ``(S, D)``
    evenly spaced from its first sample to its last (linear interpolation). Refused: a rate that is not a
    positive number of samples per second, fewer than 2 samples, NaN or infinite values."""
    try:
        rate = float(rate_hz)
    except (TypeError, ValueError):
        rate = float("nan")
    if not np.isfinite(rate) or rate <= 0:
        raise InvalidInputError(
            f"the {name} rate must be a positive number of samples per second (Hz), got {rate_hz!r}"
        )
    array = numeric_array(values, name, "of numbers")
    if array.ndim != 2 or len(array) < 2:
        raise InvalidInputError(
            f"{name} must be samples (N, D) with N >= 2 to resample at {rate:g} Hz, got shape {array.shape}"
        )
    if not np.isfinite(array).all():
        sample, channel = np.argwhere(~np.isfinite(array))[0]
        raise InvalidInputError(f"{name} holds NaN or infinite values (first at sample {sample}, channel {channel})")
    times = np.arange(len(array)) / rate
    return resample_window(times, array, 0.0, float(times[-1]), num_samples, max_gap_s=2.0 / rate)


def read_imu_csv(path: str | os.PathLike, num_channels: int) -> np.ndarray:
    """A recording's samples from a CSV file, rows ``(N, 1 + D)`` ``[t, v_1..v_D]`` (checked as
    :func:`as_samples` does): one line per sample, the time in seconds then the D values, comma
    separated; a first line of column names is skipped."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no such sensor CSV file: {path}")
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    start = 1 if lines and any(c.isalpha() and c not in "eE" for c in lines[0]) else 0
    lines = [line for line in lines[start:] if line.strip()]
    if not lines:
        raise DataFormatError(f"{path} holds no sensor samples (one line per sample: t, then {num_channels} values)")
    try:
        rows = np.loadtxt(lines, delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as err:
        raise DataFormatError(
            f"{path} is not a CSV of sensor samples (t, then {num_channels} values a line): {err}"
        ) from None
    times, values = as_samples(rows, num_channels, name=path.name)
    return np.concatenate([times[:, None], values.astype(np.float64)], axis=1)


class IMUBuffer:
    """The last ``capacity`` time-stamped samples of a D-channel sensor, in a ring buffer (fixed memory).

        buffer = IMUBuffer(num_channels=6)
        buffer.push(rows)                          # (N, 7): [t, acc_x, acc_y, acc_z, gyro_x, gyro_y, gyro_z]
        buffer.push((timestamps, values))          # or (N,) and (N, 6)
        imu = buffer.window(t_start, t_end, 50)    # (50, 6), see resample_window

    Samples arrive in time order at the sensor's own rate, in pushes of any size. ``max_gap_s``:
    samples further apart leave a gap (rows of zeros). Refused (:class:`InvalidInputError`): samples
    of another number of channels, NaN or infinite values, a time stamp not after the previous one,
    a stream whose samples come further apart than ``max_gap_s`` (judged after a few samples: every
    window would read as "no sensor"), and a window that starts before the oldest sample kept when
    older ones were dropped to make room (the sensor's rate is too high for ``capacity``).
    """

    def __init__(self, num_channels: int, capacity: int = CAPACITY, max_gap_s: float = MAX_GAP_S):
        if isinstance(num_channels, bool) or not isinstance(num_channels, (int, np.integer)) or num_channels < 1:
            raise InvalidInputError(f"num_channels must be a positive whole number, got {num_channels!r}")
        if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 2:
            raise InvalidInputError(f"capacity must be a whole number of samples >= 2, got {capacity!r}")
        if not isinstance(max_gap_s, (int, float, np.number)) or not np.isfinite(max_gap_s) or max_gap_s <= 0:
            raise InvalidInputError(f"max_gap_s must be a positive number of seconds, got {max_gap_s!r}")
        self.num_channels, self.capacity, self.max_gap_s = int(num_channels), int(capacity), float(max_gap_s)
        self._times = np.zeros(self.capacity, np.float64)
        self._values = np.zeros((self.capacity, self.num_channels), np.float32)
        self.clear()

    def clear(self) -> None:
        """Forget every sample (a new stream)."""
        self._next, self._count = 0, 0  # the slot the next sample goes to; how many slots hold samples
        self._dropped_until: float | None = None  # the time of the newest sample dropped to make room

    def __len__(self) -> int:
        return self._count

    @property
    def latest(self) -> float | None:
        """The time of the newest sample, or None."""
        return float(self._times[self._next - 1]) if self._count else None

    @property
    def oldest(self) -> float | None:
        """The time of the oldest sample kept, or None."""
        return float(self._times[(self._next - self._count) % self.capacity]) if self._count else None

    def samples(self) -> tuple[np.ndarray, np.ndarray]:
        """The kept samples, oldest first: ``(times (N,), values (N, D))`` (copies)."""
        order = (np.arange(self._count) + self._next - self._count) % self.capacity
        return self._times[order], self._values[order]

    @property
    def rate_hz(self) -> float | None:
        """The sensor's rate estimated from the newest samples (the median interval), or None."""
        times, _ = self.samples()
        intervals = np.diff(times[-(4 * RATE_SAMPLES + 1) :])
        return float(1.0 / np.median(intervals)) if len(intervals) else None

    def push(self, samples) -> int:
        """Add samples (see :func:`as_samples` for the forms); returns how many."""
        times, values = as_samples(samples, self.num_channels)
        if len(times) == 0:
            return 0
        if self._count and times[0] <= self.latest:
            raise InvalidInputError(
                f"imu time stamps must increase: a sample at {times[0]:.6g} s came after one at {self.latest:.6g} s"
            )
        if len(times) > self.capacity:  # only the newest fit
            self._dropped_until = float(times[-self.capacity - 1])
            times, values = times[-self.capacity :], values[-self.capacity :]
        overwritten = self._count + len(times) - self.capacity
        if overwritten > 0:
            order = (np.arange(overwritten) + self._next - self._count) % self.capacity
            self._dropped_until = max(self._dropped_until or -np.inf, float(self._times[order[-1]]))
        slots = (np.arange(len(times)) + self._next) % self.capacity
        self._times[slots], self._values[slots] = times, values
        self._next = int((self._next + len(times)) % self.capacity)
        self._count = min(self._count + len(times), self.capacity)
        self._check_rate()
        return len(times)

    def _check_rate(self) -> None:
        """Refuse a stream whose samples come further apart than ``max_gap_s`` (see the class docstring)."""
        times, _ = self.samples()
        intervals = np.diff(times[-(RATE_SAMPLES + 1) :])
        if len(intervals) >= RATE_SAMPLES and np.median(intervals) > self.max_gap_s:
            rate = 1.0 / float(np.median(intervals))
            raise InvalidInputError(
                f"the sensor's samples come every {1 / rate:.3g} s ({rate:.3g} Hz), further apart "
                f"than max_gap_s = {self.max_gap_s:g} s: they cannot be resampled (every window "
                "would read as 'no sensor'); give a faster sensor stream or a larger "
                "max_gap_s"
            )

    def window(self, t_start: float, t_end: float, num_samples: int) -> np.ndarray:
        """The S = ``num_samples`` values ``(S, D)`` of ``[t_start, t_end]`` (see :func:`resample_window`)."""
        dropped = self._dropped_until
        if dropped is not None and self._count and self.oldest > t_start and dropped > t_start - self.max_gap_s:
            span, rate = self.latest - self.oldest, self.rate_hz or 0.0
            raise InvalidInputError(
                f"the window from {t_start:.6g} s needs sensor samples that were dropped: the "
                f"buffer holds {self.capacity} samples ({span:.3g} s at the sensor's {rate:.4g} "
                "Hz); give the buffer a larger capacity"
            )
        times, values = self.samples()
        return resample_window(times, values, t_start, t_end, num_samples, self.max_gap_s)


def _check_increasing(times: np.ndarray, name: str) -> None:
    steps = np.diff(times)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        raise InvalidInputError(
            f"{name}: time stamps must increase, but sample {i} at {times[i]:.6g} s does not come "
            f"after sample {i - 1} at {times[i - 1]:.6g} s"
        )


def _channel_hint(num_channels: int) -> str:
    return " (accelerometer x, y, z in g, then gyroscope x, y, z in deg/s)" if num_channels == 6 else ""
