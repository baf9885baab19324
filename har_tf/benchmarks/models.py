"""The models of the all-in-one latency table, built fresh (seeded, untrained: latency, size and FLOPs do
not depend on the weight values) with the default training config, and their FLOPs per clip.

Every model is timed on raw inputs, as served: pixel poses ``(B, T, J, C)`` (the pose classifiers get the
training pipeline's normalisation in front, as :func:`har_tf.export.make_servable` does) and, for the
fusion and image-only models, uint8 frames ``(B, F, S, S, 3)``.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable

MODEL_KEYS = (
    "poseformer_micro",
    "poseformer_small",
    "poseformer_base",
    "full_attention_small",
    "lstm_lite",
    "fusion",
    "image_only",
)
MODEL_NAMES = {
    "poseformer_micro": "PoseFormerFactorized (micro)",
    "poseformer_small": "PoseFormerFactorized (small)",
    "poseformer_base": "PoseFormerFactorized (base)",
    "full_attention_small": "FullAttentionTransformer (small)",
    "lstm_lite": "LSTMLite",
    "fusion": "fusion (micro pose + EfficientNet-Lite0)",
    "image_only": "image-only (EfficientNet-Lite0 + linear head)",
}


@dataclasses.dataclass
class BuiltModel:
    """A fresh model: ``raw`` (the Keras model on raw inputs that is timed), ``servable`` (for the exports;
    None when :func:`~har_tf.export.make_servable` does not take it), ``model`` (as trained: a
    ``PoseClassifier``, a ``MultiModalFusionModel`` or the image-only model) and ``inputs(b)``, a batch of
    ``b`` random valid clips."""

    key: str
    name: str
    model: object
    raw: object
    servable: object | None
    inputs: Callable[[int], dict]
    description: str


def _data_stub():
    """What the builders of :mod:`har_tf.training` read from a dataset, for the synthetic default data."""
    from har_tf.data.frames import frame_indices
    from har_tf.data.synthetic import SyntheticConfig
    from har_tf.data.synthetic.actions import CLASS_NAMES
    from har_tf.skeleton.layouts import get_layout
    from har_tf.training.config import TrainConfig

    synthetic, config = SyntheticConfig(), TrainConfig()
    return types.SimpleNamespace(
        layout=get_layout("coco17"),
        num_channels=3,
        num_classes=len(CLASS_NAMES),
        class_names=list(CLASS_NAMES),
        frame_size=synthetic.image_size,
        extras={
            "frame_indices": frame_indices(config.num_frames, synthetic.frames_per_clip),
            "image_size": [synthetic.image_size] * 2,
        },
        frames_per_clip=synthetic.frames_per_clip,
    )


def _inputs(shape: tuple[int, ...], frames_shape: tuple[int, ...] | None, pixels: float) -> Callable[[int], dict]:
    import numpy as np

    from har_tf.models.cost import random_poses

    def make(batch: int) -> dict:
        pose = random_poses((batch, *shape), seed=batch)
        pose[..., :2] *= pixels
        out = {"pose": pose}
        if frames_shape is not None:
            rng = np.random.default_rng(batch)
            out["frames"] = rng.integers(0, 256, (batch, *frames_shape), dtype=np.uint8)
        return out

    return make


def _frame_encoder(config, data):
    from har_tf.models import FrameEncoder

    return FrameEncoder(
        num_frames=data.frames_per_clip,
        frame_size=data.frame_size,
        backbone=config.backbone,
        image_size=config.image_size,
        crop=config.image_crop,
    )


def build_model(key: str) -> BuiltModel:
    """One of :data:`MODEL_KEYS`, fresh and seeded (``keras.utils.set_random_seed(0)``)."""
    import keras

    from har_tf.export import make_servable
    from har_tf.training.config import TrainConfig
    from har_tf.training.stage1 import build_classifier

    if key not in MODEL_KEYS:
        raise ValueError(f"unknown model {key!r}; choose one of {MODEL_KEYS}")
    keras.utils.clear_session()
    keras.utils.set_random_seed(0)
    data = _data_stub()
    defaults = TrainConfig()
    pose_shape = (defaults.num_frames, data.layout.num_joints, data.num_channels)
    if key.startswith(("poseformer", "full_attention", "lstm")):
        kind = {"poseformer": "poseformer", "full": "full_attention", "lstm": "lstm_lite"}[key.split("_")[0]]
        preset = key.rsplit("_", 1)[1] if kind != "lstm_lite" else defaults.preset
        config = TrainConfig(model=kind, preset=preset)
        model = build_classifier(config, data)
        servable = make_servable(model, layout=data.layout)
        return BuiltModel(
            key,
            MODEL_NAMES[key],
            model,
            servable.full,
            servable,
            _inputs(pose_shape, None, 500.0),
            f"{kind} classifier, streams {'+'.join(config.streams)}, {data.num_classes} classes",
        )
    from har_tf.models import PoseClassifier, PoseFormerFactorized

    encoder = _frame_encoder(defaults, data)
    frames_shape = (data.frames_per_clip, data.frame_size, data.frame_size, 3)
    inputs = _inputs(pose_shape, frames_shape, float(data.frame_size))
    what = (
        f"EfficientNet-Lite0 on {defaults.image_crop} crops at {encoder.image_size}x{encoder.image_size}, "
        f"F = {data.frames_per_clip} frames of {data.frame_size}x{data.frame_size}"
    )
    if key == "fusion":
        from har_tf.training.stage2 import build_fusion

        backbone = PoseFormerFactorized.from_preset(
            defaults.preset,
            data.layout,
            num_frames=defaults.num_frames,
            num_channels=data.num_channels,
            streams=defaults.streams,
        )
        pose_model = PoseClassifier(backbone, data.num_classes, class_names=data.class_names)
        fusion = build_fusion(defaults, pose_model, encoder, data)
        servable = make_servable(fusion)
        return BuiltModel(
            key,
            MODEL_NAMES[key],
            fusion,
            servable.full,
            servable,
            inputs,
            f"micro pose branch + {what}, {defaults.fusion} fusion",
        )
    return BuiltModel(
        key,
        MODEL_NAMES[key],
        None,
        _image_only(encoder, data, pose_shape),
        None,
        inputs,
        f"{what}, mean over frames, one softmax layer (stage 2's image-only baseline)",
    )


def _image_only(encoder, data, pose_shape: tuple[int, int, int]):
    """Raw pose + frames -> the stage-2 image-only baseline's probabilities (the pose only places the crops)."""
    import keras

    from har_tf.models.fusion import image_only_classifier
    from har_tf.models.image_encoder import crop_boxes_layer

    pose = keras.Input(pose_shape, name="pose")
    frames = keras.Input((data.frames_per_clip, data.frame_size, data.frame_size, 3), dtype="uint8", name="frames")
    boxes = crop_boxes_layer(encoder.crop, data.layout, data.extras["frame_indices"], encoder.frame_size)
    features = encoder(frames if boxes is None else {"frames": frames, "boxes": boxes(pose)})
    head = image_only_classifier(data.frames_per_clip, encoder.feature_dim, data.num_classes)
    return keras.Model({"pose": pose, "frames": frames}, head(features), name="image_only_raw")


def flops_per_clip(model) -> int:
    """FLOPs of one forward pass at batch 1, counted as :func:`har_tf.models.cost.flops_breakdown` counts
    them; a model with several (named) inputs is traced on all of them."""
    import tensorflow as tf

    from har_tf.models.cost import _count_graph, model_flops

    if not isinstance(model.input, dict):
        return model_flops(model, 1)
    specs = {name: tf.TensorSpec((1, *t.shape[1:]), t.dtype) for name, t in model.input.items()}
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(specs)
    outputs = sorted({t.op.name for t in concrete.outputs})
    live = {n.name for n in tf.compat.v1.graph_util.extract_sub_graph(concrete.graph.as_graph_def(), outputs).node}
    counts, _ = _count_graph(concrete.graph, live)
    return int(sum(counts.values()))
