"""The time-stamped ring buffer of wrist-sensor samples: linear resampling of a window to S samples,
gaps read as missing samples (all zeros), bounded memory, and clear errors for bad samples."""

from __future__ import annotations

import numpy as np
import pytest

from har_tf.errors import InvalidInputError
from har_tf.inference.imu_buffer import IMUBuffer, as_samples, resample_clip, resample_window

D = 6


def _signal(times: np.ndarray) -> np.ndarray:
    """A smooth 6-channel signal (acceleration in g, angular velocity in deg/s) at ``times``."""
    phases = np.arange(D)[None] * 0.7
    scales = np.array([1, 1, 1, 90, 90, 90], np.float64)
    return (scales * np.sin(2 * np.pi * 1.3 * times[:, None] + phases) + np.arange(D)).astype(np.float32)


def _rows(times: np.ndarray) -> np.ndarray:
    return np.concatenate([times[:, None], _signal(times)], axis=1)


@pytest.mark.parametrize("rate", [50.0, 100.0, 200.0])
def test_a_window_is_the_signal_resampled_linearly(rate):
    times = np.arange(0, 4.0, 1 / rate) + 0.013  # the sensor's own clock phase
    buffer = IMUBuffer(D)
    for chunk in np.array_split(np.arange(len(times)), 17):  # pushes of any size
        buffer.push(_rows(times[chunk]))
    grid = np.linspace(1.0, 2.5, 32)
    window = buffer.window(1.0, 2.5, 32)
    assert window.shape == (32, D) and window.dtype == np.float32
    known = times[times <= 2.5]  # the samples up to the window's end (what a live stream has by then)
    expected = np.stack([np.interp(grid, known, _signal(known)[:, c]) for c in range(D)], -1)
    np.testing.assert_allclose(window, expected, rtol=1e-6, atol=1e-4)
    # close to the true signal (the last instant holds the last sample: up to one sample period late)
    np.testing.assert_allclose(window[:-1], _signal(grid[:-1]), atol=0.02 * 90 * (50 / rate) ** 2)
    assert abs(buffer.rate_hz - rate) < 1e-6 * rate
    # a (timestamps, values) tuple is the same as rows
    other = IMUBuffer(D)
    other.push((times, _signal(times)))
    np.testing.assert_array_equal(other.window(1.0, 2.5, 32), window)


def test_gaps_read_as_missing_samples_and_no_samples_as_no_sensor():
    times = np.concatenate([np.arange(0, 1, 0.01), np.arange(1.5, 3, 0.01)])  # the sensor drops out for 0.5 s
    buffer = IMUBuffer(D, max_gap_s=0.1)
    buffer.push(_rows(times))
    window = buffer.window(0.5, 2.0, 16)
    grid = np.linspace(0.5, 2.0, 16)
    missing = (grid > times[99]) & (grid < 1.5)
    assert missing.any() and (window[missing] == 0).all()
    assert (window[~missing] != 0).any(axis=1).all()
    assert (buffer.window(5.0, 6.0, 16) == 0).all()  # after the last sample: no sensor
    assert (buffer.window(-3.0, -1.0, 16) == 0).all()  # before the first
    assert (IMUBuffer(D).window(0.0, 1.0, 16) == 0).all()  # nothing pushed
    # a last sample a little before the window's end (under max_gap_s / 2) holds its value
    edge = buffer.window(2.0, times[-1] + 0.04, 4)
    np.testing.assert_allclose(edge[-1], _signal(times[-1:])[0])


def test_memory_is_bounded_and_a_too_fast_sensor_is_a_clear_error():
    buffer = IMUBuffer(D, capacity=64)
    times = np.arange(0, 10, 0.01)  # 1,000 samples through a buffer of 64
    for start in range(0, len(times), 10):
        buffer.push(_rows(times[start : start + 10]))
    assert len(buffer) == 64 and buffer._times.shape == (64,) and buffer.latest == pytest.approx(times[-1])
    assert buffer.oldest == pytest.approx(times[-64])
    window = buffer.window(9.5, 9.9, 8)  # within what is kept: the same as with every sample
    np.testing.assert_allclose(window, resample_window(times, _signal(times), 9.5, 9.9, 8), atol=1e-5)
    with pytest.raises(InvalidInputError, match="needs sensor samples that were dropped: the buffer holds 64 samples"):
        buffer.window(9.0, 9.9, 8)
    buffer.clear()
    assert len(buffer) == 0 and buffer.latest is None
    buffer.push(_rows(times[:3]))
    assert (buffer.window(0.0, 0.02, 3) != 0).any(axis=1).all()


