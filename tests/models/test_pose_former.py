"""PoseFormerFactorized, its baselines and the classifier head: shapes, masking, save/load, fitting."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from har_tf.models.baselines import FullAttentionTransformer, LSTMLite
from har_tf.models.classifier import PoseClassifier
from har_tf.models.layers import AppendFrameToken, FramePairPooling, PoseStreams, valid_joints
from har_tf.models.pose_former import PRESETS, PoseFormerFactorized, stream_parents
from har_tf.skeleton.layouts import bone_parents, custom_layout, get_layout
from tests.helpers import run_backbone_test, run_model_saving_test

CUSTOM15 = custom_layout([f"joint_{i}" for i in range(15)], [(i, i + 1) for i in range(14)])
ALL_STREAMS = PoseStreams.STREAMS


def _poses(num_joints: int, channels: int = 3, batch: int = 3, frames: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, frames, num_joints, channels)).astype(np.float32)
    if channels == 3:
        x[..., 2] = rng.uniform(0.2, 1.0, (batch, frames, num_joints))
    return x


def _micro(layout, channels=3, streams=ALL_STREAMS, frames=30):
    return PoseFormerFactorized.from_preset(
        "micro", layout, num_frames=frames, num_channels=channels, streams=streams, dropout=0.0, drop_path=0.0
    )


def _micro_kwargs(layout, channels=3, streams=ALL_STREAMS, frames=30) -> dict:
    """The constructor arguments that ``_micro`` passes."""
    layout = get_layout(layout)
    return {
        "num_joints": layout.num_joints,
        "num_frames": frames,
        "num_channels": channels,
        "streams": streams,
        "parents": stream_parents(layout, streams),
        "layout": layout.name,
        **PoseFormerFactorized.preset_config("micro", dropout=0.0, drop_path=0.0),
    }


@pytest.mark.parametrize(
    "layout, channels",
    [("coco17", 3), ("body25", 3), ("body25b", 3), ("blazepose33", 3), (CUSTOM15, 2)],
    ids=["coco17", "body25", "body25b", "blazepose33", "custom15-C2"],
)
def test_shapes_for_each_joint_layout(layout, channels):
    num_joints = get_layout(layout).num_joints
    x = _poses(num_joints, channels)
    backbone = run_backbone_test(
        PoseFormerFactorized, _micro_kwargs(layout, channels), x, (3, PRESETS["micro"]["hidden_dim"])
    )
    classifier = PoseClassifier(backbone, num_classes=7)
    probabilities = np.asarray(classifier(x))
    assert probabilities.shape == (3, 7)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert classifier.inputs[0].name == "pose" and classifier.output_names == ["probabilities"]


def test_any_number_of_frames():
    assert _micro("coco17", frames=64)(_poses(17, frames=64)).shape == (3, 32)


@pytest.mark.parametrize(
    "make",
    [
        lambda: _micro("coco17"),
        lambda: PoseFormerFactorized.from_preset(
            "micro",
            "coco17",
            streams=ALL_STREAMS,
            dropout=0.0,
            drop_path=0.0,
            pooling="mean_max",
            temporal_kernel=3,
            stream_norm=True,
        ),
        lambda: PoseFormerFactorized.from_preset(
            "micro", "coco17", streams=ALL_STREAMS, dropout=0.0, drop_path=0.0, frame_token=True, temporal_pooling=1
        ),
        lambda: FullAttentionTransformer.from_preset("micro", "coco17", dropout=0.0),
        lambda: LSTMLite(17, units=16, layout="coco17"),
    ],
    ids=["factorized", "factorized-conv-meanmax", "factorized-frame-token-pooling", "full-attention", "lstm-lite"],
)
def test_masked_joints_do_not_change_outputs(make):
    model = make()
    x = _poses(17)
    x[:, :, 4, 2] = 0.0  # joint 4 missing in every frame
    x[0, 5:9, :, 2] = 0.0  # a stretch of frames with nobody
    changed = x.copy()
    changed[:, :, 4, :2] = 1e3  # junk in the missing joint
    changed[0, 5:9, :, :2] = -77.0
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(model(changed)))
    visible = x.copy()
    visible[:, :, 6, 0] += 1.0  # a visible joint does matter
    assert not np.allclose(np.asarray(model(x)), np.asarray(model(visible)))


def test_distance_and_two_frame_motion_streams_match_numpy():
    x = _poses(17, frames=6)
    x[0, 2, 5, 2] = 0.0  # joint 5 missing in frame 2
    layer = PoseStreams(("velocities2", "distances"), channels="xyc")
    out = np.asarray(layer(x, valid_joints(x, "xyc")))
    assert out.shape == (3, 6, 17, 2 + 17) == layer.compute_output_shape(x.shape)
    xy = x[..., :2]
    np.testing.assert_allclose(out[1, 4, :, :2], xy[1, 4] - xy[1, 2], atol=1e-6)
    assert not out[:, :2, :, :2].any(), "the first two frames have no two-frame motion"
    assert not out[0, 4, 5, :2].any() and not out[0, 2, 5].any(), "a missing joint moves nowhere"
    distances = np.linalg.norm(xy[1, 3][:, None] - xy[1, 3][None], axis=-1)
    np.testing.assert_allclose(out[1, 3, :, 2:], distances, atol=1e-5)
    assert not out[0, 2, :, 2 + 5].any(), "no distance to a missing joint"


def test_missing_as_zeros_with_two_channels():
    model = _micro(CUSTOM15, channels=2)
    x = _poses(15, channels=2)
    x[:, :, 3] = 0.0
    assert np.isfinite(np.asarray(model(x))).all()


@pytest.mark.parametrize(
    "make",
    [
        lambda: _micro("body25"),
        lambda: PoseFormerFactorized.from_preset(
            "micro",
            "body25",
            pooling="mean_max",
            temporal_kernel=3,
            stream_norm=True,
            frame_token=True,
            temporal_pooling=1,
        ),
        lambda: FullAttentionTransformer.from_preset("micro", "body25", streams=ALL_STREAMS),
        lambda: LSTMLite(25, units=16, streams=ALL_STREAMS, parents=bone_parents("body25"), layout="body25"),
    ],
    ids=["factorized", "factorized-conv-meanmax", "full-attention", "lstm-lite"],
)
def test_keras_save_load_round_trip_is_exact(tmp_path, make):
    classifier = PoseClassifier(make(), 4, class_names=["a", "b", "c", "d"])
    restored = run_model_saving_test(classifier, _poses(25), tmp_path)
    assert restored.class_names == ["a", "b", "c", "d"]
    assert type(restored.backbone) is type(classifier.backbone)


def test_config_round_trips_through_json():
    backbone = run_backbone_test(PoseFormerFactorized, _micro_kwargs("body25"), _poses(25), (3, 32))
    config = json.loads(json.dumps(backbone.get_config()))
    clone = PoseFormerFactorized.from_config(config)
    assert clone.get_config() == backbone.get_config()
    assert clone.count_params() == backbone.count_params()
    assert {**backbone.get_config(), "name": ""} == {**_micro("body25").get_config(), "name": ""}
    assert config["layout"] == "body25" and config["parents"] == list(bone_parents("body25"))


def test_presets_grow_and_full_attention_matches_parameters():
    sizes = [PoseFormerFactorized.from_preset(p, "coco17").count_params() for p in ("micro", "small", "base")]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert (
        FullAttentionTransformer.from_preset("small", "coco17").count_params()
        == PoseFormerFactorized.from_preset("small", "coco17").count_params()
    )
    with pytest.raises(ValueError, match="unknown preset"):
        PoseFormerFactorized.from_preset("huge", "coco17")


def test_bone_parents_form_a_tree_from_the_hips():
    parents = bone_parents("coco17")
    layout = get_layout("coco17")
    roots = [j for j, p in enumerate(parents) if p < 0]
    assert roots == [layout.center_joints[0]]
    assert parents[layout.index("left_wrist")] == layout.index("left_elbow")


def test_short_fit_reduces_the_loss():
    """A few epochs on three synthetic classes through the real tf.data pipeline."""
    from har_tf.data.pipeline import make_pose_dataset
    from har_tf.data.synthetic import SyntheticConfig, generate_dataset

    keras.utils.set_random_seed(0)
    data = generate_dataset(
        SyntheticConfig(clips_per_class=(16, 0, 0), subjects=(4, 1, 1), render=False), progress=False
    )
    keep = np.isin(data.y_train, [data.class_names.index(c) for c in ("wave", "fall", "sit_down")])
    x, y = data.x_train[keep], np.unique(data.y_train[keep], return_inverse=True)[1]
    train = make_pose_dataset(x, y, "coco17", batch_size=16, training=True, seed=0)
    classifier = PoseClassifier(_micro("coco17", streams=("joints",)), 3)
    classifier.compile(
        optimizer=keras.optimizers.AdamW(2e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    history = classifier.fit(train, epochs=8, verbose=0).history
    assert history["loss"][-1] < 0.7 * history["loss"][0], history["loss"]
    assert history["accuracy"][-1] > 0.6, history["accuracy"]


def test_bounded_mask_attention_matches_keras_attention_and_stays_in_range():
    from har_tf.models.layers import BoundedMaskAttention

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 7, 8)).astype(np.float32)
    mask = rng.uniform(size=(3, 7, 7)) > 0.3
    mask[:, :, 0] = True  # every query keeps at least one key
    ours = BoundedMaskAttention(2, 4)
    reference = keras.layers.MultiHeadAttention(2, 4)
    ours(x, x, attention_mask=mask)
    reference(x, x, attention_mask=mask)
    reference.set_weights(ours.get_weights())
    out, scores = ours(x, x, attention_mask=mask, return_attention_scores=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out), keras.ops.convert_to_numpy(reference(x, x, attention_mask=mask)), atol=1e-5
    )
    scores = keras.ops.convert_to_numpy(scores)
    assert scores[np.broadcast_to(~mask[:, None], scores.shape)].max() < 1e-6  # masked keys get no weight


def test_transformer_mlp_reads_dense_weights_and_exports_as_two_fully_connected_ops(tmp_path):
    """The sub-block's MLP is two EinsumDense layers: models saved while it was two ``keras.layers.Dense``
    load into it with the same answers, and its TFLite graph has no dynamic-shape arithmetic."""
    import tensorflow as tf
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    from har_tf.models.layers import TransformerSubBlock

    def dense_mlp(self, input_shape):  # the layout of models saved before
        TransformerSubBlock.build(self, input_shape)
        hidden = int(input_shape[-1] * self.mlp_ratio)
        self.mlp_in, self.mlp_out = keras.layers.Dense(hidden, name="mlp_in"), keras.layers.Dense(8, name="mlp_out")
        self.mlp_in.build(input_shape)
        self.mlp_out.build(tuple(input_shape[:-1]) + (hidden,))

    # the same class name: a functional model files its layers' weights under their snake-cased class names
    DenseMLPSubBlock = type("TransformerSubBlock", (TransformerSubBlock,), {"build": dense_mlp})

    def model(block, seed):
        keras.utils.set_random_seed(seed)
        tokens, valid = keras.Input((5, 8)), keras.Input((5,), dtype="bool")
        return keras.Model([tokens, valid], block(2, name="block")(tokens, valid))

    ours, theirs = model(TransformerSubBlock, seed=1), model(DenseMLPSubBlock, seed=2)
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(3, 5, 8)).astype(np.float32), rng.uniform(size=(3, 5)) > 0.2]
    assert not np.allclose(ours.predict(inputs, verbose=0), theirs.predict(inputs, verbose=0), atol=1e-3)
    theirs.save_weights(tmp_path / "dense.weights.h5")
    ours.load_weights(tmp_path / "dense.weights.h5")
    np.testing.assert_array_equal(ours.predict(inputs, verbose=0), theirs.predict(inputs, verbose=0))

    mlp = ours.get_layer("block")
    function = tf.function(lambda x: mlp.mlp_out(keras.activations.gelu(mlp.mlp_in(x), approximate=True)))
    spec = tf.TensorSpec((None, 5, 8), tf.float32)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function.get_concrete_function(spec)])
    tflite = flatbuffer_utils.read_model_from_bytearray(bytearray(converter.convert()))
    names = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
    ops = sorted(
        names[max(c.builtinCode, c.deprecatedBuiltinCode)]
        for c in (tflite.operatorCodes[op.opcodeIndex] for op in tflite.subgraphs[0].operators)
    )
    assert ops == ["FULLY_CONNECTED", "FULLY_CONNECTED", "GELU"], ops


def test_stream_normalization_learns_statistics_of_present_joints_only():
    from har_tf.models.layers import StreamNormalization

    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (4, 10, 5, 2)).astype(np.float32)
    valid = np.ones((4, 10, 5), bool)
    valid[:, :, 0] = False
    x[:, :, 0] = 1e6  # junk in a missing joint: not in the statistics
    layer = StreamNormalization(momentum=0.0)
    out = np.asarray(layer(x, valid, training=True))
    np.testing.assert_allclose(layer.moving_mean.numpy(), x[:, :, 1:].reshape(-1, 2).mean(0), rtol=1e-4)
    assert not out[:, :, 0].any() and abs(out[:, :, 1:].std() - 1.0) < 0.05


def test_temporal_pooling_averages_present_frames_of_each_pair():
    x = np.arange(5 * 2, dtype="float32").reshape(1, 5, 2, 1)
    valid = np.ones((1, 5, 2), bool)
    valid[0, 1, 0] = False  # joint 0 missing in frame 1: its pair (0, 1) keeps frame 0 alone
    valid[0, 2:4, 1] = False  # joint 1 missing in frames 2 and 3: that pooled token is missing
    pooled, pooled_valid = (np.asarray(v) for v in FramePairPooling()(x, valid))
    assert pooled.shape == (1, 3, 2, 1) and pooled_valid.shape == (1, 3, 2)
    np.testing.assert_allclose(pooled[0, :, 0, 0], [0.0, 5.0, 8.0])  # frames (0), (2, 3), (4) of joint 0
    np.testing.assert_array_equal(pooled_valid[0], [[True, True], [True, False], [True, True]])


def test_frame_token_is_valid_when_any_joint_of_its_frame_is():
    x = np.ones((1, 3, 2, 4), "float32")
    valid = np.array([[[True, False], [False, False], [False, True]]])
    tokens, token_valid = (np.asarray(v) for v in AppendFrameToken()(x, valid, np.full((1, 3, 4), 2.0, "float32")))
    assert tokens.shape == (1, 3, 3, 4)
    np.testing.assert_array_equal(token_valid[0, :, 2], [True, False, True])
    np.testing.assert_array_equal(tokens[0, :, 2, 0], [2.0, 0.0, 2.0])
