"""MultiModalFusionModel: late fusion of the pose embedding and the image embedding.

Two functional models share every layer:

- ``fusion.head``: ``{"pose": (B, T, J, C), "frame_features": (B, F, D)}`` -> ``{"probabilities",
  "pose_probabilities"}``. Stage 2 trains this one on cached frame features.
- ``fusion`` itself: ``{"pose", "frames" uint8 (B, F, H, W, 3)}`` -> the same outputs, through the
  frozen :class:`~har_tf.models.image_encoder.FrameEncoder`. This is what is saved and exported:
  raw pose and raw frames in.

``probabilities`` is the fused prediction. ``pose_probabilities`` is the pose branch's own head
(the stage-1 classifier head, trained on in stage 2 with an auxiliary loss so that it stays
matched to the fine-tuned pose encoder): :meth:`MultiModalFusionModel.pose_only_model` and
:meth:`MultiModalFusionModel.predict_proba` with ``frames=None`` use it when a clip has no frames.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from har_tf.errors import InvalidInputError
from har_tf.models.image_encoder import FrameEncoder, TemporalPooling
from har_tf.models.layers import PACKAGE

FUSION_MODES = ("concat", "gated")


@keras.saving.register_keras_serializable(package=PACKAGE)
class GatedSum(layers.Layer):
    """``g * a + (1 - g) * b`` for a gate ``g`` in (0, 1): a learned per-feature choice between modalities."""

    def call(self, inputs):
        gate, a, b = inputs
        return gate * a + (1.0 - gate) * b

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]


def build_fusion_head(pose_backbone: keras.Model, num_frames: int, feature_dim: int, num_classes: int,
                      fusion: str = "concat", image_pooling: str = "mean", hidden_dim: int = 128,
                      dropout: float = 0.3, name: str = "fusion_head") -> keras.Model:  # fmt: skip
    """The trainable part: pose backbone + image pooling + fusion MLP, with a pose-only head beside it."""
    if fusion not in FUSION_MODES:
        raise InvalidInputError(f"fusion must be one of {FUSION_MODES}, got {fusion!r}")
    # === Layers ===
    pooling = TemporalPooling(image_pooling, name="image_pooling")
    image_norm = layers.LayerNormalization(name="image_embedding")
    pose_head = layers.Dense(num_classes, activation="softmax", name="pose_probabilities")
    output = layers.Dense(num_classes, activation="softmax", name="probabilities")

    # === Functional Model ===
    pose = keras.Input(pose_backbone.input_shape[1:], name="pose")
    frame_features = keras.Input((num_frames, feature_dim), name="frame_features")
    pose_embedding = pose_backbone(pose)
    image_embedding = image_norm(pooling(frame_features))
    if fusion == "concat":
        fused = layers.Concatenate(name="concat")([pose_embedding, image_embedding])
        fused = layers.Dropout(dropout, name="fusion_dropout")(fused)
        fused = layers.Dense(hidden_dim, activation="relu", name="fusion_mlp")(fused)
    else:
        pose_proj = layers.Dense(hidden_dim, name="pose_projection")(pose_embedding)
        image_proj = layers.Dense(hidden_dim, name="image_projection")(
            layers.Dropout(dropout, name="image_dropout")(image_embedding))  # fmt: skip
        both = layers.Concatenate(name="concat")([pose_embedding, image_embedding])
        gate = layers.Dense(hidden_dim, activation="sigmoid", name="gate")(both)
        fused = layers.Activation("relu", name="fusion_relu")(GatedSum(name="gated_sum")([gate, pose_proj, image_proj]))
    fused = layers.Dropout(dropout, name="head_dropout")(fused)
    outputs = {"probabilities": output(fused), "pose_probabilities": pose_head(pose_embedding)}
    return keras.Model({"pose": pose, "frame_features": frame_features}, outputs, name=name)


@keras.saving.register_keras_serializable(package=PACKAGE)
class MultiModalFusionModel(keras.Model):
    """``{"pose", "frames"}`` -> ``{"probabilities", "pose_probabilities"}``.

    Args:
        pose_backbone: the stage-1 pose backbone (e.g. :class:`PoseFormerFactorized`), whose output
            is the pose embedding.
        frame_encoder: the frozen :class:`FrameEncoder`.
        num_classes, class_names: the classes.
        fusion: ``concat`` (concatenation, dropout, an MLP) or ``gated`` (a learned per-feature
            gate between the projected pose and image embeddings).
        image_pooling: ``mean`` or ``attention`` over the frames.
        hidden_dim, dropout: the fusion MLP's width and dropout.
        head: an existing fusion head to wrap (used when loading); built from the above when None.
    """

    def __init__(self, pose_backbone: keras.Model, frame_encoder: FrameEncoder, num_classes: int,
                 class_names=None, fusion: str = "concat", image_pooling: str = "mean", hidden_dim: int = 128,
                 dropout: float = 0.3, head: keras.Model | None = None, **kwargs):  # fmt: skip
        if class_names is not None and len(class_names) != num_classes:
            raise InvalidInputError(f"{len(class_names)} class names for {num_classes} classes")
        # === Layers ===
        if head is None:
            head = build_fusion_head(pose_backbone, frame_encoder.num_frames, frame_encoder.feature_dim,
                                     num_classes, fusion, image_pooling, hidden_dim, dropout)  # fmt: skip
        frame_encoder.trainable = False

        # === Functional Model ===
        pose = keras.Input(pose_backbone.input_shape[1:], name="pose")
        frames = keras.Input(frame_encoder.input_shape[1:], dtype="uint8", name="frames")
        outputs = head({"pose": pose, "frame_features": frame_encoder(frames)})
        outputs = {key: layers.Identity(name=key)(value) for key, value in outputs.items()}
        super().__init__({"pose": pose, "frames": frames}, outputs, **kwargs)

        # === Config ===
        self.head = head
        self.pose_backbone = pose_backbone
        self.frame_encoder = frame_encoder
        self.num_classes = int(num_classes)
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.fusion, self.image_pooling, self.hidden_dim, self.dropout = fusion, image_pooling, hidden_dim, dropout

    def pose_only_model(self) -> keras.Model:
        """``pose`` -> ``pose_probabilities``, sharing the weights: the fall-back when there are no frames."""
        pose = keras.Input(self.pose_backbone.input_shape[1:], name="pose")
        out = self.head.get_layer("pose_probabilities")(self.pose_backbone(pose))
        return keras.Model(pose, layers.Identity(name="probabilities")(out), name="pose_only")

    def predict_proba(self, pose, frames=None, batch_size: int = 64) -> np.ndarray:
        """Class probabilities ``(N, K)``: fused when ``frames`` are given, the pose branch's own otherwise.

        ``pose`` must be preprocessed like the training data (see :mod:`har_tf.data.pipeline`).
        """
        pose = np.asarray(pose, np.float32)
        if frames is None:
            return self.pose_only_model().predict(pose, batch_size=batch_size, verbose=0)
        frames = np.asarray(frames)
        if frames.shape[1:] != tuple(self.frame_encoder.input_shape[1:]) or len(frames) != len(pose):
            raise InvalidInputError(f"frames must be uint8 (N, F, H, W, 3) = (N, "
                                    f"{', '.join(map(str, self.frame_encoder.input_shape[1:]))}) with N = "
                                    f"{len(pose)}, got {frames.shape}")  # fmt: skip
        out = self.predict({"pose": pose, "frames": frames.astype(np.uint8)}, batch_size=batch_size, verbose=0)
        return out["probabilities"]

    def get_config(self) -> dict:
        return {
            "name": self.name, "trainable": self.trainable,
            "pose_backbone": keras.saving.serialize_keras_object(self.pose_backbone),
            "frame_encoder": keras.saving.serialize_keras_object(self.frame_encoder),
            "num_classes": self.num_classes, "class_names": self.class_names, "fusion": self.fusion,
            "image_pooling": self.image_pooling, "hidden_dim": self.hidden_dim, "dropout": self.dropout,
        }  # fmt: skip

    @classmethod
    def from_config(cls, config: dict) -> MultiModalFusionModel:
        config = dict(config)
        config["pose_backbone"] = keras.saving.deserialize_keras_object(config["pose_backbone"])
        config["frame_encoder"] = keras.saving.deserialize_keras_object(config["frame_encoder"])
        return cls(**config)


def image_only_classifier(num_frames: int, feature_dim: int, num_classes: int) -> keras.Model:
    """The image-only baseline on frame features: mean over frames, then one linear softmax layer
    (the frozen-backbone transfer-learning recipe)."""
    features = keras.Input((num_frames, feature_dim), name="frame_features")
    pooled = TemporalPooling("mean", name="image_pooling")(features)
    return keras.Model(features, layers.Dense(num_classes, activation="softmax", name="probabilities")(pooled),
                       name="image_only")  # fmt: skip
