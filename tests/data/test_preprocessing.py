"""Preprocessing: validity masks, lengths, resampling, windows and normalisation invariances."""

from __future__ import annotations

import numpy as np
import pytest

from har_tf.data.preprocessing import (
    center_window,
    joint_validity,
    normalize_pose,
    preprocess_sequence,
    resample_sequence,
    sanitize,
    sequence_lengths,
    sliding_windows,
)
from har_tf.errors import InvalidInputError
from har_tf.skeleton.layouts import custom_layout, get_layout
from tests.helpers import random_pixel_pose

CUSTOM15 = custom_layout([f"joint_{i}" for i in range(15)], [(i, i + 1) for i in range(14)])


def ramp(length, num_joints=2, total=None):
    """(total, J, 3): x = t + 1, y = 2t + 1, confidence 1 for the first ``length`` frames."""
    total = total or length
    pose = np.zeros((total, num_joints, 3), np.float32)
    t = np.arange(length, dtype=np.float32)[:, None]
    pose[:length, :, 0], pose[:length, :, 1], pose[:length, :, 2] = t + 1, 2 * t + 1, 1.0
    return pose


# --- validity -----------------------------------------------------------------------------
def test_joint_validity_rules():
    pose = np.ones((1, 6, 3), np.float32)
    pose[0, 1, 2] = 0.0  # confidence 0
    pose[0, 2] = 0.0  # all zeros
    pose[0, 3, 0] = np.nan
    pose[0, 4, 1] = np.inf
    pose[0, 5, 2] = np.nan
    assert joint_validity(pose).numpy().tolist() == [[True, False, False, False, False, False]]
    xy = np.array([[[0.0, 0.0], [0.0, 3.0], [np.nan, 1.0], [-np.inf, 2.0]]], np.float32)
    assert joint_validity(xy).numpy().tolist() == [[False, True, False, False]]


def test_sanitize_zeroes_invalid_and_keeps_valid():
    pose = random_pixel_pose("coco17", seed=1)
    pose[0, 0, 0], pose[1, 1, 1], pose[2, 2, 2] = np.nan, np.inf, np.nan
    out = sanitize(pose).numpy()
    valid = joint_validity(pose).numpy()
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[valid], pose[valid])
    assert (out[~valid] == 0).all()
    assert out.dtype == np.float32


def test_sequence_lengths_with_end_padding():
    x = np.ones((5, 8, 3, 3), np.float32)
    x[0, 5:] = 0  # padded after 5 frames
    x[1, 2] = 0  # a zero frame inside the sequence counts
    x[2] = 0  # all padding
    x[3, 6:] = np.nan  # trailing NaN frames are padding too
    x[4, 3:] = 0
    x[4, 5, 1, 0] = 2.0  # one coordinate makes frame 5 real
    assert sequence_lengths(x).tolist() == [5, 8, 0, 6, 6]
    assert sequence_lengths(x[0]).tolist() == 5


# --- resampling ---------------------------------------------------------------------------
def test_resample_identity_when_num_frames_equals_length():
    pose = random_pixel_pose("coco17", frames=15, seed=2)
    pose[11:] = 0
    out = resample_sequence(pose, 11, 11).numpy()
    np.testing.assert_array_equal(out, sanitize(pose[:11]).numpy())


@pytest.mark.parametrize(("length", "num_frames"), [(10, 4), (10, 25), (7, 7), (300, 30)])
def test_resample_is_linear_on_a_ramp(length, num_frames):
    out = resample_sequence(ramp(length, total=length + 3), length, num_frames).numpy()
    pos = np.clip((np.arange(num_frames) + 0.5) * length / num_frames - 0.5, 0, length - 1)
    np.testing.assert_allclose(out[:, 0, 0], pos + 1, atol=1e-5)
    np.testing.assert_allclose(out[:, 1, 1], 2 * pos + 1, atol=1e-5)
    np.testing.assert_array_equal(out[..., 2], 1.0)


def test_resample_sub_segment():
    out = resample_sequence(ramp(20), 20, 4, start=5.0, span=4.0).numpy()
    np.testing.assert_allclose(out[:, 0, 0], np.arange(5, 9) + 1, atol=1e-6)
    out = resample_sequence(ramp(20), 20, 4, start=5.0, span=8.0).numpy()  # 2x speed
    np.testing.assert_allclose(out[:, 0, 0], np.array([5.5, 7.5, 9.5, 11.5]) + 1, atol=1e-5)


