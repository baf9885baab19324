"""3D poses (channels xyz / xyzc): dataset round trip, validity, normalisation, augmentation, models."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from har_tf.data.augmentation import (
    AugmentConfig,
    augment_example,
    flip_horizontal,
    jitter,
    random_affine,
    vertical_rotation_matrix,
)
from har_tf.data.checks import check_pose_batch
from har_tf.data.pipeline import make_pose_dataset_from
from har_tf.data.pose_npz import PoseDataset, load_pose_npz
from har_tf.data.preprocessing import joint_validity, normalize_pose
from har_tf.errors import DataFormatError, InvalidInputError
from har_tf.models.classifier import PoseClassifier
from har_tf.models.layers import PoseNormalization, PoseStreams
from har_tf.models.pose_former import PoseFormerFactorized
from har_tf.skeleton.layouts import BUILTIN_LAYOUTS, get_layout
from har_tf.training.stage1 import check_model_matches

LAYOUT = get_layout("kinect_v1" if "kinect_v1" in BUILTIN_LAYOUTS else "coco17")
J = LAYOUT.num_joints
ON_AXIS, FLOOR = 1, 2  # joints placed at x = y = 0 (z > 0) and at z = 0 (x, y != 0)


def skeleton_3d(frames: int = 10, seed: int = 0) -> np.ndarray:
    """Camera-space joints in metres ``(T, J, 3)``, y up, about 2.5 m in front of the camera."""
    rng = np.random.default_rng(seed)
    pose = rng.uniform(-0.6, 0.6, (frames, J, 3)).astype(np.float32)
    pose[..., 2] += 2.5
    pose[:, ON_AXIS, :2] = 0.0  # a real joint straight in front of the camera
    pose[:, FLOOR, 2] = 0.0  # a real joint whose z is 0: a confidence reading would drop it
    return pose


def test_dataset_round_trip_of_channels(tmp_path):
    x, y = np.stack([skeleton_3d(seed=s) for s in range(4)]), np.array([0, 1, 0, 1])
    data = PoseDataset(x, y, ("a", "b"), LAYOUT, x_test=x[:2], y_test=y[:2], channels="xyz")
    assert "C=3 (xyz)" in data.summary()
    loaded = load_pose_npz(data.save(tmp_path / "d.npz"))
    assert loaded.channels == "xyz" and "channels" not in loaded.extras
    np.savez(tmp_path / "old.npz", x_train=x, y_train=y, layout=np.array(LAYOUT.name))  # no channels key: xyc
    with pytest.raises(DataFormatError, match=r"confidences must lie in \[0, 1\].*give channels 'xyz'"):
        load_pose_npz(tmp_path / "old.npz")  # z in metres read as a confidence: refused, with the way out
    xyc = np.concatenate([x[..., :2], np.full_like(x[..., :1], 0.9)], -1)
    np.savez(tmp_path / "old.npz", x_train=xyc, y_train=y, layout=np.array(LAYOUT.name))
    assert load_pose_npz(tmp_path / "old.npz").channels == "xyc"
    x4 = np.concatenate([x, np.ones_like(x[..., :1])], -1)
    assert PoseDataset(x4, y, ("a", "b"), LAYOUT, channels="xyzc").num_channels == 4
    with pytest.raises(DataFormatError, match="'xyzc' describe C=4 values per joint but the poses have C=3"):
        PoseDataset(x, y, ("a", "b"), LAYOUT, channels="xyzc")
    with pytest.raises(DataFormatError, match=r"3D poses need channels 'xyz' \(C = 3\) or 'xyzc' \(C = 4\)"):
        PoseDataset(x4, y, ("a", "b"), LAYOUT)
    np.savez(tmp_path / "bad.npz", x_train=x, y_train=y, layout=np.array(LAYOUT.name), channels=np.array("xzy"))
    with pytest.raises(DataFormatError, match="channels must be one of"):
        load_pose_npz(tmp_path / "bad.npz")


def test_validity_reads_z_as_a_coordinate_not_a_confidence():
    pose = skeleton_3d()
    pose[:, 5] = 0.0  # missing: all zeros
    pose[3, 6, 1] = np.nan  # missing: NaN
    valid = joint_validity(pose, "xyz").numpy()
    expected = np.ones((10, J), bool)
    expected[:, 5], expected[3, 6] = False, False
    np.testing.assert_array_equal(valid, expected)
    assert not joint_validity(pose).numpy()[:, FLOOR].any()  # read as x, y, confidence, z = 0 is "missing"
    with_conf = np.concatenate([pose, np.full_like(pose[..., :1], 0.9)], -1)
    with_conf[:, 7, 3] = 0.0
    expected[:, 7] = False
    expected[:, 5] = True  # with a confidence, as for xyc, the confidence decides (a joint may sit at 0)
    np.testing.assert_array_equal(joint_validity(with_conf, "xyzc").numpy(), expected)


@pytest.mark.parametrize("mode", ["sequence", "frame"])
def test_normalisation_is_translation_and_scale_free_in_3d(mode):
    pose = skeleton_3d()
    pose[:, 5] = 0.0
    out = normalize_pose(pose, LAYOUT, mode, channels="xyz").numpy()
    moved = np.where(pose.any(-1, keepdims=True), pose * 3.0 + np.float32([0.4, -1.0, 2.0]), 0.0)
    np.testing.assert_allclose(normalize_pose(moved, LAYOUT, mode, channels="xyz").numpy(), out, atol=1e-4)
    assert np.all(out[:, 5] == 0.0) and np.abs(out[..., 2]).max() < 5.0  # z is centred and scaled too
    if LAYOUT.center_joints and LAYOUT.torso_top_joints:  # the torso (measured in 3D) has length 1
        torso = out[:, LAYOUT.torso_top_joints].mean(1) - out[:, LAYOUT.center_joints].mean(1)
        assert np.linalg.norm(torso, axis=-1).mean() == pytest.approx(1.0, abs=1e-4)
    conf = np.concatenate([pose, np.full_like(pose[..., :1], 0.7)], -1)
    conf[:, 5, 3] = 0.0
    out4 = normalize_pose(conf, LAYOUT, mode, channels="xyzc").numpy()
    np.testing.assert_allclose(out4[..., :3], out, atol=1e-6)
    assert np.all(out4[:, 5] == 0) and np.all(out4[:, :5, 3] == np.float32(0.7))  # confidence untouched


def test_augmentation_in_3d():
    pose = skeleton_3d(frames=14)
    pose[:, 5] = 0.0
    out = augment_example(pose, 14, 3, LAYOUT, AugmentConfig(), 8, channels="xyz").numpy()
    assert out.shape == (8, J, 3) and np.isfinite(out).all()
    assert np.all(out[:, 5] == 0.0) or np.all(out[:, LAYOUT.flip_permutation[5]] == 0.0)
    assert np.array_equal(out, augment_example(pose, 14, 3, LAYOUT, AugmentConfig(), 8, channels="xyz").numpy())

    norm = normalize_pose(pose, LAYOUT, channels="xyz").numpy()
    yaw_only = AugmentConfig(rotation_deg=0, scale_range=None, shear=0, vertical_rotation_deg=90)
    turned = random_affine(norm, 7, yaw_only, channels="xyz").numpy()
    np.testing.assert_array_equal(turned[..., 1], norm[..., 1])  # the vertical axis (y) stays
    assert not np.allclose(turned[..., [0, 2]], norm[..., [0, 2]])
    bones = np.array(LAYOUT.edges)
    lengths = np.linalg.norm(norm[:, bones[:, 0]] - norm[:, bones[:, 1]], axis=-1)
    np.testing.assert_allclose(
        np.linalg.norm(turned[:, bones[:, 0]] - turned[:, bones[:, 1]], axis=-1), lengths, atol=1e-5
    )
    assert np.all(turned[:, 5] == 0.0)  # the missing joint stays missing
    matrix = vertical_rotation_matrix(0.3).numpy()
    np.testing.assert_allclose(matrix @ matrix.T, np.eye(3), atol=1e-6)
    np.testing.assert_array_equal(matrix[1], [0.0, 1.0, 0.0])

    conf = np.concatenate([norm, np.full_like(norm[..., :1], 0.5)], -1)
    shaken = jitter(conf, [1, 2], 0.1, channels="xyzc").numpy()
    assert np.all(shaken[:, :5, 3] == 0.5) and not np.allclose(shaken[..., 2], conf[..., 2])


def test_flip_mirrors_x_and_swaps_left_and_right_in_3d():
    norm = normalize_pose(skeleton_3d(frames=3), LAYOUT, channels="xyz").numpy()
    left, right = LAYOUT.index("left_wrist"), LAYOUT.index("right_wrist")
    out = flip_horizontal(norm, LAYOUT, channels="xyz").numpy()
    np.testing.assert_array_equal(out[:, right], norm[:, left] * np.float32([-1, 1, 1]))
    np.testing.assert_array_equal(out[:, left], norm[:, right] * np.float32([-1, 1, 1]))


def test_pipeline_and_batch_checks_follow_the_channels():
    x, y = np.stack([skeleton_3d(seed=s) for s in range(3)]), np.array([0, 1, 0])
    data = PoseDataset(x, y, ("a", "b"), LAYOUT, channels="xyz")
    poses, _ = next(iter(make_pose_dataset_from(data, num_frames=10, batch_size=3)))
    assert poses.shape == (3, 10, J, 3) and np.any(poses.numpy()[:, :, FLOOR] != 0)  # the z = 0 joint is kept
    checked, single = check_pose_batch(x[0], (10, J, 3), channels="xyz")  # z > 1 is no confidence
    assert single and checked.shape == (1, 10, J, 3)
    with pytest.raises(InvalidInputError, match=r"confidences must lie in \[0, 1\]"):
        check_pose_batch(x, (10, J, 3))  # read as x, y, confidence
    with_conf = np.concatenate([x, np.ones_like(x[..., :1])], -1)
    assert check_pose_batch(with_conf, (10, J, 4), channels="xyzc")[0].shape == (3, 10, J, 4)
    with pytest.raises(InvalidInputError, match=r"every joint missing .*channels 'xyz'"):
        check_pose_batch(np.zeros_like(x), (10, J, 3), channels="xyz")


def _tiny(channels: str, streams=("joints", "velocities", "bones")) -> PoseFormerFactorized:
    return PoseFormerFactorized.from_preset(
        "micro", LAYOUT, num_frames=8, streams=streams, channels=channels, num_layers=1, dropout=0.0, drop_path=0.0
    )


@pytest.mark.parametrize("channels", ["xyz", "xyc"])
def test_tiny_pose_former_shapes_masking_and_save_load(tmp_path, channels):
    keras.utils.set_random_seed(0)
    backbone = _tiny(channels)
    assert backbone.channels == channels and backbone.get_config()["channels"] == channels
    x = np.stack([skeleton_3d(frames=8, seed=s) for s in range(2)])
    if channels == "xyc":
        x[..., 2] = np.random.default_rng(1).uniform(0.2, 1.0, x.shape[:-1])
    assert backbone(x).shape == (2, 32)
    missing = x.copy()  # joint 4 missing (confidence 0, or a NaN) and full of garbage
    missing[:, :, 4] = [500.0, -80.0, 0.0] if channels == "xyc" else [np.nan, 7.0, -3.0]
    reference = missing.copy()
    reference[:, :, 4] = 0.0
    np.testing.assert_array_equal(np.asarray(backbone(missing)), np.asarray(backbone(reference)))
    classifier = PoseClassifier(backbone, 3, class_names=["a", "b", "c"])
    classifier.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert restored.backbone.channels == channels
    np.testing.assert_array_equal(np.asarray(restored(x)), np.asarray(classifier(x)))


def test_layers_follow_the_channels_and_old_configs_load():
    assert PoseStreams(("joints", "velocities", "bones"), tuple(range(J)), "xyz").compute_output_shape(
        (None, 8, J, 3)
    ) == (None, 8, J, 9)
    assert PoseStreams(("joints", "bones"), tuple(range(J))).compute_output_shape((None, 8, J, 3))[-1] == 5
    layer = PoseNormalization(LAYOUT, "sequence", channels="xyz")
    assert PoseNormalization.from_config(layer.get_config()).channels == "xyz"
    old = {k: v for k, v in layer.get_config().items() if k != "channels"}
    assert PoseNormalization.from_config(old).channels is None
    pose = skeleton_3d(frames=8)[None]
    np.testing.assert_allclose(np.asarray(layer(pose)), normalize_pose(pose, LAYOUT, channels="xyz").numpy(), atol=1e-6)
    with pytest.raises(InvalidInputError, match="'xyzc' describe C=4"):
        PoseFormerFactorized(J, 8, num_channels=3, channels="xyzc")


def test_model_and_data_channels_must_match():
    x, y = np.stack([skeleton_3d(frames=8, seed=s) for s in range(2)]), np.array([0, 1])
    data = PoseDataset(x, y, ("a", "b"), LAYOUT, channels="xyz")
    model = PoseClassifier(_tiny("xyc", streams=("joints",)), 2, class_names=["a", "b"])
    with pytest.raises(
        InvalidInputError, match=r"channels 'xyc' \(x, y, confidence\) but the data's are 'xyz'"
    ) as info:
        check_model_matches(model, data)
    assert "\n" not in str(info.value)
    check_model_matches(PoseClassifier(_tiny("xyz", streams=("joints",)), 2, class_names=["a", "b"]), data)
