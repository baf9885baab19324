"""PoseFormerFactorized: a transformer over pose sequences with factorized spatial/temporal attention.

``(B, T, J, C)`` poses -> joint embedding + learnable spatial and temporal position embeddings ->
L factorized blocks (attention over the joints of each frame, then over the frames of each joint)
-> masked mean over valid tokens -> ``(B, D)`` pose embedding. :class:`~har_tf.models.classifier.PoseClassifier`
puts a softmax head on it; the fusion model reuses the embedding.
"""

from __future__ import annotations

import keras
from keras import layers

from har_tf.models.base import PoseBackbone, stream_parents
from har_tf.models.layers import (
    PACKAGE,
    AppendFrameToken,
    FactorizedBlock,
    FactorizedPositionEmbedding,
    FramePairPooling,
    JointCollectionDistances,
    JointValidity,
    MaskedMaxPooling,
    MaskedMeanPooling,
    PoseStreams,
    StreamNormalization,
)
from har_tf.skeleton.channels import channel_count, resolve_channels

__all__ = ["PRESETS", "PoseFormerFactorized", "preset_config", "stream_parents"]

PRESETS: dict[str, dict] = {
    "micro": dict(hidden_dim=32, num_layers=2, num_heads=2, mlp_ratio=2.0),
    "small": dict(hidden_dim=64, num_layers=4, num_heads=4, mlp_ratio=2.0),
    "base": dict(hidden_dim=128, num_layers=6, num_heads=8, mlp_ratio=2.0),
}