def test_resample_never_interpolates_with_missing_joints():
    pose = ramp(2)
    pose[1, 0, 2] = 0.0  # joint 0 missing in frame 1, garbage coordinates remain
    pose[1, 0, :2] = 1e6
    out = resample_sequence(pose, 2, 4).numpy()  # positions 0, 0.25, 0.75, 1
    np.testing.assert_array_equal(out[:3, 0], np.repeat(pose[:1, 0], 3, axis=0))
    np.testing.assert_array_equal(out[3, 0], 0.0)
    np.testing.assert_allclose(out[1, 1, :2], [1.25, 1.5], atol=1e-6)  # joint 1 interpolates
    nan_pose = ramp(3)
    nan_pose[1, 1, 0] = np.nan
    out = resample_sequence(nan_pose, 3, 6).numpy()
    assert np.isfinite(out).all()


def test_resample_length_one_and_zero():
    pose = random_pixel_pose("coco17", frames=5, seed=3)
    out = resample_sequence(pose, 1, 7).numpy()
    np.testing.assert_array_equal(out, np.repeat(sanitize(pose[:1]).numpy(), 7, axis=0))
    out = resample_sequence(pose, 0, 7).numpy()
    assert out.shape == (7, 17, 3) and (out == 0).all()


# --- windows ------------------------------------------------------------------------------
def test_sliding_windows_cover_the_sequence():
    seq = ramp(10, total=14)
    wins = sliding_windows(seq, 10, window=4, stride=3)
    assert wins.shape == (3, 4, 2, 3)
    assert wins[:, 0, 0, 0].tolist() == [1, 4, 7]  # starts 0, 3, 6
    wins = sliding_windows(seq, 10, window=4, stride=4)
    assert wins[:, 0, 0, 0].tolist() == [1, 5, 7]  # starts 0, 4 and one aligned to the end
    short = sliding_windows(seq, 3, window=5, stride=2)
    assert short.shape == (1, 5, 2, 3)
    np.testing.assert_allclose(short[0, :, 0, 0], [1, 1.4, 2, 2.6, 3], atol=1e-5)


def test_center_window():
    seq = ramp(10, total=12)
    np.testing.assert_array_equal(center_window(seq, 10, 4)[:, 0, 0], [4, 5, 6, 7])
    np.testing.assert_array_equal(center_window(seq, 10, 10), seq[:10])
    stretched = center_window(seq, 2, 4)
    assert stretched.shape == (4, 2, 3)
    np.testing.assert_allclose(stretched[:, 0, 0], [1, 1.25, 1.75, 2], atol=1e-6)


# --- normalisation ------------------------------------------------------------------------
def transform(pose, scale, shift):
    out = pose.copy()
    out[..., :2] = pose[..., :2] * scale + np.asarray(shift, np.float32)
    if pose.shape[-1] == 2:
        out[(pose == 0).all(-1)] = 0.0  # missing joints stay (0, 0)
    return out


@pytest.mark.parametrize(
    ("layout", "channels"),
    [("coco17", 3), ("coco17", 2), ("body25", 3), ("body25", 2), (CUSTOM15, 3), (CUSTOM15, 2)],
)
@pytest.mark.parametrize("mode", ["sequence", "frame"])
def test_normalize_is_translation_and_scale_invariant(layout, channels, mode):
    pose = random_pixel_pose(layout, channels=channels, seed=4)
    ref = normalize_pose(pose, layout, mode).numpy()
    for scale, shift in ((2.5, (300.0, -120.0)), (0.3, (-40.0, 1500.0))):
        out = normalize_pose(transform(pose, scale, shift), layout, mode).numpy()
        np.testing.assert_allclose(out, ref, atol=1e-5)
    valid = joint_validity(pose).numpy()
    assert (ref[~valid] == 0).all() and np.isfinite(ref).all() and np.abs(ref).max() <= 10
    if channels == 3:
        np.testing.assert_array_equal(ref[valid][:, 2], pose[valid][:, 2])


