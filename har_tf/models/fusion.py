"""MultiModalFusionModel: late fusion of the pose embedding and the image embedding.

Two functional models share every layer:

- ``fusion.head``: ``{"pose": (B, T, J, C), "frame_features": (B, F, D)}`` -> ``{"probabilities",
  "pose_probabilities"}``. Stage 2 trains this one on cached frame features.
- ``fusion`` itself: ``{"pose": raw pixels (B, T, J, C), "frames": uint8 (B, F, H, W, 3)}`` -> the
  same outputs. It normalises the pose (:class:`~har_tf.models.layers.PoseNormalization`, as the
  training pipeline does), finds the person's box in each RGB frame from the pose
  (:func:`~har_tf.models.image_encoder.crop_boxes_layer`, when the encoder crops) and runs the frozen
  :class:`~har_tf.models.image_encoder.FrameEncoder`. This is what is saved and exported: what a
  pose estimator and a camera give, in.

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
from har_tf.models.image_encoder import FrameEncoder, TemporalPooling, crop_boxes_layer
from har_tf.models.layers import PACKAGE, PoseNormalization

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
    """``{"pose": raw pixels, "frames"}`` -> ``{"probabilities", "pose_probabilities"}``.

    Args:
        pose_backbone: the stage-1 pose backbone (e.g. :class:`PoseFormerFactorized`), whose output
            is the pose embedding; it sees normalised poses.
        frame_encoder: the frozen :class:`FrameEncoder`.
        num_classes, class_names: the classes.
        layout: the joint layout (name or ``JointLayout.to_dict()``) for the pose normalisation;
            default the backbone's ``layout``.
        frame_indices: which of the T pose frames each RGB frame shows (for the person boxes).
        normalize_mode: ``sequence`` or ``frame``, as in training.
        fusion: ``concat`` (concatenation, dropout, an MLP) or ``gated`` (a learned per-feature
            gate between the projected pose and image embeddings).
        image_pooling: ``mean`` or ``attention`` over the frames.
        hidden_dim, dropout: the fusion MLP's width and dropout.
    """

    def __init__(self, pose_backbone: keras.Model, frame_encoder: FrameEncoder, num_classes: int,
                 class_names=None, layout=None, frame_indices=None, normalize_mode: str = "sequence",
                 fusion: str = "concat", image_pooling: str = "mean", hidden_dim: int = 128, dropout: float = 0.3,
                 **kwargs):  # fmt: skip
        if class_names is not None and len(class_names) != num_classes:
            raise InvalidInputError(f"{len(class_names)} class names for {num_classes} classes")
        num_pose_frames = pose_backbone.input_shape[1]
        if frame_indices is None:
            from har_tf.data.frames import frame_indices as evenly_spaced

            frame_indices = evenly_spaced(num_pose_frames, frame_encoder.num_frames)
        frame_indices = [int(i) for i in frame_indices]
        if len(frame_indices) != frame_encoder.num_frames or not all(0 <= i < num_pose_frames for i in frame_indices):
            raise InvalidInputError(f"frame_indices must give {frame_encoder.num_frames} pose frames in "
                                    f"[0, {num_pose_frames}), got {frame_indices}")  # fmt: skip
        layout = layout if layout is not None else getattr(pose_backbone, "layout", None)
        if layout is None:
            raise InvalidInputError("say the joint layout of the poses (layout=...) for the pose normalisation")
        # === Layers ===
        head = build_fusion_head(pose_backbone, frame_encoder.num_frames, frame_encoder.feature_dim, num_classes,
                                 fusion, image_pooling, hidden_dim, dropout)  # fmt: skip
        normalize = PoseNormalization(layout, normalize_mode, name="pose_normalization")
        boxes = crop_boxes_layer(frame_encoder.crop, normalize.layout, frame_indices, frame_encoder.frame_size)
        frame_encoder.trainable = False

        # === Functional Model ===
        pose = keras.Input(pose_backbone.input_shape[1:], name="pose")
        size = frame_encoder.frame_size
        frames = keras.Input((frame_encoder.num_frames, size, size, 3), dtype="uint8", name="frames")
        encoder_inputs = frames if boxes is None else {"frames": frames, "boxes": boxes(pose)}
        outputs = head({"pose": normalize(pose), "frame_features": frame_encoder(encoder_inputs)})
        outputs = {key: layers.Identity(name=key)(value) for key, value in outputs.items()}
        super().__init__({"pose": pose, "frames": frames}, outputs, **kwargs)

        # === Config ===
        self.head, self.pose_backbone, self.frame_encoder = head, pose_backbone, frame_encoder
        self.normalization, self.crop_boxes = normalize, boxes
        self.num_classes = int(num_classes)
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.layout = normalize.layout.to_dict()
        self.frame_indices, self.normalize_mode = frame_indices, normalize_mode
        self.fusion, self.image_pooling, self.hidden_dim, self.dropout = fusion, image_pooling, hidden_dim, dropout

    def pose_only_model(self) -> keras.Model:
        """Raw ``pose`` -> ``probabilities`` of the pose branch, sharing the weights: the fall-back when
        there are no frames."""
        pose = keras.Input(self.pose_backbone.input_shape[1:], name="pose")
        out = self.head.get_layer("pose_probabilities")(self.pose_backbone(self.normalization(pose)))
        return keras.Model(pose, layers.Identity(name="probabilities")(out), name="pose_only")

    def predict_proba(self, pose, frames=None, batch_size: int = 64) -> np.ndarray:
        """Class probabilities ``(N, K)`` for raw poses ``(N, T, J, C)`` in pixels: fused when ``frames``
        (uint8 ``(N, F, H, W, 3)``) are given, the pose branch's own otherwise."""
        from har_tf.data.checks import check_frames_batch, check_pose_batch

        pose, _ = check_pose_batch(pose, tuple(self.pose_backbone.input_shape[1:]))
        if frames is None:
            return self.pose_only_model().predict(pose, batch_size=batch_size, verbose=0)
        frames = check_frames_batch(frames, tuple(self.input["frames"].shape[1:]), len(pose), single=False)
        out = self.predict({"pose": pose, "frames": frames.astype(np.uint8)}, batch_size=batch_size, verbose=0)
        return out["probabilities"]

    def get_config(self) -> dict:
        return {
            "name": self.name, "trainable": self.trainable,
            "pose_backbone": keras.saving.serialize_keras_object(self.pose_backbone),
            "frame_encoder": keras.saving.serialize_keras_object(self.frame_encoder),
            "num_classes": self.num_classes, "class_names": self.class_names, "layout": self.layout,
            "frame_indices": self.frame_indices, "normalize_mode": self.normalize_mode, "fusion": self.fusion,
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
