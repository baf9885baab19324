"""The simulated wrist sensor: physics, noise, determinism, and the generator's opt-in ``imu`` setting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from har_tf.data.synthetic import (
    IMU_CHANNELS,
    SyntheticConfig,
    generate_clip,
    generate_dataset,
    load_or_generate,
)
from har_tf.data.synthetic.actions import CLASS_NAMES, _base
from har_tf.data.synthetic.body import BodyShape, forward_kinematics
from har_tf.data.synthetic.generator import IMU_SETTINGS
from har_tf.data.synthetic.imu import GRAVITY, simulate_wrist_imu
from har_tf.errors import InvalidInputError

TINY = SyntheticConfig(clips_per_class=(1, 1, 1), subjects=(1, 1, 1), render=False)
TINY_IMU = SyntheticConfig(**{**TINY.__dict__, "imu": True})


def _still_points(seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    shape = BodyShape.sample(rng)
    return forward_kinematics(shape, _base(rng, shape, 30))


def test_dataset_with_imu_has_the_contract_arrays_and_survives_the_cache(tmp_path):
    ds, _, cached = load_or_generate(TINY_IMU, tmp_path, progress=False)
    assert not cached
    for split in ("train", "val", "test"):
        imu = ds.extras[f"imu_{split}"]
        assert imu.shape == (len(CLASS_NAMES), 49, 6) and imu.dtype == np.float32  # 0.97 s at 50 Hz
        assert np.isfinite(imu).all() and not np.any(np.all(imu == 0, axis=(1, 2)))
    assert tuple(ds.extras["imu_channels"]) == IMU_CHANNELS
    assert ds.extras["imu_rate_hz"].dtype == np.float32 and float(ds.extras["imu_rate_hz"]) == 50.0
    again, _, cached_again = load_or_generate(TINY_IMU, tmp_path, progress=False)
    assert cached_again
    np.testing.assert_array_equal(again.extras["imu_train"], ds.extras["imu_train"])
    assert tuple(again.extras["imu_channels"]) == IMU_CHANNELS


def test_imu_off_changes_nothing_and_imu_on_changes_only_its_own_arrays():
    off, on = generate_dataset(TINY, progress=False), generate_dataset(TINY_IMU, progress=False)
    assert not any(k.startswith("imu") for k in off.extras)
    assert not set(IMU_SETTINGS) & set(json.loads(str(off.extras["synthetic_config"])))
    for split in off.splits:
        x_off, y_off = off.split(split)
        x_on, y_on = on.split(split)
        np.testing.assert_array_equal(x_off, x_on)
        np.testing.assert_array_equal(y_off, y_on)
    for key, value in off.extras.items():
        if key != "synthetic_config":
            np.testing.assert_array_equal(value, on.extras[key], err_msg=key)
    # The cache key (the cached files' names) moves only when the sensor is on.
    assert TINY.cache_key() == SyntheticConfig(**{**TINY.__dict__, "imu_rate_hz": 100.0, "video_fps": 15.0}).cache_key()
    assert TINY.cache_key() != TINY_IMU.cache_key()
    assert TINY_IMU.cache_key() != SyntheticConfig(**{**TINY_IMU.__dict__, "imu_rate_hz": 100.0}).cache_key()


def test_still_arm_reads_one_g_and_no_rotation():
    ideal, rate = simulate_wrist_imu(_still_points(), 30.0, np.random.default_rng(0), noise=False)
    assert rate == 50.0 and ideal.shape == (49, 6)
    np.testing.assert_allclose(np.linalg.norm(ideal[:, :3], axis=1), 1.0, atol=0.01)
    assert ideal[:, 0].mean() < -0.7, "x runs down the hanging forearm: gravity reads along -x"
    assert np.abs(ideal[:, 3:]).max() < 1e-3
    noisy, _ = simulate_wrist_imu(_still_points(), 30.0, np.random.default_rng(0))
    assert abs(np.linalg.norm(noisy[:, :3], axis=1).mean() - 1.0) < 0.08
    assert np.abs(noisy[:, 3:]).mean() < 6.0, "only bias and noise, a few deg/s"


def test_forearm_spinning_at_90_deg_per_s_reads_90_deg_per_s_and_centripetal_force():
    T, fps, omega, length = 30, 30.0, np.deg2rad(90.0), 0.25
    t = np.arange(T) / fps
    elbow = np.tile([0.0, 1.2, 0.0], (T, 1))
    wrist = elbow + length * np.stack([np.sin(omega * t), -np.cos(omega * t), 0 * t], axis=-1)
    points = {
        "right_elbow": elbow,
        "right_wrist": wrist,
        "right_shoulder": np.tile([-0.2, 1.4, 0.0], (T, 1)),
        "left_shoulder": np.tile([0.2, 1.4, 0.0], (T, 1)),
    }
    imu, _ = simulate_wrist_imu(points, fps, np.random.default_rng(0), noise=False)
    np.testing.assert_allclose(np.linalg.norm(imu[:, 3:], axis=1), 90.0, rtol=0.01)
    centripetal = length * omega**2 / GRAVITY
    np.testing.assert_allclose(imu[0, 0], -1.0 - centripetal, atol=0.01)  # hanging: gravity plus the pull to the elbow


def _energy(label: int, config: SyntheticConfig, clips: int = 6) -> float:
    imus = np.stack([generate_clip(config, "train", label, i, i)["imu"] for i in range(clips)])
    return float(np.mean(np.std(imus[..., :3], axis=1).sum(-1) + np.std(imus[..., 3:], axis=1).sum(-1) / 100))


def test_wave_and_punch_move_the_sensor_more_than_holding_a_book():
    config = SyntheticConfig(render=False, imu=True)
    still = _energy(CLASS_NAMES.index("read_book"), config)
    assert _energy(CLASS_NAMES.index("wave"), config) > 3 * still
    assert _energy(CLASS_NAMES.index("punch"), config) > 3 * still


def test_same_seed_same_samples_resampling_and_bad_settings():
    a = generate_clip(TINY_IMU, "train", 3, 0, 0)["imu"]
    np.testing.assert_array_equal(a, generate_clip(TINY_IMU, "train", 3, 0, 0)["imu"])
    other = generate_clip(SyntheticConfig(**{**TINY_IMU.__dict__, "seed": 1}), "train", 3, 0, 0)["imu"]
    assert not np.allclose(a, other)
    config = SyntheticConfig(**{**TINY_IMU.__dict__, "imu_samples": 64, "clips_per_class": (1, 0, 0)})
    ds = generate_dataset(config, progress=False)
    assert ds.extras["imu_train"].shape == (len(CLASS_NAMES), 64, 6)
    np.testing.assert_allclose(float(ds.extras["imu_rate_hz"]), 63 / (48 / 50.0), rtol=1e-6)
    with pytest.raises(InvalidInputError, match="sensor rate"):
        SyntheticConfig(imu=True, imu_rate_hz=0.0)
    with pytest.raises(InvalidInputError, match="fewer than 2 samples"):
        SyntheticConfig(imu=True, imu_rate_hz=0.5)
    with pytest.raises(InvalidInputError, match="imu_samples"):
        SyntheticConfig(imu=True, imu_samples=1)
