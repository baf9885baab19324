"""Baselines to compare PoseFormerFactorized against, as backbones (pose -> embedding).

- :class:`LSTMLite`: 3 LSTM layers of 128 units with dropout and batch normalisation, then Dense 32
  (the embedding); with :class:`~har_tf.models.classifier.PoseClassifier` it is the classic
  LSTM + softmax recipe.
- :class:`FullAttentionTransformer`: the same joint and position embeddings and width as the
  factorized model, but every attention layer attends over all T·J tokens (O(T²·J²)). Each layer has
  two attention sub-blocks, like a factorized block, so the two have the same number of parameters.
- :class:`DDNet`: DD-Net (Yang et al. 2019, "Make Skeleton-based Action Recognition Model Smaller,
  Faster and Better"): joint collection distances (JCD, :class:`JointCollectionDistances`) and
  two-scale global motion (:class:`TwoScaleMotion`) through a 1D CNN over time, the small
  skeleton model of choice for datasets of a few hundred clips.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from har_tf.errors import InvalidInputError
from har_tf.models.base import PoseBackbone
from har_tf.models.layers import (
    PACKAGE,
    FactorizedPositionEmbedding,
    JointCollectionDistances,
    JointValidity,
    MaskedMeanPooling,
    PoseStreams,
    TransformerSubBlock,
    frame_motion,
)
from har_tf.models.pose_former import PRESETS
from har_tf.skeleton.channels import channel_count, resolve_channels, spatial_dims


@keras.saving.register_keras_serializable(package=PACKAGE)
class LSTMLite(PoseBackbone):
    """``pose`` (B, T, J, C) -> (B, 32): missing joints zeroed, each frame flattened, 3 LSTMs.

    ``channels`` (``xy``, ``xyc``, ``xyz``, ``xyzc``; ``None`` = C's default) describes the C values.
    """

    _config_keys = (
        "num_joints",
        "num_frames",
        "num_channels",
        "units",
        "num_lstm",
        "embedding_dim",
        "dropout",
        "streams",
        "parents",
        "layout",
        "channels",
    )

    def __init__(
        self,
        num_joints: int,
        num_frames: int = 30,
        num_channels: int | None = None,
        units: int = 128,
        num_lstm: int = 3,
        embedding_dim: int = 32,
        dropout: float = 0.2,
        streams: tuple[str, ...] = ("joints",),
        parents: tuple[int, ...] | None = None,
        layout: str | None = None,
        channels: str | None = None,
        **kwargs,
    ):
        num_channels = channel_count(num_channels, channels)
        channels = resolve_channels(channels, num_channels)
        # === Layers ===
        validity = JointValidity(channels, name="joint_validity")
        clean = PoseStreams(streams, parents, channels, name="pose_streams")
        stream_channels = clean.compute_output_shape((None, num_frames, num_joints, num_channels))[-1]
        flatten = layers.Reshape((num_frames, num_joints * stream_channels), name="flatten_joints")
        stack = []
        for i in range(num_lstm):
            stack += [
                layers.LSTM(units, return_sequences=i < num_lstm - 1, name=f"lstm_{i}"),
                layers.Dropout(dropout, name=f"dropout_{i}"),
                layers.BatchNormalization(name=f"batch_norm_{i}"),
            ]
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
class FullAttentionTransformer(PoseBackbone):
    """``pose`` (B, T, J, C) -> (B, hidden_dim) with attention over all T·J joint tokens.

    ``channels`` (``xy``, ``xyc``, ``xyz``, ``xyzc``; ``None`` = C's default) describes the C values.
    Its presets are the sizes of :data:`~har_tf.models.pose_former.PRESETS`.
    """

    presets = PRESETS
    _config_keys = (
        "num_joints",
        "num_frames",
        "num_channels",
        "hidden_dim",
        "num_layers",
        "num_heads",
        "mlp_ratio",
        "dropout",
        "streams",
        "parents",
        "layout",
        "channels",
    )

    def __init__(
        self,
        num_joints: int,
        num_frames: int = 30,
        num_channels: int | None = None,
        hidden_dim: int = 64,
        num_layers: int = 4,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        dropout: float = 0.1,
        streams: tuple[str, ...] = ("joints",),
        parents: tuple[int, ...] | None = None,
        layout: str | None = None,
        channels: str | None = None,
        **kwargs,
    ):
        num_channels = channel_count(num_channels, channels)
        channels = resolve_channels(channels, num_channels)
        # === Layers ===
        validity = JointValidity(channels, name="joint_validity")
        clean = PoseStreams(streams, parents, channels, name="pose_streams")
        joint_embedding = layers.Dense(hidden_dim, name="joint_embedding")
        positions = FactorizedPositionEmbedding(name="position_embedding")
        flatten = _FlattenTokens(name="flatten_tokens")
        blocks = [
            TransformerSubBlock(num_heads, mlp_ratio, dropout, name=f"attention_block_{i}")
            for i in range(2 * num_layers)
        ]
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


@keras.saving.register_keras_serializable(package=PACKAGE)
class TwoScaleMotion(layers.Layer):
    """DD-Net's global motion: ``pose`` (B, T, J, C), ``valid`` (B, T, J) -> slow (B, T, J·D), fast (B, T//2, J·D).

    ``slow[t] = P[t] - P[t-1]`` and ``fast[k] = P[2k] - P[2k-2]`` over the D coordinates, the first
    frame of each zero; zero where either frame misses the joint.
    """

    def __init__(self, channels: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.channels = None if channels is None else resolve_channels(channels)

    def _dims(self, num_channels) -> int:
        return spatial_dims(resolve_channels(self.channels, num_channels))

    @staticmethod
    def _motion(coords, weight):
        motion = frame_motion(coords, weight)
        _, frames, joints, dims = motion.shape
        return ops.reshape(motion, (-1, frames, joints * dims))

    def call(self, pose, valid):
        weight = ops.cast(ops.expand_dims(valid, -1), pose.dtype)
        coords = ops.where(ops.expand_dims(valid, -1), pose, ops.zeros_like(pose))
        coords = coords[..., : self._dims(pose.shape[-1])]
        frames = coords.shape[1]
        fast_idx = np.arange(0, 2 * (frames // 2), 2, dtype="int32")
        fast = self._motion(ops.take(coords, fast_idx, axis=1), ops.take(weight, fast_idx, axis=1))
        return self._motion(coords, weight), fast

    def compute_output_shape(self, input_shape):
        batch, frames, joints, channels = input_shape
        width = joints * self._dims(channels)
        return (batch, frames, width), (batch, None if frames is None else frames // 2, width)

    def get_config(self) -> dict:
        config = super().get_config()
        return {**config, "channels": self.channels} if self.channels is not None else config


DDNET_PRESETS: dict[str, dict] = {"micro": {"filters": 8}, "small": {"filters": 16}, "base": {"filters": 64}}


def _conv_unit(filters: int, kernel: int, name: str) -> list[layers.Layer]:
    """DD-Net's Conv1D (no bias, same padding) - BatchNorm - LeakyReLU(0.2)."""
    return [
        layers.Conv1D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv"),
        layers.BatchNormalization(name=f"{name}_bn"),
        layers.LeakyReLU(0.2, name=f"{name}_act"),
    ]


@keras.saving.register_keras_serializable(package=PACKAGE)
class DDNet(PoseBackbone):
    """DD-Net: ``pose`` (B, T, J, C) -> (B, embedding_dim) from JCD and two-scale motion, 1D CNN over time.

    Three streams (JCD, slow motion, fast motion) are each embedded by Conv1D 2f (k1), f (k3), f (k1)
    units; the JCD and slow streams are max-pooled to the fast stream's T//2 frames. Their
    concatenation goes through blocks of two Conv1D (k3) units of 2f, 4f and 8f filters, max-pooled
    by 2 between blocks (a pool is skipped once one frame is left), a global max over time and two
    Dense ``embedding_dim`` units (dropout between them): the embedding. The paper puts dropout 0.5
    before the softmax; :class:`~har_tf.models.classifier.PoseClassifier`'s ``dropout`` does that.
    ``filters`` f = 64 is the paper's JHMDB model (about 1.8 M parameters for 15 2D joints).
    Missing joints are zeroed and no feature depends on their values. ``channels`` (``xy``,
    ``xyc``, ``xyz``, ``xyzc``; ``None`` = C's default) describes the C values; confidence is not used.
    Presets: ``micro`` (f = 8), ``small`` (f = 16) and ``base`` (f = 64, the paper's).
    """

    presets = DDNET_PRESETS
    _preset_kind = "DD-Net "
    _config_keys = (
        "num_joints",
        "num_frames",
        "num_channels",
        "filters",
        "embedding_dim",
        "spatial_dropout",
        "dropout",
        "layout",
        "channels",
    )

    def __init__(
        self,
        num_joints: int,
        num_frames: int = 30,
        num_channels: int | None = None,
        filters: int = 64,
        embedding_dim: int = 128,
        spatial_dropout: float = 0.1,
        dropout: float = 0.5,
        layout: str | None = None,
        channels: str | None = None,
        **kwargs,
    ):
        num_channels = channel_count(num_channels, channels)
        channels = resolve_channels(channels, num_channels)
        if int(num_frames) < 2:
            raise InvalidInputError(
                f"DD-Net needs at least 2 frames (its fast motion skips every other), got num_frames={num_frames}"
            )
        f = int(filters)
        # === Layers ===
        validity = JointValidity(channels, name="joint_validity")
        jcd = JointCollectionDistances(num_joints, channels, name="joint_distances")
        motion = TwoScaleMotion(channels, name="global_motion")
        streams = {}
        for stream in ("jcd", "slow", "fast"):
            units = []
            for i, (width, kernel) in enumerate(((2 * f, 1), (f, 3), (f, 1))):
                units += _conv_unit(width, kernel, f"{stream}_{i}")
                if i < 2:
                    units.append(layers.SpatialDropout1D(spatial_dropout, name=f"{stream}_{i}_dropout"))
            if stream != "fast":
                units.append(layers.MaxPooling1D(2, name=f"{stream}_pool"))
            units.append(layers.SpatialDropout1D(spatial_dropout, name=f"{stream}_2_dropout"))
            streams[stream] = units
        concat = layers.Concatenate(name="streams")
        body, length = [], num_frames // 2
        for i, width in enumerate((2 * f, 4 * f, 8 * f)):
            body += _conv_unit(width, 3, f"block{i}_0") + _conv_unit(width, 3, f"block{i}_1")
            if i < 2 and length >= 2:
                body.append(layers.MaxPooling1D(2, name=f"block{i}_pool"))
                length //= 2
            body.append(layers.SpatialDropout1D(spatial_dropout, name=f"block{i}_dropout"))
        global_pool = layers.GlobalMaxPooling1D(name="global_max")
        head = [
            layers.Dense(embedding_dim, use_bias=False, name="dense_0"),
            layers.BatchNormalization(name="dense_0_bn"),
            layers.LeakyReLU(0.2, name="dense_0_act"),
            layers.Dropout(dropout, name="dense_0_dropout"),
            layers.Dense(embedding_dim, use_bias=False, name="dense_1"),
            layers.BatchNormalization(name="dense_1_bn"),
            layers.LeakyReLU(0.2, name="pose_embedding"),
        ]

        # === Functional Model ===
        pose = keras.Input((num_frames, num_joints, num_channels), name="pose")
        valid = validity(pose)
        slow, fast = motion(pose, valid)
        features = []
        for stream, x in (("jcd", jcd(pose, valid)), ("slow", slow), ("fast", fast)):
            for layer in streams[stream]:
                x = layer(x)
            features.append(x)
        x = concat(features)
        for layer in body:
            x = layer(x)
        x = global_pool(x)
        for layer in head:
            x = layer(x)
        super().__init__(inputs=pose, outputs=x, **kwargs)

        # === Config ===
        self.num_joints, self.num_frames, self.num_channels = num_joints, num_frames, num_channels
        self.filters, self.embedding_dim = filters, embedding_dim
        self.spatial_dropout, self.dropout = spatial_dropout, dropout
        self.layout, self.channels = layout, channels
