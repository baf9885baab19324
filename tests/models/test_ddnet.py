"""DD-Net baseline: shapes for several layouts and lengths, the JCD feature, masking, save/load, size."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from har_tf.data.pose_npz import PoseDataset
from har_tf.errors import InvalidInputError
from har_tf.models.baselines import DDNet, TwoScaleMotion
from har_tf.models.classifier import PoseClassifier
from har_tf.models.layers import JointCollectionDistances
from har_tf.skeleton.layouts import custom_layout, get_layout
from har_tf.training.config import TrainConfig
from har_tf.training.stage1 import build_classifier
from tests.helpers import run_backbone_test, run_model_saving_test

CUSTOM15 = custom_layout([f"joint_{i}" for i in range(15)], [(i, i + 1) for i in range(14)])


def _poses(num_joints: int, channels: str, batch: int = 2, frames: int = 30, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, frames, num_joints, len(channels))).astype(np.float32)
    if channels.endswith("c"):
        x[..., -1] = rng.uniform(0.2, 1.0, (batch, frames, num_joints))
    return x


def _micro(layout, channels: str, frames: int = 30) -> DDNet:
    return DDNet.from_preset("micro", layout, num_frames=frames, channels=channels)


def _micro_kwargs(layout, channels: str, frames: int = 30) -> dict:
    """The constructor arguments that ``_micro`` passes."""
    layout = get_layout(layout)
    return {
        "num_joints": layout.num_joints,
        "num_frames": frames,
        "layout": layout.name,
        "channels": channels,
        **DDNet.preset_config("micro"),
    }


@pytest.mark.parametrize(
    "layout, channels",
    [("coco17", "xyc"), ("body25", "xyc"), ("kinect_v1", "xyz"), (CUSTOM15, "xy"), ("kinect_v1", "xyzc")],
    ids=["coco17-xyc", "body25-xyc", "kinect_v1-xyz", "custom15-xy", "kinect_v1-xyzc"],
)
@pytest.mark.parametrize("frames", [8, 31])
def test_embedding_shape_for_each_layout_and_length(layout, channels, frames):
    x = _poses(get_layout(layout).num_joints, channels, frames=frames)
    backbone = run_backbone_test(DDNet, _micro_kwargs(layout, channels, frames), x, (2, 128))
    assert {**backbone.get_config(), "name": ""} == {**_micro(layout, channels, frames).get_config(), "name": ""}
    out = np.asarray(backbone(x))
    assert out.shape == (2, 128) == (2, backbone.embedding_dim)
    assert np.isfinite(out).all()
    assert backbone.channels == channels and backbone.layout == get_layout(layout).name


def test_short_clips_do_not_pool_below_one_frame():
    for frames in (2, 3, 5):
        assert _micro("coco17", "xyc", frames)(_poses(17, "xyc", frames=frames)).shape == (2, 128)
    with pytest.raises(InvalidInputError, match="at least 2 frames"):
        DDNet(17, num_frames=1)
    with pytest.raises(InvalidInputError, match="unknown DD-Net preset"):
        DDNet.from_preset("huge", "coco17")


def _jcd_reference(pose: np.ndarray, valid: np.ndarray, dims: int) -> np.ndarray:
    first, second = np.triu_indices(pose.shape[2], k=1)
    out = np.zeros(pose.shape[:2] + (len(first),))
    for b in range(pose.shape[0]):
        d = np.linalg.norm(pose[b, :, first, :dims] - pose[b, :, second, :dims], axis=-1).T  # (T, P)
        ok = valid[b][:, first] & valid[b][:, second]
        mean = d[ok].mean()
        out[b] = np.where(ok, (d - mean) / mean, 0.0)
    return out


@pytest.mark.parametrize("channels", ["xyc", "xyz"])
def test_joint_distances_match_a_numpy_reference(channels):
    x = _poses(17, channels, batch=3, frames=6, seed=1)
    valid = np.random.default_rng(2).uniform(size=x.shape[:3]) > 0.2
    x[~valid] = 0.0  # missing: confidence 0 (xyc), all zeros (xyz)
    layer = JointCollectionDistances(17, channels)
    out = np.asarray(layer(x, valid))
    assert out.shape == (3, 6, 17 * 16 // 2)
    np.testing.assert_allclose(out, _jcd_reference(x, valid, 3 if "z" in channels else 2), rtol=1e-4, atol=1e-5)


def test_two_scale_motion():
    x = _poses(4, "xy", batch=1, frames=7)
    valid = np.ones(x.shape[:3], bool)
    valid[0, 3, 1] = False
    slow, fast = (np.asarray(m) for m in TwoScaleMotion("xy")(np.where(valid[..., None], x, 0.0), valid))
    assert slow.shape == (1, 7, 8) and fast.shape == (1, 3, 8)
    np.testing.assert_allclose(slow[0, 5].reshape(4, 2), x[0, 5] - x[0, 4], atol=1e-6)
    np.testing.assert_allclose(fast[0, 2].reshape(4, 2), x[0, 4] - x[0, 2], atol=1e-6)
    assert not slow[0, 0].any() and not fast[0, 0].any()
    assert not slow[0, 3].reshape(4, 2)[1].any() and not slow[0, 4].reshape(4, 2)[1].any()


@pytest.mark.parametrize("layout, channels", [("coco17", "xyc"), ("kinect_v1", "xyz")], ids=["xyc", "xyz"])
def test_missing_joints_do_not_change_the_embedding(layout, channels):
    keras.utils.set_random_seed(0)
    model = _micro(layout, channels, frames=12)
    x = _poses(get_layout(layout).num_joints, channels, frames=12)
    missing = np.zeros(x.shape[:3], bool)
    missing[:, :, 4] = True  # joint 4 missing in every frame
    missing[0, 5:8] = True  # frames with nobody
    missing[1, 2, 7] = True
    if channels == "xyc":
        x[missing, 2] = 0.0
        changed = x.copy()
        changed[missing, :2] = np.random.default_rng(3).normal(50.0, 20.0, (missing.sum(), 2))
    else:
        x[missing] = 0.0
        changed = x.copy()
        changed[missing] = np.nan  # NaN is missing whatever the channels
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(model(changed)))
    visible = x.copy()
    visible[:, :, 6, 0] += 1.0  # a visible joint does matter
    assert not np.allclose(np.asarray(model(x)), np.asarray(model(visible)))


def test_keras_save_load_round_trip_is_exact(tmp_path):
    classifier = PoseClassifier(_micro("kinect_v1", "xyz", frames=16), 4, class_names=["a", "b", "c", "d"])
    x = _poses(20, "xyz", frames=16)
    restored = run_model_saving_test(classifier, x, tmp_path)
    assert type(restored.backbone) is DDNet and restored.backbone.get_config() == classifier.backbone.get_config()
    assert restored.backbone.channels == "xyz" and restored.backbone.layout == "kinect_v1"


def test_default_size_is_the_papers():
    params = DDNet.from_preset("base", CUSTOM15, num_frames=32, channels="xy").count_params()
    assert 1.5e6 <= params <= 2.0e6, params  # the paper's JHMDB model: about 1.8 M


def test_build_classifier_makes_the_papers_ddnet():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 20, 20, 3)).astype(np.float32)
    dataset = PoseDataset(x, np.arange(6) % 3, ["a", "b", "c"], "kinect_v1", channels="xyz")
    config = TrainConfig(model="ddnet", num_frames=16, preset="micro")
    classifier = build_classifier(config, dataset)
    assert isinstance(classifier.backbone, DDNet) and classifier.backbone.filters == 64
    assert classifier.backbone.channels == "xyz" and classifier.input_shape == (None, 16, 20, 3)
    assert classifier.output_shape == (None, 3) and classifier.dropout == 0.5
    with pytest.raises(InvalidInputError, match="model must be one of"):
        TrainConfig(model="dd_net")
