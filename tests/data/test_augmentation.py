"""Augmentation: flips, affine, jitter, dropout, temporal crop; masks and seeded determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest

from har_tf.data.augmentation import (
    AugmentConfig,
    affine_matrix,
    apply_affine,
    augment_example,
    drop_joints,
    flip_horizontal,
    jitter,
    random_affine,
    random_temporal_resample,
    temporal_segment,
)
from har_tf.data.preprocessing import joint_validity, normalize_pose, preprocess_sequence
from har_tf.errors import InvalidInputError
from har_tf.skeleton.layouts import custom_layout, get_layout
from tests.helpers import random_pixel_pose

CUSTOM15 = custom_layout([f"joint_{i}" for i in range(15)], [(i, i + 1) for i in range(14)])


def raw_pose(layout, **kw):
    """Missing joints all zeros (the augmentation tests check they stay exactly zero)."""
    return random_pixel_pose(layout, keep_garbage=False, **{"frames": 20, "missing": 0.1, **kw})


def normalised(layout, **kw):
    return normalize_pose(raw_pose(layout, **kw), layout).numpy()


@pytest.mark.parametrize("layout", ["coco17", "body25", "blazepose33", CUSTOM15])
@pytest.mark.parametrize("channels", [2, 3])
def test_flip_twice_is_identity(layout, channels):
    pose = normalised(layout, channels=channels)
    twice = flip_horizontal(flip_horizontal(pose, layout), layout).numpy()
    np.testing.assert_array_equal(twice, pose)


@pytest.mark.parametrize("layout", ["coco17", "body25"])
def test_flip_moves_left_wrist_to_right_wrist(layout):
    layout = get_layout(layout)
    pose = normalised(layout, frames=3, missing=0.0)
    left, right = layout.index("left_wrist"), layout.index("right_wrist")
    pose[:, left] = [0.5, 0.3, 0.9]
    out = flip_horizontal(pose, layout).numpy()
    np.testing.assert_array_equal(out[:, right], np.tile([-0.5, 0.3, 0.9], (3, 1)).astype(np.float32))
    np.testing.assert_array_equal(out[:, left, 0], -pose[:, right, 0])


def test_affine_identity_and_known_rotation():
    pose = normalised("coco17")
    same = AugmentConfig(rotation_deg=0, scale_range=(1.0, 1.0), shear=0)
    np.testing.assert_array_equal(random_affine(pose, 3, same).numpy(), pose)
    np.testing.assert_array_equal(affine_matrix().numpy(), np.eye(2, dtype=np.float32))
    point = np.array([[[1.0, 0.0, 1.0]]], np.float32)
    turned = apply_affine(point, affine_matrix(np.pi / 2)).numpy()
    np.testing.assert_allclose(turned, [[[0.0, 1.0, 1.0]]], atol=1e-6)
    sheared = apply_affine(np.array([[[0.0, 1.0]]], np.float32), affine_matrix(shear=0.5)).numpy()
    np.testing.assert_allclose(sheared, [[[0.5, 1.0]]], atol=1e-6)


@pytest.mark.parametrize(("layout", "channels"), [("coco17", 3), ("body25", 3), (CUSTOM15, 2)])
def test_missing_joints_stay_zero_under_every_augmentation(layout, channels):
    layout = get_layout(layout)
    pose = raw_pose(layout, channels=channels, seed=1)
    pose[:, 0] = 0.0  # a joint missing in every frame (the nose: no flip twin)
    for pair in layout.flip_pairs[:1]:
        pose[:, list(pair)] = 0.0  # a left/right pair missing everywhere
    if channels == 3:
        pose[:, 0, :2] = 1e9  # garbage coordinates with confidence 0
    dead = [0] + [j for pair in layout.flip_pairs[:1] for j in pair]
    norm = normalize_pose(pose, layout).numpy()
    ops = {
        "affine": lambda p: random_affine(p, 1, AugmentConfig(rotation_deg=30, shear=0.3)),
        "flip": lambda p: flip_horizontal(p, layout),
        "jitter": lambda p: jitter(p, [1, 2], 0.5),
        "dropout": lambda p: drop_joints(p, [1, 2], 0.3)[0],
    }
    for name, op in ops.items():
        out = op(norm).numpy()
        assert (out[:, dead] == 0).all(), name
        assert (out[~joint_validity(norm).numpy()] == 0).all() or name == "flip", name
    for seed in range(4):
        out = augment_example(pose, 20, seed, layout, AugmentConfig(joint_dropout=0.2), 16).numpy()
        assert (out[:, dead] == 0).all() and np.isfinite(out).all()


def test_augment_example_is_deterministic_given_the_seed():
    pose = raw_pose("body25", frames=40, seed=2)
    first = augment_example(pose, 35, 7, "body25", num_frames=30).numpy()
    again = augment_example(pose, 35, 7, "body25", num_frames=30).numpy()
    other = augment_example(pose, 35, 8, "body25", num_frames=30).numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert first.shape == (30, 25, 3) and first.dtype == np.float32


def test_disabled_config_equals_plain_preprocessing():
    pose = raw_pose("coco17", frames=40, seed=3)
    for sampling in ("resample", "window"):
        out = augment_example(pose, 33, 5, "coco17", AugmentConfig.disabled(), 16, sampling=sampling)
        ref = preprocess_sequence(pose, 33, "coco17", 16, sampling=sampling)
        np.testing.assert_array_equal(out.numpy(), ref.numpy())


def test_jitter_and_dropout_touch_only_what_they_should():
    pose = normalised("coco17", seed=4)
    valid = joint_validity(pose).numpy()
    noisy = jitter(pose, [3, 4], 0.1).numpy()
    assert not np.allclose(noisy[valid][:, :2], pose[valid][:, :2])
    np.testing.assert_array_equal(noisy[..., 2], pose[..., 2])
    assert (noisy[~valid] == 0).all()
    np.testing.assert_array_equal(drop_joints(pose, [3, 4], 0.0)[0].numpy(), pose)
    assert (drop_joints(pose, [3, 4], 1.0)[0].numpy() == 0).all()


@pytest.mark.parametrize("length", [0, 1, 5, 37, 120])
@pytest.mark.parametrize("sampling", ["resample", "window"])
def test_temporal_crop_gives_num_frames(length, sampling):
    pose = raw_pose("coco17", frames=120, seed=5)
    config = AugmentConfig()
    for seed in range(3):
        out = random_temporal_resample(pose, length, seed, config, 24, sampling).numpy()
        assert out.shape == (24, 17, 3) and np.isfinite(out).all()
        start, span = (float(v) for v in temporal_segment(length, seed, config, 24, sampling))
        assert 0.0 <= start and start + span <= length + 1e-4
        if sampling == "resample" and length:
            assert min(1.0, length) - 1e-4 <= span and span >= 0.8 * 0.8 * length - 1e-3
        if sampling == "window":
            assert start == int(start) and span == int(span)  # whole frames
            assert span == length or round(24 * 0.8) <= span <= round(24 * 1.25)
    if length == 0:
        assert (out == 0).all()


def test_config_round_trips_through_json_and_validates():
    config = AugmentConfig(rotation_deg=10, speed_range=None)
    assert AugmentConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert AugmentConfig.from_dict(AugmentConfig().to_dict()) == AugmentConfig()
    with pytest.raises(InvalidInputError, match="flip_prob"):
        AugmentConfig(flip_prob=1.5)
    with pytest.raises(InvalidInputError, match="scale_range"):
        AugmentConfig(scale_range=(1.2, 0.8))
    with pytest.raises(InvalidInputError, match="unknown"):
        AugmentConfig.from_dict({"rotation": 3})
