"""Layers of the pose models, written with ``keras.ops`` so they save, reload and export (``PoseNormalization`` runs
the ``tf.data`` pipeline's TensorFlow normalisation, so models that start with it need the TensorFlow backend).

Tokens are joints of frames: a pose tensor ``(B, T, J, C)`` becomes ``(B, T, J, D)``. What the C
values are is the pose's ``channels`` (``xy``, ``xyc``, ``xyz``, ``xyzc``; ``None`` = ``xy`` for
C = 2, ``xyc`` for C = 3, see :mod:`har_tf.skeleton.channels`). The validity
mask ``(B, T, J)`` is derived from the pose itself (:class:`JointValidity`), never passed by users;
a missing joint neither gives attention (it is masked out as a key) nor receives it (its updates are
zeroed), so no output depends on the values a missing joint carries.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from har_tf.errors import InvalidInputError
from har_tf.skeleton.channels import resolve_channels, spatial_dims
from har_tf.skeleton.validity import valid_joints

PACKAGE = "har_tf"


@keras.saving.register_keras_serializable(package=PACKAGE)
class JointValidity(layers.Layer):
    """``(B, T, J, C)`` poses -> bool ``(B, T, J)``: finite and (confidence > 0 when the channels have
    one, else coordinates not all zeros)."""

    def __init__(self, channels: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.channels = None if channels is None else resolve_channels(channels)

    def call(self, pose):
        return valid_joints(pose, self.channels)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def get_config(self) -> dict:
        config = super().get_config()
        return {**config, "channels": self.channels} if self.channels is not None else config


@keras.saving.register_keras_serializable(package=PACKAGE)
class PoseNormalization(layers.Layer):
    """Raw poses in pixels ``(B, T, J, C)`` -> the normalised poses the pose models are trained on.

    The same function as the ``tf.data`` pipeline (:func:`har_tf.data.preprocessing.normalize_pose`
    after :func:`~har_tf.data.preprocessing.sanitize`), so a model that starts with this layer
    takes what a pose estimator gives, for T-frame clips. ``channels`` describes the pose's C values
    (``None``: ``xy`` for C = 2, ``xyc`` for C = 3); 3D poses are normalised in 3D.
    """

    def __init__(self, layout="coco17", mode: str = "sequence", channels: str | None = None, **kwargs):
        super().__init__(**kwargs)
        from har_tf.skeleton.layouts import JointLayout, get_layout

        self.layout = get_layout(JointLayout.from_dict(layout) if isinstance(layout, dict) else layout)
        self.mode = mode
        self.channels = None if channels is None else resolve_channels(channels)

    def build(self, input_shape):
        if self.channels is not None:
            resolve_channels(self.channels, input_shape[-1])
        super().build(input_shape)

    def call(self, pose):
        from har_tf.data.preprocessing import normalize_pose, sanitize

        return normalize_pose(sanitize(pose, self.channels), self.layout, mode=self.mode, channels=self.channels)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        config = {**super().get_config(), "layout": self.layout.to_dict(), "mode": self.mode}
        return {**config, "channels": self.channels} if self.channels is not None else config


def frame_motion(coords, maskf, step: int = 1):
    """``coords[t] - coords[t - step]`` of ``(B, T, J, D)`` joints, zero for the first ``step`` frames and
    wherever either frame misses the joint (``maskf``: ``(B, T, J, 1)`` of 0/1)."""
    motion = (coords[:, step:] - coords[:, :-step]) * maskf[:, step:] * maskf[:, :-step]
    return ops.concatenate([ops.zeros_like(coords[:, :step]), motion], axis=1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PoseStreams(layers.Layer):
    """Input streams derived from the pose, concatenated on the channel axis.

    ``joints``: the pose itself (missing joints zeroed); ``velocities``: frame-to-frame motion of each
    joint (zero where either frame misses it); ``velocities2``: motion over two frames (the faster
    scale of two-scale motion); ``bones``: each joint minus its parent joint (zero where either is
    missing), with ``parents`` given per joint (-1 for the root); ``distances``: each joint's distance
    to every joint of its frame (J channels, zero for a pair with a missing joint): a joint's row of
    the frame's joint-distance matrix, unchanged by where the person stands or how the view turns.
    Velocities and bones cover every coordinate of the pose's ``channels`` (x, y; x, y, z for 3D
    poses; ``None``: C's default, so x, y), each adding that many channels.
    """

    STREAMS = ("joints", "velocities", "velocities2", "bones", "distances")

    def __init__(self, streams=("joints",), parents=None, channels: str | None = None, **kwargs):
        super().__init__(**kwargs)
        unknown = sorted(set(streams) - set(self.STREAMS))
        if unknown or not streams:
            raise ValueError(f"streams must be a non-empty subset of {self.STREAMS}, got {list(streams)}")
        if "bones" in streams and parents is None:
            raise ValueError("the 'bones' stream needs a parent index per joint")
        self.streams = tuple(streams)
        self.parents = None if parents is None else tuple(int(p) for p in parents)
        self.channels = None if channels is None else resolve_channels(channels)

    def _spatial_dims(self, num_channels) -> int:
        return spatial_dims(resolve_channels(self.channels, num_channels))

    def call(self, pose, valid):
        maskf = ops.cast(ops.expand_dims(valid, -1), pose.dtype)
        pose = ops.where(ops.expand_dims(valid, -1), pose, ops.zeros_like(pose))
        xy = pose[..., : self._spatial_dims(pose.shape[-1])]
        out = []
        if "joints" in self.streams:
            out.append(pose)
        if "velocities" in self.streams:
            out.append(frame_motion(xy, maskf, 1))
        if "velocities2" in self.streams:
            out.append(frame_motion(xy, maskf, 2))
        if "bones" in self.streams:
            parent_idx = [p if p >= 0 else j for j, p in enumerate(self.parents)]
            parent_xy = ops.take(xy, parent_idx, axis=2)
            parent_ok = ops.take(maskf, parent_idx, axis=2)
            out.append((xy - parent_xy) * maskf * parent_ok)
        if "distances" in self.streams:
            squared = ops.sum(ops.square(ops.expand_dims(xy, 3) - ops.expand_dims(xy, 2)), axis=-1)
            pairs = maskf * ops.swapaxes(maskf, -1, -2)  # (B, T, J, J): both joints present
            out.append(ops.sqrt(squared * pairs + 1e-12) * pairs)
        return ops.concatenate(out, axis=-1) if len(out) > 1 else out[0]

    def compute_output_shape(self, input_shape):
        motions = ("velocities" in self.streams) + ("velocities2" in self.streams) + ("bones" in self.streams)
        extra = self._spatial_dims(input_shape[-1]) * motions
        extra += input_shape[-2] if "distances" in self.streams else 0
        joints = input_shape[-1] if "joints" in self.streams else 0
        return tuple(input_shape[:-1]) + (joints + extra,)

    def get_config(self):
        config = {
            **super().get_config(),
            "streams": list(self.streams),
            "parents": None if self.parents is None else list(self.parents),
        }
        return {**config, "channels": self.channels} if self.channels is not None else config


@keras.saving.register_keras_serializable(package=PACKAGE)
class JointCollectionDistances(layers.Layer):
    """DD-Net's JCD: ``pose`` (B, T, J, C) and ``valid`` (B, T, J) -> (B, T, J(J-1)/2).

    Per frame, the Euclidean distance between every pair of joints ``i < j`` (row-major upper
    triangle), over the pose's coordinates (``channels`` without the confidence). Normalised per clip
    as DD-Net does, ``(d - m) / m`` with ``m`` the mean distance over the clip's pairs, here taken
    over valid pairs only; a pair with a missing joint gives 0, so no output depends on the values a
    missing joint carries.
    """

    def __init__(self, num_joints: int, channels: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if int(num_joints) < 2:
            raise InvalidInputError(f"joint distances need at least 2 joints, got num_joints={num_joints}")
        self.num_joints = int(num_joints)
        self.channels = None if channels is None else resolve_channels(channels)
        first, second = np.triu_indices(self.num_joints, k=1)
        self.first, self.second = first.astype("int32"), second.astype("int32")

    def call(self, pose, valid):
        dims = spatial_dims(resolve_channels(self.channels, pose.shape[-1]))
        coords = ops.where(ops.expand_dims(valid, -1), pose, ops.zeros_like(pose))[..., :dims]
        delta = ops.take(coords, self.first, axis=2) - ops.take(coords, self.second, axis=2)
        distance = ops.sqrt(ops.maximum(ops.sum(ops.square(delta), axis=-1), 1e-12))
        pair_valid = ops.logical_and(ops.take(valid, self.first, axis=2), ops.take(valid, self.second, axis=2))
        pair_weight = ops.cast(pair_valid, distance.dtype)
        distance = distance * pair_weight
        count = ops.sum(pair_weight, axis=(1, 2), keepdims=True)
        mean = ops.sum(distance, axis=(1, 2), keepdims=True) / ops.maximum(count, 1.0)
        scale = ops.where(mean > 0, mean, ops.ones_like(mean))
        return (distance - mean) / scale * pair_weight

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2]) + (self.num_joints * (self.num_joints - 1) // 2,)

    def get_config(self) -> dict:
        config = {**super().get_config(), "num_joints": self.num_joints}
        return {**config, "channels": self.channels} if self.channels is not None else config


@keras.saving.register_keras_serializable(package=PACKAGE)
class AppendFrameToken(layers.Layer):
    """Adds one token per frame after the joints: ``x`` (B, T, J, D), ``valid`` (B, T, J) and
    ``frame`` (B, T, D) -> tokens (B, T, J + 1, D) and validity (B, T, J + 1); a frame token is
    valid when any joint of its frame is."""

    def call(self, x, valid, frame):
        frame_valid = ops.any(valid, axis=-1, keepdims=True)
        frame = frame * ops.cast(frame_valid, frame.dtype)
        tokens = ops.concatenate([x, ops.expand_dims(frame, 2)], axis=2)
        return tokens, ops.concatenate([valid, frame_valid], axis=-1)

    def compute_output_shape(self, x_shape, valid_shape, frame_shape):
        batch, frames, joints, dim = x_shape
        return (batch, frames, joints + 1, dim), (batch, frames, joints + 1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class StreamNormalization(layers.Layer):
    """Batch normalisation of each channel of ``(B, T, J, C)`` stream features over the present joints;
    missing joints stay zero, and take no part in the statistics."""

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum, self.epsilon = momentum, epsilon

    def build(self, input_shape):
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")
        # "mean" aggregation: under a distribution strategy the replicas' updates are averaged, so every
        # worker keeps the same statistics
        self.moving_mean = self.add_weight(
            shape=(channels,), initializer="zeros", trainable=False, aggregation="mean", name="moving_mean"
        )
        self.moving_variance = self.add_weight(
            shape=(channels,), initializer="ones", trainable=False, aggregation="mean", name="moving_variance"
        )

    def call(self, x, valid, training=None):
        maskf = ops.cast(ops.expand_dims(valid, -1), x.dtype)
        if training:
            count = ops.maximum(ops.sum(maskf, axis=(0, 1, 2)), 1.0)
            mean = ops.sum(x * maskf, axis=(0, 1, 2)) / count
            variance = ops.sum(ops.square(x - mean) * maskf, axis=(0, 1, 2)) / count
            self.moving_mean.assign(self.momentum * self.moving_mean + (1 - self.momentum) * mean)
            self.moving_variance.assign(self.momentum * self.moving_variance + (1 - self.momentum) * variance)
        else:
            mean, variance = self.moving_mean, self.moving_variance
        normed = (x - mean) * ops.rsqrt(variance + self.epsilon) * self.gamma + self.beta
        return normed * maskf

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=PACKAGE)
class FactorizedPositionEmbedding(layers.Layer):
    """Adds a learnable spatial embedding per joint ``(J, D)`` and temporal one per frame ``(T, D)``."""

    def __init__(self, initializer_range: float = 0.02, **kwargs):
        super().__init__(**kwargs)
        self.initializer_range = initializer_range

    def build(self, input_shape):
        _, frames, joints, dim = input_shape
        init = keras.initializers.TruncatedNormal(stddev=self.initializer_range)
        self.spatial = self.add_weight(shape=(joints, dim), initializer=init, name="spatial")
        self.temporal = self.add_weight(shape=(frames, dim), initializer=init, name="temporal")

    def call(self, x):
        return x + self.spatial[None, None, :, :] + self.temporal[None, :, None, :]

    def get_config(self):
        return {**super().get_config(), "initializer_range": self.initializer_range}


def example_keep_mask(x, rate: float, seed_generator):
    """Float ``(B, 1, ..., 1)`` of 0 (probability ``rate``) and 1 per example of ``x``: drops whole examples."""
    shape = (ops.shape(x)[0],) + (1,) * (len(x.shape) - 1)
    return ops.floor(1.0 - rate + keras.random.uniform(shape, seed=seed_generator, dtype=x.dtype))


@keras.saving.register_keras_serializable(package=PACKAGE)
class StochasticDepth(layers.Layer):
    """Drops a whole residual branch per example with probability ``rate`` while training."""

    def __init__(self, rate: float = 0.0, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rate, self.seed = float(rate), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.rate == 0.0:
            return x
        return x / (1.0 - self.rate) * example_keep_mask(x, self.rate, self.seed_generator)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package=PACKAGE)
class BoundedMaskAttention(layers.MultiHeadAttention):
    """``MultiHeadAttention`` whose masked-out scores sit ``MASK_MARGIN`` below the row's lowest
    score instead of at -1e9.

    The attention is the same (a masked key gets under e^-16 of the weight of the weakest kept
    key), but every tensor keeps a bounded range, so that int8 quantisation (TFLite ``int8_full``)
    can represent the scores: with -1e9 in the tensor, one int8 scale wipes out every real score.
    """

    MASK_MARGIN = 16.0

    def _compute_attention(
        self,
        query,
        key,
        value,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
        use_causal_mask=False,
    ):
        if use_causal_mask:
            raise ValueError("BoundedMaskAttention does not take use_causal_mask; pass an attention_mask")
        query = ops.multiply(query, ops.cast(self._inverse_sqrt_key_dim, query.dtype))
        scores = ops.einsum(self._dot_product_equation, key, query)  # (B, heads, queries, keys)
        if attention_mask is not None:
            mask = ops.cast(attention_mask, "bool")
            while len(mask.shape) < len(scores.shape):
                mask = ops.expand_dims(mask, axis=-len(self._attention_axes) * 2 - 1)
            floor = ops.min(scores, axis=-1, keepdims=True) - self.MASK_MARGIN
            scores = ops.where(mask, scores, floor)
        weights = self._softmax(scores)
        dropped = self._dropout_layer(weights, training=training) if self._dropout > 0.0 else weights
        return ops.einsum(self._combine_equation, dropped, value), weights


@keras.saving.register_keras_serializable(package=PACKAGE)
class TransformerSubBlock(layers.Layer):
    """Pre-norm attention + MLP over the second axis of ``(N, L, D)`` tokens, masked both ways."""

    def __init__(
        self,
        num_heads: int,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads, self.mlp_ratio = num_heads, mlp_ratio
        self.dropout, self.attention_dropout, self.drop_path = dropout, attention_dropout, drop_path

    def build(self, input_shape):
        dim = input_shape[-1]
        if dim % self.num_heads:
            raise ValueError(f"width {dim} must be divisible by num_heads {self.num_heads}")
        self.norm1 = layers.LayerNormalization(epsilon=1e-6, name="norm1")
        self.attention = BoundedMaskAttention(
            self.num_heads, dim // self.num_heads, dropout=self.attention_dropout, name="attention"
        )
        self.norm2 = layers.LayerNormalization(epsilon=1e-6, name="norm2")
        # Dense layers as einsums: the same weights ((dim, hidden) kernel, bias) as ``layers.Dense``, but a
        # TFLite export gets one FULLY_CONNECTED op each, where a Dense on (N, L, D) tokens gets nine more
        # ops of dynamic shape arithmetic (SHAPE, GATHER, REDUCE_PROD, PACK, RESHAPE...) around it.
        hidden = int(dim * self.mlp_ratio)
        self.mlp_in = layers.EinsumDense("nld,dh->nlh", (None, hidden), bias_axes="h", name="mlp_in")
        self.mlp_out = layers.EinsumDense("nlh,hd->nld", (None, dim), bias_axes="d", name="mlp_out")
        self.drop = layers.Dropout(self.dropout)
        self.skip1 = StochasticDepth(self.drop_path, name="drop_path1")
        self.skip2 = StochasticDepth(self.drop_path, name="drop_path2")
        for sub in (self.norm1, self.norm2):
            sub.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.mlp_in.build(input_shape)
        self.mlp_out.build(tuple(input_shape[:-1]) + (hidden,))

    def call(self, x, valid, training=None):
        maskf = ops.cast(ops.expand_dims(valid, -1), x.dtype)
        pair = ops.logical_and(ops.expand_dims(valid, 2), ops.expand_dims(valid, 1))  # (N, L, L)
        h = self.norm1(x)
        h = self.attention(h, h, attention_mask=pair, training=training)
        x = x + self.skip1(self.drop(h, training=training), training=training) * maskf
        h = self.mlp_in(self.norm2(x))
        h = self.mlp_out(self.drop(keras.activations.gelu(h, approximate=True), training=training))
        return x + self.skip2(self.drop(h, training=training), training=training) * maskf

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "mlp_ratio": self.mlp_ratio,
            "dropout": self.dropout,
            "attention_dropout": self.attention_dropout,
            "drop_path": self.drop_path,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class FactorizedBlock(layers.Layer):
    """Spatial attention over the J joints of each frame, then temporal attention over the T frames
    of each joint: O(T·J² + J·T²) pairs instead of O(T²·J²) for attention over all T·J tokens."""

    def __init__(
        self,
        num_heads: int,
        mlp_ratio: float = 2.0,
        dropout: float = 0.0,
        attention_dropout: float = 0.0,
        drop_path: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sub_config = dict(
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            dropout=dropout,
            attention_dropout=attention_dropout,
            drop_path=drop_path,
        )

    def build(self, input_shape):
        _, frames, joints, dim = input_shape
        self.spatial = TransformerSubBlock(**self.sub_config, name="spatial")
        self.temporal = TransformerSubBlock(**self.sub_config, name="temporal")
        self.spatial.build((None, joints, dim))
        self.temporal.build((None, frames, dim))

    def call(self, x, valid, training=None):
        _, frames, joints, dim = x.shape
        spatial = ops.reshape(x, (-1, joints, dim))
        spatial = self.spatial(spatial, ops.reshape(valid, (-1, joints)), training=training)
        x = ops.reshape(spatial, (-1, frames, joints, dim))
        temporal = ops.reshape(ops.transpose(x, (0, 2, 1, 3)), (-1, frames, dim))
        valid_t = ops.reshape(ops.transpose(valid, (0, 2, 1)), (-1, frames))
        temporal = self.temporal(temporal, valid_t, training=training)
        return ops.transpose(ops.reshape(temporal, (-1, joints, frames, dim)), (0, 2, 1, 3))

    def get_config(self):
        return {**super().get_config(), **self.sub_config}


@keras.saving.register_keras_serializable(package=PACKAGE)
class FramePairPooling(layers.Layer):
    """Halves the frames: ``x`` (B, T, J, D), ``valid`` (B, T, J) -> (B, ceil(T/2), J, D) and its validity.

    Each output token is the mean of the valid tokens among two consecutive frames of its joint (an odd
    last frame stands alone); it is valid when either of them is.
    """

    def call(self, x, valid):
        frames = x.shape[1]
        if frames % 2:
            x = ops.concatenate([x, ops.zeros_like(x[:, :1])], axis=1)
            valid = ops.concatenate([valid, ops.zeros_like(valid[:, :1])], axis=1)
        _, padded, joints, dim = x.shape
        maskf = ops.cast(ops.expand_dims(valid, -1), x.dtype)
        total = ops.sum(ops.reshape(x * maskf, (-1, padded // 2, 2, joints, dim)), axis=2)
        count = ops.sum(ops.reshape(maskf, (-1, padded // 2, 2, joints, 1)), axis=2)
        pooled_valid = ops.reshape(count > 0, (-1, padded // 2, joints))
        return total / ops.maximum(count, 1.0), pooled_valid

    def compute_output_shape(self, x_shape, valid_shape):
        batch, frames, joints, dim = x_shape
        half = None if frames is None else (frames + 1) // 2
        return (batch, half, joints, dim), (batch, half, joints)


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedMaxPooling(layers.Layer):
    """Maximum over the valid tokens: ``(B, ..., D)`` with mask ``(B, ...)`` -> ``(B, D)`` (0 when none is valid)."""

    def call(self, x, valid):
        mask = ops.expand_dims(valid, -1)
        axes = tuple(range(1, len(x.shape) - 1))
        floor = ops.min(x, axis=axes, keepdims=True) - 1.0  # a bounded stand-in for -inf (int8 exports)
        top = ops.max(ops.where(mask, x, floor), axis=axes)
        return ops.where(ops.any(mask, axis=axes), top, ops.zeros_like(top))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedMeanPooling(layers.Layer):
    """Mean of the valid tokens: ``(B, ..., D)`` with mask ``(B, ...)`` -> ``(B, D)``."""

    def call(self, x, valid):
        maskf = ops.cast(ops.expand_dims(valid, -1), x.dtype)
        axes = tuple(range(1, len(x.shape) - 1))
        total = ops.sum(x * maskf, axis=axes)
        return total / ops.maximum(ops.sum(maskf, axis=axes), 1.0)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])
