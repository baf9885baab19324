"""ObjectEncoder: per-frame object detections -> an object embedding for late fusion.

``object_features`` ``(B, T, K, 12)`` (person-relative features of K detection slots per frame, see
:mod:`har_tf.data.objects`) -> tokens (class embedding + projected geometry) -> attention over the
objects of each frame and a masked mean over them -> a temporal position embedding and attention
over the frames that show an object -> masked mean over those frames -> ``(B, hidden_dim)``.

Empty slots neither give nor receive attention, and a clip with no detection at all gets an
all-zero embedding, which the residual fusion head turns into "no correction" (the pose-only
result). :class:`ObjectFeatures` computes the features from raw detections and raw poses inside a
model, with the same function as the ``tf.data`` pipeline.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from har_tf.data.objects import NUM_FEATURES, object_features, valid_objects
from har_tf.models.base import Backbone
from har_tf.models.layers import PACKAGE, MaskedMeanPooling, TransformerSubBlock

PRESETS: dict[str, dict] = {
    "micro": dict(hidden_dim=32, num_heads=2, mlp_ratio=2.0),
    "small": dict(hidden_dim=64, num_heads=4, mlp_ratio=2.0),
}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ObjectFeatures(layers.Layer):
    """Raw detections ``(B, T, K, 6)`` and raw poses ``(B, T, J, C)`` -> features ``(B, T, K, 12)``."""

    def __init__(self, layout="coco17", **kwargs):
        super().__init__(**kwargs)
        from har_tf.skeleton.layouts import JointLayout, get_layout

        self.layout = get_layout(JointLayout.from_dict(layout) if isinstance(layout, dict) else layout)

    def call(self, objects, pose):
        return object_features(objects, pose, self.layout)

    def compute_output_shape(self, objects_shape, pose_shape=None):
        return tuple(objects_shape[:-1]) + (NUM_FEATURES,)

    def get_config(self) -> dict:
        return {**super().get_config(), "layout": self.layout.to_dict()}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ObjectTokens(layers.Layer):
    """Features ``(B, T, K, 12)`` -> tokens ``(B, T, K, D)`` (class embedding + projected geometry, zero
    for empty slots) and the slot validity ``(B, T, K)``."""

    def __init__(self, num_classes: int, hidden_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.hidden_dim = int(num_classes), int(hidden_dim)
        self.class_embedding = layers.Embedding(self.num_classes, self.hidden_dim, name="class_embedding")
        # a Dense's weights, as an einsum: one FULLY_CONNECTED op in TFLite (see TransformerSubBlock's MLP)
        self.projection = layers.EinsumDense(
            "btkf,fd->btkd", (None, None, self.hidden_dim), bias_axes="d", name="feature_projection"
        )

    def build(self, input_shape):
        self.class_embedding.build(tuple(input_shape[:-1]))
        self.projection.build(tuple(input_shape[:-1]) + (input_shape[-1] - 1,))

    def call(self, features):
        valid = valid_objects(features)  # class id in channel 0 and score in channel 5, as in raw rows
        ids = ops.clip(ops.cast(ops.round(features[..., 0]), "int32"), 0, self.num_classes - 1)
        tokens = self.class_embedding(ids) + self.projection(features[..., 1:])
        return ops.where(ops.expand_dims(valid, -1), tokens, ops.zeros_like(tokens)), valid

    def get_config(self) -> dict:
        return {**super().get_config(), "num_classes": self.num_classes, "hidden_dim": self.hidden_dim}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ObjectsPerFrame(layers.Layer):
    """Attention over the K objects of each frame, then their masked mean: ``(B, T, K, D)`` tokens and
    ``(B, T, K)`` validity -> ``(B, T, D)`` frame tokens and ``(B, T)`` "the frame shows an object"."""

    def __init__(self, num_heads: int, mlp_ratio: float = 2.0, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.mlp_ratio, self.dropout = num_heads, mlp_ratio, dropout
        self.attention = TransformerSubBlock(num_heads, mlp_ratio, dropout, name="object_attention")
        self.pooling = MaskedMeanPooling(name="object_pooling")

    def build(self, input_shape):
        _, _, slots, dim = input_shape
        self.attention.build((None, slots, dim))

    def call(self, tokens, valid, training=None):
        _, frames, slots, dim = tokens.shape
        flat = self.attention(ops.reshape(tokens, (-1, slots, dim)), ops.reshape(valid, (-1, slots)), training=training)
        pooled = self.pooling(flat, ops.reshape(valid, (-1, slots)))
        return ops.reshape(pooled, (-1, frames, dim)), ops.any(valid, axis=-1)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "mlp_ratio": self.mlp_ratio,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedTemporalPositions(layers.Layer):
    """Adds a learnable embedding per frame ``(T, D)`` to the frames that are valid (others stay 0)."""

    def build(self, input_shape):
        _, frames, dim = input_shape
        init = keras.initializers.TruncatedNormal(stddev=0.02)
        self.temporal = self.add_weight(shape=(frames, dim), initializer=init, name="temporal")

    def call(self, x, valid):
        return ops.where(ops.expand_dims(valid, -1), x + self.temporal, ops.zeros_like(x))

    def compute_output_shape(self, x_shape, valid_shape=None):
        return x_shape


@keras.saving.register_keras_serializable(package=PACKAGE)
class ObjectEncoder(Backbone):
    """Backbone: ``object_features`` (B, T, K, 12) -> object embedding (B, hidden_dim); all zeros for a
    clip without detections.

    Args:
        num_frames, max_objects: T and K.
        num_classes: object classes including ``"none"`` at index 0 (the dataset's ``object_classes``).
        hidden_dim, num_heads, mlp_ratio, dropout: width, heads, MLP expansion, dropout.
        class_names: the object class names (recorded; index 0 is ``"none"``).
    """

    presets = PRESETS
    _preset_kind = "object encoder "
    _config_keys = (
        "num_frames",
        "max_objects",
        "num_classes",
        "hidden_dim",
        "num_heads",
        "mlp_ratio",
        "dropout",
        "class_names",
    )

    def __init__(
        self,
        num_frames: int = 30,
        max_objects: int = 2,
        num_classes: int = 6,
        hidden_dim: int = 32,
        num_heads: int = 2,
        mlp_ratio: float = 2.0,
        dropout: float = 0.1,
        class_names=None,
        **kwargs,
    ):
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} object class names for num_classes={num_classes}")
        # === Layers ===
        tokens = ObjectTokens(num_classes, hidden_dim, name="object_tokens")
        per_frame = ObjectsPerFrame(num_heads, mlp_ratio, dropout, name="objects_per_frame")
        positions = MaskedTemporalPositions(name="temporal_positions")
        temporal = TransformerSubBlock(num_heads, mlp_ratio, dropout, name="temporal_attention")
        pooling = MaskedMeanPooling(name="object_embedding")

        # === Functional Model ===
        features = keras.Input((num_frames, max_objects, NUM_FEATURES), name="object_features")
        x, valid = tokens(features)
        frames, frame_valid = per_frame(x, valid)
        frames = temporal(positions(frames, frame_valid), frame_valid)
        embedding = pooling(frames, frame_valid)
        super().__init__(inputs=features, outputs=embedding, **kwargs)

        # === Config ===
        self.num_frames, self.max_objects, self.num_classes = int(num_frames), int(max_objects), int(num_classes)
        self.hidden_dim, self.num_heads, self.mlp_ratio, self.dropout = hidden_dim, num_heads, mlp_ratio, dropout
        self.class_names = None if class_names is None else [str(c) for c in class_names]

    @property
    def embedding_dim(self) -> int:
        return self.hidden_dim

    @classmethod
    def from_preset(
        cls, preset: str, num_frames: int = 30, max_objects: int = 2, class_names=("none",), **overrides
    ) -> ObjectEncoder:
        """An encoder of a named size (``micro``, ``small``) for the given object classes."""
        config = cls.preset_config(preset, **overrides)
        names = [str(c) for c in class_names]
        return cls(num_frames, max_objects, len(names), class_names=names, **config)
