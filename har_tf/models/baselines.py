"""Baselines to compare PoseFormerFactorized against, as backbones (pose -> embedding).

- :class:`LSTMLite`: 3 LSTM layers of 128 units with dropout and batch normalisation, then Dense 32
  (the embedding); with :class:`~har_tf.models.classifier.PoseClassifier` it is the classic
  LSTM + softmax recipe.
- :class:`FullAttentionTransformer`: the same joint and position embeddings and width as the
  factorized model, but every attention layer attends over all T·J tokens (O(T²·J²)). Each layer has
  two attention sub-blocks, like a factorized block, so the two have the same number of parameters.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from har_tf.models.layers import (
    PACKAGE,
    FactorizedPositionEmbedding,
    JointValidity,
    MaskedMeanPooling,
    PoseStreams,
    TransformerSubBlock,
)
from har_tf.models.pose_former import preset_config, stream_parents
from har_tf.skeleton.channels import channel_count, resolve_channels
from har_tf.skeleton.layouts import JointLayout, get_layout


class _PoseBackbone(keras.Model):
    """Config plumbing shared by the baseline backbones: constructor arguments are the config."""

    _config_keys: tuple[str, ...] = ()

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable,
                **{k: getattr(self, k) for k in self._config_keys}}  # fmt: skip

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSTMLite(_PoseBackbone):
    """``pose`` (B, T, J, C) -> (B, 32): missing joints zeroed, each frame flattened, 3 LSTMs.

    ``channels`` (``xy``, ``xyc``, ``xyz``, ``xyzc``; ``None`` = C's default) describes the C values.
    """

    _config_keys = ("num_joints", "num_frames", "num_channels", "units", "num_lstm", "embedding_dim",
                    "dropout", "streams", "parents", "layout", "channels")  # fmt: skip

    def __init__(self, num_joints: int, num_frames: int = 30, num_channels: int | None = None, units: int = 128,
                 num_lstm: int = 3, embedding_dim: int = 32, dropout: float = 0.2,
                 streams: tuple[str, ...] = ("joints",), parents: tuple[int, ...] | None = None,
                 layout: str | None = None, channels: str | None = None, **kwargs):  # fmt: skip
        num_channels = channel_count(num_channels, channels)
        channels = resolve_channels(channels, num_channels)
        # === Layers ===
        validity = JointValidity(channels, name="joint_validity")
        clean = PoseStreams(streams, parents, channels, name="pose_streams")
        stream_channels = clean.compute_output_shape((None, num_frames, num_joints, num_channels))[-1]
        flatten = layers.Reshape((num_frames, num_joints * stream_channels), name="flatten_joints")
        stack = []
        for i in range(num_lstm):
            stack += [layers.LSTM(units, return_sequences=i < num_lstm - 1, name=f"lstm_{i}"),
                      layers.Dropout(dropout, name=f"dropout_{i}"),
                      layers.BatchNormalization(name=f"batch_norm_{i}")]  # fmt: skip
        embed = layers.Dense(embedding_dim, activation="relu", name="pose_embedding")

        # === Functional Model ===
        pose = keras.Input((num_frames, num_joints, num_channels), name="pose")
        x = flatten(clean(pose, validity(pose)))
        for layer in stack:
            x = layer(x)
        super().__init__(inputs=pose, outputs=embed(x), **kwargs)

        # === Config ===
        self.num_joints, self.num_frames, self.num_channels = num_joints, num_frames, num_channels
        self.units, self.num_lstm, self.embedding_dim = units, num_lstm, embedding_dim
        self.dropout, self.layout, self.channels = dropout, layout, channels
        self.streams = list(streams)
        self.parents = None if parents is None else [int(p) for p in parents]


@keras.saving.register_keras_serializable(package=PACKAGE)
class _FlattenTokens(layers.Layer):
    """(B, T, J, D) -> (B, T·J, D), and the matching mask."""

    def call(self, x, valid):
        _, frames, joints, dim = x.shape
        return ops.reshape(x, (-1, frames * joints, dim)), ops.reshape(valid, (-1, frames * joints))


@keras.saving.register_keras_serializable(package=PACKAGE)
class FullAttentionTransformer(_PoseBackbone):
    """``pose`` (B, T, J, C) -> (B, hidden_dim) with attention over all T·J joint tokens.

    ``channels`` (``xy``, ``xyc``, ``xyz``, ``xyzc``; ``None`` = C's default) describes the C values.
    """

    _config_keys = ("num_joints", "num_frames", "num_channels", "hidden_dim", "num_layers", "num_heads",
                    "mlp_ratio", "dropout", "streams", "parents", "layout", "channels")  # fmt: skip

    def __init__(self, num_joints: int, num_frames: int = 30, num_channels: int | None = None,
                 hidden_dim: int = 64, num_layers: int = 4, num_heads: int = 4, mlp_ratio: float = 2.0,
                 dropout: float = 0.1, streams: tuple[str, ...] = ("joints",),
                 parents: tuple[int, ...] | None = None, layout: str | None = None, channels: str | None = None,
                 **kwargs):  # fmt: skip
        num_channels = channel_count(num_channels, channels)
        channels = resolve_channels(channels, num_channels)
        # === Layers ===
        validity = JointValidity(channels, name="joint_validity")
        clean = PoseStreams(streams, parents, channels, name="pose_streams")
        joint_embedding = layers.Dense(hidden_dim, name="joint_embedding")
        positions = FactorizedPositionEmbedding(name="position_embedding")
        flatten = _FlattenTokens(name="flatten_tokens")
        blocks = [TransformerSubBlock(num_heads, mlp_ratio, dropout, name=f"attention_block_{i}")
                  for i in range(2 * num_layers)]  # fmt: skip
        final_norm = layers.LayerNormalization(epsilon=1e-6, name="final_norm")
        pooling = MaskedMeanPooling(name="pose_embedding")

        # === Functional Model ===
        pose = keras.Input((num_frames, num_joints, num_channels), name="pose")
        valid = validity(pose)
        tokens, token_valid = flatten(positions(joint_embedding(clean(pose, valid))), valid)
        for block in blocks:
            tokens = block(tokens, token_valid)
        super().__init__(inputs=pose, outputs=pooling(final_norm(tokens), token_valid), **kwargs)

        # === Config ===
        self.num_joints, self.num_frames, self.num_channels = num_joints, num_frames, num_channels
        self.hidden_dim, self.num_layers, self.num_heads, self.mlp_ratio = hidden_dim, num_layers, num_heads, mlp_ratio
        self.dropout, self.layout, self.channels = dropout, layout, channels
        self.streams = list(streams)
        self.parents = None if parents is None else [int(p) for p in parents]

    @classmethod
    def from_preset(cls, preset: str, layout: str | JointLayout, num_frames: int = 30,
                    num_channels: int | None = None, streams: tuple[str, ...] = ("joints",),
                    channels: str | None = None, **overrides) -> FullAttentionTransformer:  # fmt: skip
        """The same sizes as :data:`~har_tf.models.pose_former.PRESETS`."""
        layout = get_layout(layout)
        parents = stream_parents(layout, streams)
        return cls(num_joints=layout.num_joints, num_frames=num_frames, num_channels=num_channels,
                   streams=tuple(streams), parents=parents, layout=layout.name, channels=channels,
                   **preset_config(preset, **overrides))  # fmt: skip