def test_normalize_torso_has_unit_length():
    layout = get_layout("coco17")
    pose = random_pixel_pose(layout, missing=0.0, seed=5)
    out = normalize_pose(pose, layout).numpy()
    hips = out[:, list(layout.center_joints), :2].mean(1)
    top = out[:, list(layout.torso_top_joints), :2].mean(1)
    assert np.linalg.norm(top - hips, axis=-1).mean() == pytest.approx(1.0, abs=1e-5)


def test_normalize_masks_garbage_and_nan():
    pose = random_pixel_pose("body25", seed=6, missing=0.0)
    pose[:, 3, 2] = 0.0
    pose[:, 3, :2] = 1e30  # conf 0 with garbage coordinates
    pose[2, 4, 0] = np.nan
    pose[5, 7, 1] = -np.inf
    out = normalize_pose(pose, "body25").numpy()
    assert np.isfinite(out).all() and np.abs(out).max() <= 10
    assert (out[:, 3] == 0).all() and (out[2, 4] == 0).all() and (out[5, 7] == 0).all()


@pytest.mark.parametrize("channels", [2, 3])
def test_normalize_all_missing_and_single_joint(channels):
    empty = np.zeros((6, 17, channels), np.float32)
    assert (normalize_pose(empty, "coco17").numpy() == 0).all()
    nan = np.full((6, 17, channels), np.nan, np.float32)
    assert (normalize_pose(nan, "coco17").numpy() == 0).all()
    single = np.zeros((6, 17, channels), np.float32)
    single[:, 0, :2] = [500.0, 300.0]
    single[:, 0, 2:] = 1.0
    out = normalize_pose(single, "coco17").numpy()
    assert np.isfinite(out).all() and np.abs(out).max() <= 10


def test_normalize_sequence_mode_keeps_falling_motion_frame_mode_removes_it():
    layout = get_layout("coco17")
    pose = random_pixel_pose(layout, frames=10, missing=0.0, seed=7)
    pose[..., :2] = pose[0:1, :, :2]  # the same body in every frame ...
    pose[..., 1] += 40.0 * np.arange(10, dtype=np.float32)[:, None]  # ... moving down (y grows)
    hips = list(layout.center_joints)
    seq = normalize_pose(pose, layout, "sequence").numpy()[:, hips, 1].mean(1)
    frame = normalize_pose(pose, layout, "frame").numpy()[:, hips, 1].mean(1)
    assert (np.diff(seq) > 0).all()
    np.testing.assert_allclose(frame, 0.0, atol=1e-5)


def test_normalize_center_fallbacks():
    layout = get_layout("coco17")
    pose = random_pixel_pose(layout, frames=3, missing=0.0, seed=8)
    pose[:, layout.center_joints[0], 2] = 0.0  # a hip missing -> centre on the shoulders
    out = normalize_pose(pose, layout, "frame").numpy()
    np.testing.assert_allclose(out[:, list(layout.torso_top_joints), :2].mean(1), 0.0, atol=1e-5)
    no_centre = custom_layout(layout.joint_names)
    out = normalize_pose(pose[..., :2], no_centre, "frame").numpy()
    np.testing.assert_allclose(out.mean(1), 0.0, atol=1e-5)  # no centre joints: mean of all joints


def test_normalize_is_rank_agnostic():
    batch = np.stack([random_pixel_pose("coco17", seed=s) for s in range(3)])
    out = normalize_pose(batch, "coco17").numpy()
    for i in range(3):
        np.testing.assert_allclose(out[i], normalize_pose(batch[i], "coco17").numpy(), atol=1e-6)


def test_normalize_errors():
    with pytest.raises(InvalidInputError, match="J=17"):
        normalize_pose(np.ones((4, 17, 3), np.float32), "body25")
    with pytest.raises(InvalidInputError, match="C = 2"):
        normalize_pose(np.ones((4, 17, 4), np.float32), "coco17")
    with pytest.raises(InvalidInputError, match="mode"):
        normalize_pose(np.ones((4, 17, 3), np.float32), "coco17", mode="global")


@pytest.mark.parametrize("sampling", ["resample", "window"])
def test_preprocess_sequence_shape_and_dtype(sampling):
    pose = random_pixel_pose("body25", frames=50, seed=9).astype(np.float64)
    out = preprocess_sequence(pose, 42, "body25", 30, sampling=sampling)
    assert out.shape == (30, 25, 3) and out.dtype.name == "float32"
    assert np.isfinite(out.numpy()).all()
