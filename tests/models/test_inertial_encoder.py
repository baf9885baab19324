"""InertialEncoder: shapes, masking of missing samples, per-channel normalisation and save/load."""

from __future__ import annotations

import numpy as np
import pytest

from har_tf.errors import InvalidInputError
from har_tf.models.inertial_encoder import InertialEncoder, check_imu_batch
from tests.helpers import run_model_saving_test


def _imu(n=4, samples=32, channels=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, (n, samples, channels)).astype(np.float32)


@pytest.mark.parametrize(
    ("samples", "channels", "preset"), [(32, 6, "micro"), (17, 3, "micro"), (40, 6, "small"), (5, 1, "micro")]
)
def test_shapes_for_several_lengths_and_channel_counts(samples, channels, preset):
    encoder = InertialEncoder.from_preset(preset, samples, channels)
    out = encoder.predict(_imu(3, samples, channels), verbose=0)
    assert out.shape == (3, encoder.embedding_dim) and np.isfinite(out).all()
    # no sensor: an all-zero clip gives an all-zero embedding
    np.testing.assert_array_equal(encoder.predict(np.zeros((2, samples, channels), np.float32), verbose=0), 0.0)


def test_missing_samples_do_not_change_the_output():
    encoder = InertialEncoder.from_preset("micro", 32, 6)
    imu = _imu()
    imu[:, 5:9] = 0.0  # missing: all channels zero
    imu[:, 20, 2] = np.nan  # missing: NaN in one channel
    out = encoder.predict(imu, verbose=0)
    assert np.isfinite(out).all()
    other = imu.copy()
    other[:, 20] = [np.nan, 7.0, np.nan, -3.0, 1e3, 0.5]  # other values, still missing (a NaN)
    np.testing.assert_allclose(encoder.predict(other, verbose=0), out, atol=1e-6)
    # the same sample valid changes the answer
    valid = imu.copy()
    valid[:, 20, 2] = 0.3
    assert not np.allclose(encoder.predict(valid, verbose=0), out, atol=1e-5)


def test_adapt_sets_per_channel_stats_from_valid_samples():
    encoder = InertialEncoder.from_preset("micro", 32, 3)
    rng = np.random.default_rng(1)
    imu = (rng.normal(0.0, 1.0, (20, 32, 3)) * [1.0, 10.0, 100.0] + [0.5, -2.0, 30.0]).astype(np.float32)
    missing = imu.copy()
    missing[:5] = 0.0  # clips without a sensor
    missing[5:, :3, 0] = np.nan  # a few missing samples
    encoder.adapt(missing)
    norm = encoder.get_layer("imu_normalization")
    valid = np.isfinite(missing).all(-1) & (missing != 0).any(-1)
    np.testing.assert_allclose(norm.mean.numpy(), missing[valid].mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(norm.std.numpy(), missing[valid].std(0), rtol=1e-4)
    assert not any(w.trainable for w in (norm.mean, norm.std))
    with pytest.raises(InvalidInputError, match="no valid sensor sample"):
        encoder.adapt(np.zeros((2, 32, 3), np.float32))
    with pytest.raises(InvalidInputError, match="D = 6 channels but the model takes D = 3"):
        encoder.adapt(_imu(2, 32, 6))


def test_save_and_load_with_safe_mode_gives_equal_outputs(tmp_path):
    encoder = InertialEncoder.from_preset("micro", 24, 6, channel_names=[f"c{i}" for i in range(6)])
    encoder.adapt(_imu(8, 24, 6, seed=2) * 3.0 + 1.0)
    imu = _imu(3, 24, 6, seed=3)
    loaded = run_model_saving_test(encoder, imu, tmp_path)
    assert isinstance(loaded, InertialEncoder) and loaded.get_config() == encoder.get_config()
    np.testing.assert_array_equal(
        loaded.get_layer("imu_normalization").std.numpy(), encoder.get_layer("imu_normalization").std.numpy()
    )


def test_bad_imu_batches_get_one_line_errors():
    imu = _imu(2, 16, 6)
    np.testing.assert_array_equal(check_imu_batch(imu[0], 16, 6), imu[:1])
    for bad, message in [
        (imu[..., :3], "D = 3 channels but the model takes D = 6"),
        (imu[:, :8], "S = 8 samples per clip but the model takes S = 16"),
        (np.where(np.arange(6) == 1, np.inf, imu), "infinite values"),
        (imu.astype(str), "must hold float sensor samples"),
        (imu[None], "must be \\(N, S, D\\)"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            check_imu_batch(bad, 16, 6, batch=2)
    with pytest.raises(InvalidInputError, match="3 clips but the poses have 2"):
        check_imu_batch(_imu(3, 16, 6), 16, 6, batch=2)
    with pytest.raises(InvalidInputError, match="unknown inertial encoder preset"):
        InertialEncoder.from_preset("huge", 16, 6)