def preset_config(preset: str, **overrides) -> dict:
    """The sizes of a named preset (``micro``, ``small``, ``base``), with overrides applied."""
    return PoseFormerFactorized.preset_config(preset, **overrides)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PoseFormerFactorized(PoseBackbone):
    """Backbone: pose tensor ``pose`` (B, T, J, C) -> pose embedding (B, hidden_dim).

    Args:
        num_joints, num_frames, num_channels: input shape (any J, any T, C = 2, 3 or 4; default: the
            length of ``channels``, else 3).
        hidden_dim, num_layers, num_heads, mlp_ratio: width, depth, heads, MLP expansion.
        dropout, attention_dropout, drop_path: regularisation (drop_path = stochastic depth, grown
            linearly to this rate over the blocks).
        streams: input streams derived from the pose: any of ``joints``, ``velocities``, ``bones``.
        parents: parent joint per joint for the ``bones`` stream (see :func:`bone_parents`).
        layout: name of the joint layout the model was trained on (recorded, checked by callers).
        pooling: ``mean`` (the mean of the valid tokens) or ``mean_max`` (their mean and maximum side by
            side: the embedding is twice ``hidden_dim`` wide; the maximum keeps a short burst of motion).
        stream_norm: batch-normalise each stream channel (over clips, frames and joints) before the joint
            embedding, so that small-valued streams (velocities are hundredths of the pose's scale)
            weigh as much as the joints from the first step; missing joints stay zero.
        frame_token: add one token per frame, embedded from the frame's joint collection distances
            (every pair's distance, normalised per clip as DD-Net does), beside the J joint tokens:
            the whole-body shape of each frame, which spatial attention shares with the joints and
            temporal attention follows over time.
        temporal_pooling: halve the frames (a masked mean of frame pairs) after each of the first
            this many blocks: later blocks see longer spans at lower cost, as a CNN's pooling does.
        temporal_kernel: when above 1, a depthwise convolution over this many frames of each joint's
            embedding before the attention blocks (local motion, as a CNN sees it); 0 or 1: none.
        channels: what the C values are (``xy``, ``xyc``, ``xyz``, ``xyzc``); ``None`` = ``xy`` for
            C = 2, ``xyc`` for C = 3, ``xyzc`` for C = 4. Validity and streams follow it.
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
        "attention_dropout",
        "drop_path",
        "streams",
        "parents",
        "layout",
        "channels",
        "pooling",
        "temporal_kernel",
        "stream_norm",
        "frame_token",
        "temporal_pooling",
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
        attention_dropout: float = 0.0,
        drop_path: float = 0.1,
        streams: tuple[str, ...] = ("joints",),
        parents: tuple[int, ...] | None = None,
        layout: str | None = None,
        channels: str | None = None,
        pooling: str = "mean",
        temporal_kernel: int = 0,
        stream_norm: bool = False,
        frame_token: bool = False,
        temporal_pooling: int = 0,
        **kwargs,
    ):
        if pooling not in ("mean", "mean_max"):
            raise ValueError(f"pooling must be mean or mean_max, got {pooling!r}")
        num_channels = channel_count(num_channels, channels)
        channels = resolve_channels(channels, num_channels)
        # === Layers ===
        validity = JointValidity(channels, name="joint_validity")
        stream_layer = PoseStreams(streams, parents, channels, name="pose_streams")
        input_norm = StreamNormalization(name="stream_norm") if stream_norm else None
        joint_embedding = layers.Dense(hidden_dim, name="joint_embedding")
        frame_distances = (
            JointCollectionDistances(num_joints, channels, name="frame_distances") if frame_token else None
        )
        frame_embedding = layers.Dense(hidden_dim, name="frame_embedding") if frame_token else None
        append_frame = AppendFrameToken(name="frame_token") if frame_token else None
        positions = FactorizedPositionEmbedding(name="position_embedding")
        local = (
            layers.DepthwiseConv2D((temporal_kernel, 1), padding="same", name="temporal_conv")
            if temporal_kernel > 1
            else None
        )
        embedding_dropout = layers.Dropout(dropout, name="embedding_dropout")
        blocks = [
            FactorizedBlock(
                num_heads,
                mlp_ratio,
                dropout,
                attention_dropout,
                drop_path * i / max(num_layers - 1, 1),
                name=f"factorized_block_{i}",
            )
            for i in range(num_layers)
        ]
        halvings = [
            FramePairPooling(name=f"temporal_pooling_{i}") for i in range(min(temporal_pooling, num_layers - 1))
        ]
        final_norm = layers.LayerNormalization(epsilon=1e-6, name="final_norm")
        mean_pool = MaskedMeanPooling(name="pose_embedding" if pooling == "mean" else "mean_pooling")
        max_pool = MaskedMaxPooling(name="max_pooling") if pooling == "mean_max" else None
        joined = layers.Concatenate(name="pose_embedding") if pooling == "mean_max" else None

        # === Functional Model ===
        pose = keras.Input((num_frames, num_joints, num_channels), name="pose")
        valid = validity(pose)
        x = stream_layer(pose, valid)
        if input_norm is not None:
            x = input_norm(x, valid)
        x = joint_embedding(x)
        if append_frame is not None:
            x, valid = append_frame(x, valid, frame_embedding(frame_distances(pose, valid)))
        if local is not None:
            x = x + local(x)
        x = embedding_dropout(positions(x))
        for i, block in enumerate(blocks):
            x = block(x, valid)
            if i < len(halvings):
                x, valid = halvings[i](x, valid)
        x = final_norm(x)
        embedding = mean_pool(x, valid) if max_pool is None else joined([mean_pool(x, valid), max_pool(x, valid)])
        super().__init__(inputs=pose, outputs=embedding, **kwargs)

        # === Config ===
        self.num_joints, self.num_frames, self.num_channels = num_joints, num_frames, num_channels
        self.hidden_dim, self.num_layers, self.num_heads, self.mlp_ratio = hidden_dim, num_layers, num_heads, mlp_ratio
        self.dropout, self.attention_dropout, self.drop_path = dropout, attention_dropout, drop_path
        self.streams = tuple(streams)
        self.parents = None if parents is None else tuple(int(p) for p in parents)
        self.layout, self.channels = layout, channels
        self.pooling, self.temporal_kernel, self.stream_norm = pooling, int(temporal_kernel), bool(stream_norm)
        self.frame_token, self.temporal_pooling = bool(frame_token), int(temporal_pooling)

    @property
    def embedding_dim(self) -> int:
        return self.hidden_dim * (2 if self.pooling == "mean_max" else 1)