def test_bad_samples_get_clear_errors():
    buffer = IMUBuffer(D)
    rows = _rows(np.arange(0, 0.2, 0.01))
    with pytest.raises(
        InvalidInputError,
        match=r"have D = 3 channels \(rows of 4: a time stamp, then the values\) but "
        r"the model takes D = 6 \(accelerometer",
    ):
        buffer.push(rows[:, :4])
    with pytest.raises(InvalidInputError, match="have D = 5 channels but the model takes D = 6"):
        buffer.push((rows[:, 0], rows[:, 1:6]))
    bad = rows.copy()
    bad[3, 2] = np.nan
    with pytest.raises(InvalidInputError, match=r"NaN or infinite values \(first at sample 3, channel 1\)"):
        buffer.push(bad)
    bad = rows.copy()
    bad[5, 0] = np.inf
    with pytest.raises(InvalidInputError, match="time stamp 5 is NaN or infinite"):
        buffer.push(bad)
    with pytest.raises(InvalidInputError, match="sample 4 at 0.03 s does not come after sample 3 at 0.03 s"):
        buffer.push(np.concatenate([rows[:4], rows[3:]]))
    assert len(buffer) == 0  # a refused push adds nothing
    buffer.push(rows)
    with pytest.raises(
        InvalidInputError, match="time stamps must increase: a sample at 0.1 s came after one at 0.19 s"
    ):
        buffer.push(rows[10:])
    with pytest.raises(InvalidInputError, match="must hold numbers"):
        buffer.push(np.full((2, 7), "x"))
    with pytest.raises(InvalidInputError, match=r"timestamps \(N,\) and values \(N, D\) must have the same N"):
        buffer.push((np.arange(3.0), np.zeros((2, D))))


def test_a_rate_that_cannot_be_resampled():
    slow = IMUBuffer(D, max_gap_s=0.25)
    with pytest.raises(InvalidInputError, match=r"samples come every 0.5 s \(2 Hz\), further apart than max_gap_s"):
        slow.push(_rows(np.arange(0, 6, 0.5)))
    with pytest.raises(InvalidInputError, match="rate must be a positive number of samples per second"):
        resample_clip(np.ones((10, D)), 0.0, 8)
    with pytest.raises(InvalidInputError, match="rate must be a positive number of samples per second"):
        resample_clip(np.ones((10, D)), float("nan"), 8)
    with pytest.raises(InvalidInputError, match="N >= 2 to resample"):
        resample_clip(np.ones((1, D)), 50.0, 8)
    with pytest.raises(InvalidInputError, match="runs from t_start to t_end >= t_start"):
        IMUBuffer(D).window(2.0, 1.0, 8)
    with pytest.raises(InvalidInputError, match="capacity must be a whole number"):
        IMUBuffer(D, capacity=1)


def test_resample_clip_spans_the_recording():
    rate = 50.0
    times = np.arange(100) / rate
    clip = resample_clip(_signal(times), rate, 25)
    grid = np.linspace(0, times[-1], 25)
    np.testing.assert_allclose(
        clip, np.stack([np.interp(grid, times, _signal(times)[:, c]) for c in range(D)], -1), atol=1e-4
    )
    times, values = as_samples(_rows(times)[0], D)  # one row is one sample
    assert times.shape == (1,) and values.shape == (1, D)


def test_a_csv_recording(tmp_path):
    from har_tf.errors import DataFormatError, MissingFileError
    from har_tf.inference.imu_buffer import read_imu_csv

    rows = _rows(np.arange(0, 1, 0.01))
    np.savetxt(tmp_path / "imu.csv", rows, delimiter=",", header="t,ax,ay,az,gx,gy,gz", comments="")
    np.testing.assert_allclose(read_imu_csv(tmp_path / "imu.csv", D), rows, atol=1e-6)
    np.savetxt(tmp_path / "plain.csv", rows, delimiter=",")  # no header
    np.testing.assert_allclose(read_imu_csv(tmp_path / "plain.csv", D), rows, atol=1e-6)
    with pytest.raises(MissingFileError, match="no such sensor CSV file"):
        read_imu_csv(tmp_path / "missing.csv", D)
    (tmp_path / "bad.csv").write_text("t,ax\n0.0,1.0\n0.1,oops\n")
    with pytest.raises(DataFormatError, match="is not a CSV of sensor samples"):
        read_imu_csv(tmp_path / "bad.csv", D)
    with pytest.raises(InvalidInputError, match=r"imu.csv have D = 6 channels .* but the model takes D = 3"):
        read_imu_csv(tmp_path / "imu.csv", 3)
