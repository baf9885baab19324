"""The object stream: features relative to the person, the encoder's masking, save/load, and the
fusion of every subset of {pose, image, objects} with the missing-modality behaviour."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from har_tf.data.objects import FEATURE_FIELDS, check_objects_batch, object_features
from har_tf.errors import InvalidInputError
from har_tf.models.fusion import MultiModalFusionModel
from har_tf.models.image_encoder import FrameEncoder
from har_tf.models.object_encoder import ObjectEncoder
from har_tf.models.pose_former import PoseFormerFactorized
from har_tf.skeleton.layouts import get_layout
from tests.helpers import run_model_saving_test

T, J, F, SIZE, K_SLOTS, CLASSES = 8, 17, 3, 48, 3, ("none", "cup", "phone", "book")
COCO = get_layout("coco17")


def _pose(n=4, seed=0):
    rng = np.random.default_rng(seed)
    pose = rng.uniform(8, SIZE - 8, (n, T, J, 3)).astype(np.float32)
    pose[..., 2] = rng.uniform(0.3, 1.0, (n, T, J))
    return pose


def _objects(n=4, seed=0, present=0.7):
    rng = np.random.default_rng(seed)
    objects = np.zeros((n, T, K_SLOTS, 6), np.float32)
    x1, y1 = rng.uniform(0, SIZE - 12, (2, n, T, K_SLOTS))
    wh = rng.uniform(2, 10, (2, n, T, K_SLOTS))
    objects[..., 0] = rng.integers(1, len(CLASSES), (n, T, K_SLOTS))
    objects[..., 1:5] = np.stack([x1, y1, x1 + wh[0], y1 + wh[1]], -1)
    objects[..., 5] = rng.uniform(0.3, 1.0, (n, T, K_SLOTS))
    objects[rng.random((n, T, K_SLOTS)) > present] = 0.0
    return objects


def _frames(n=4, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, F, SIZE, SIZE, 3)).astype(np.uint8)


def _encoder(**kwargs):
    return ObjectEncoder.from_preset("micro", num_frames=T, max_objects=K_SLOTS, class_names=CLASSES, **kwargs)


def test_features_are_relative_to_the_person_and_zero_for_empty_slots():
    pose = np.zeros((1, T, J, 3), np.float32)
    pose[..., 2] = 1.0
    pose[..., 0] = np.linspace(100, 140, J)  # person box: x 100..140, y 200..240 -> size 40, centre (120, 220)
    pose[..., 1] = np.linspace(200, 240, J)
    objects = np.zeros((1, T, 2, 6), np.float32)
    objects[0, :, 0] = [1, 130, 190, 150, 200, 0.9]  # centre (140, 195), 20 x 10
    features = np.asarray(object_features(objects, pose, COCO))
    row = dict(zip(FEATURE_FIELDS, features[0, 0, 0]))
    assert row["class_id"] == 1 and row["score"] == pytest.approx(0.9)
    assert row["centre_x"] == pytest.approx(0.5) and row["centre_y"] == pytest.approx(-0.625)
    assert row["width"] == pytest.approx(0.5) and row["height"] == pytest.approx(0.25)
    wrist = pose[0, 0, COCO.index("left_wrist")]
    assert row["left_wrist_dx"] == pytest.approx((140 - wrist[0]) / 40, abs=1e-5)
    assert row["left_wrist_seen"] == 1.0
    np.testing.assert_array_equal(features[0, :, 1], 0.0)  # the empty slot
    # the same scene shifted and scaled gives the same features
    moved = np.asarray(
        object_features(objects * [1, 2, 2, 2, 2, 1] + [0, 7, -3, 7, -3, 0], pose * [2, 2, 1] + [7, -3, 0], COCO)
    )
    np.testing.assert_allclose(moved, features, atol=1e-5)


def test_check_objects_batch_refuses_bad_rows_with_a_clear_message():
    good = _objects(n=2)
    assert check_objects_batch(good, T, len(CLASSES), K_SLOTS, 2).shape == (2, T, K_SLOTS, 6)
    bad_class = good.copy()
    bad_class[0, 0, 0, 0] = 9
    cases = [
        (good[..., :5], "must be \\(N, T, K, 6\\)"),
        (good[:, :3], "T = 3 frames but the poses have T = 8"),
        (bad_class, "class ids must be whole numbers in \\[0, 4\\)"),
        (np.where(good == good[0, 0, 0, 5], -0.5, good), "scores must lie in \\[0, 1\\]"),
        (np.full_like(good, np.nan), "NaN or infinite"),
    ]
    for array, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            check_objects_batch(array, T, len(CLASSES), K_SLOTS, 2)


def test_encoder_masks_empty_slots_and_gives_zeros_without_detections(tmp_path):
    encoder = _encoder()
    pose, objects = _pose(), _objects()
    features = np.asarray(object_features(objects, pose, COCO))
    out = encoder.predict(features, verbose=0)
    assert out.shape == (4, encoder.embedding_dim)
    # values hidden in empty slots change nothing
    hidden = features.copy()
    empty = features[..., 0] == 0
    hidden[..., 1:5][empty] = 123.0
    np.testing.assert_allclose(encoder.predict(hidden, verbose=0), out, atol=1e-6)
    # no detections at all: the embedding is exactly zero
    np.testing.assert_array_equal(encoder.predict(np.zeros_like(features), verbose=0), 0.0)
    loaded = run_model_saving_test(encoder, features, tmp_path, expected=out)
    assert loaded.class_names == list(CLASSES)


@pytest.fixture(scope="module")
def frame_encoder():
    return FrameEncoder(num_frames=F, frame_size=SIZE, image_size=SIZE, crop="hands")


def _fusion(frame_encoder, objects: bool, image: bool, fusion="residual"):
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=T, num_channels=3)
    return MultiModalFusionModel(
        backbone,
        frame_encoder if image else None,
        4,
        class_names=list("abcd"),
        fusion=fusion,
        object_encoder=_encoder() if objects else None,
    )


@pytest.mark.parametrize(
    ("image", "objects", "fusion"), [(True, True, "residual"), (False, True, "residual"), (True, True, "concat")]
)
def test_every_subset_of_modalities_fuses_and_round_trips(frame_encoder, tmp_path, image, objects, fusion):
    model = _fusion(frame_encoder, objects, image, fusion)
    assert model.modalities == ("pose",) + (("image",) if image else ()) + (("objects",) if objects else ())
    inputs = {"pose": _pose()}
    if image:
        inputs["frames"] = _frames()
    if objects:
        inputs["objects"] = _objects()
    assert set(model.input) == set(inputs)
    out = model.predict(inputs, verbose=0)
    np.testing.assert_allclose(out["probabilities"].sum(1), 1.0, rtol=1e-5)
    loaded = run_model_saving_test(model, inputs, tmp_path, expected=out)
    assert loaded.modalities == model.modalities


def test_residual_fusion_without_a_modality_is_the_result_of_the_others(frame_encoder):
    model = _fusion(frame_encoder, objects=True, image=True)
    pose, frames, objects = _pose(), _frames(), _objects()
    none = np.zeros_like(objects)
    pose_only = model.pose_only_model().predict(pose, verbose=0)
    # no detections and no frames: exactly the pose branch
    out = model.predict({"pose": pose, "frames": np.zeros_like(frames), "objects": none}, verbose=0)
    np.testing.assert_allclose(out["probabilities"], pose_only, atol=1e-6)
    np.testing.assert_allclose(out["pose_probabilities"], pose_only, atol=1e-6)
    # each modality alone, through predict_proba's defaults for the missing one
    with_frames = model.predict({"pose": pose, "frames": frames, "objects": none}, verbose=0)["probabilities"]
    with_objects = model.predict({"pose": pose, "frames": np.zeros_like(frames), "objects": objects}, verbose=0)[
        "probabilities"
    ]
    both = model.predict({"pose": pose, "frames": frames, "objects": objects}, verbose=0)["probabilities"]
    np.testing.assert_allclose(model.predict_proba(pose, frames), with_frames, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(pose, objects=objects), with_objects, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(pose, frames, objects), both, atol=1e-6)
    for a, b in itertools.combinations([pose_only, with_frames, with_objects, both], 2):
        assert not np.allclose(a, b, atol=1e-4)  # every modality changes the answer when present
    # a pose + objects model without detections is the pose branch too
    no_image = _fusion(frame_encoder, objects=True, image=False)
    np.testing.assert_allclose(
        no_image.predict({"pose": pose, "objects": none}, verbose=0)["probabilities"],
        no_image.pose_only_model().predict(pose, verbose=0),
        atol=1e-6,
    )


def test_fusion_refuses_a_model_without_branches_and_gated_objects(frame_encoder):
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=T, num_channels=3)
    with pytest.raises(InvalidInputError, match="needs at least one of a frame_encoder, an object_encoder"):
        MultiModalFusionModel(backbone, None, 4)
    with pytest.raises(InvalidInputError, match="'gated' fuses the pose with images only"):
        MultiModalFusionModel(backbone, frame_encoder, 4, fusion="gated", object_encoder=_encoder())
    with pytest.raises(InvalidInputError, match="T = 5 frames"):
        MultiModalFusionModel(backbone, None, 4, object_encoder=ObjectEncoder(num_frames=5, max_objects=2))
