"""InertialEncoder: a wearable sensor's raw samples -> an inertial embedding for late fusion.

``imu`` float32 ``(B, S, D)`` (S samples over the clip, D channels: for a 6-axis sensor the
accelerometer in g then the gyroscope in deg/s) -> a missing-sample mask and per-channel
normalisation (:class:`InertialNormalization`, its mean and std set from training data by
:meth:`InertialEncoder.adapt` and saved with the model, so exports take raw sensor values) ->
1D convolution blocks over time, each halving the rate (:class:`InertialConvBlock`) -> a temporal
position embedding and one attention layer over the remaining steps -> a per-step projection and
its masked mean over time -> ``(B, embedding_dim)``.

A sample is missing when any of its channels is NaN (or infinite) or all of them are 0. Missing
samples enter every layer as zeros and are left out of the attention and the pooling, so no output
depends on the values they carry; a clip without any valid sample (an all-zero clip: no sensor)
gets an all-zero embedding. Everything is built from ``keras.ops`` that TFLite runs as built-in ops
(convolutions, max pooling, ReLU, the tanh-approximated GELU of the attention MLP).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from har_tf.data.checks import numeric_array
from har_tf.errors import InvalidInputError
from har_tf.models.base import Backbone
from har_tf.models.layers import PACKAGE, MaskedMeanPooling, TransformerSubBlock
from har_tf.models.object_encoder import MaskedTemporalPositions

PRESETS: dict[str, dict] = {
    "micro": dict(filters=(32, 64), kernel_size=5, num_attention_layers=1, num_heads=2, mlp_ratio=2.0),
    "small": dict(filters=(64, 96, 128), kernel_size=5, num_attention_layers=1, num_heads=4, mlp_ratio=2.0),
}


def valid_samples(imu):
    """Bool ``(..., S)`` of sensor samples ``(..., S, D)``: every channel finite and not all of them 0."""
    finite = ops.all(ops.isfinite(imu), axis=-1)
    return ops.logical_and(finite, ops.any(ops.not_equal(imu, 0), axis=-1))


def check_imu_batch(
    imu, num_samples: int | None = None, num_channels: int | None = None, batch: int | None = None, name: str = "imu"
) -> np.ndarray:
    """Raw sensor samples as float32 ``(N, S, D)``; one clip ``(S, D)`` becomes a batch of one.

    Refused with a message: non-numbers, another rank, S other than ``num_samples``, D other than
    ``num_channels``, N other than ``batch`` (each when given) and infinite values (NaN is allowed:
    it marks a missing sample; an all-zero clip means "no sensor").
    """
    array = numeric_array(imu, name, "(N, S, D)", what="float sensor samples")
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise InvalidInputError(
            f"{name} must be (N, S, D): N clips of S samples of D channels, got shape {np.shape(imu)}"
        )
    n, s, d = array.shape
    if num_channels is not None and d != num_channels:
        raise InvalidInputError(
            f"{name} has D = {d} channels but the model takes D = {num_channels} (for a 6-axis "
            "sensor: accelerometer x, y, z in g, then gyroscope x, y, z in deg/s)"
        )
    if num_samples is not None and s != num_samples:
        raise InvalidInputError(
            f"{name} has S = {s} samples per clip but the model takes S = {num_samples}: resample "
            "the clip's sensor samples to S"
        )
    if batch is not None and n != batch:
        raise InvalidInputError(f"{name} has {n} clips but the poses have {batch}")
    array = array.astype(np.float32)
    if np.isinf(array).any():
        clip, sample, channel = np.argwhere(np.isinf(array))[0]
        raise InvalidInputError(
            f"{name} holds infinite values (first at clip {clip}, sample {sample}, channel "
            f"{channel}): sensor values must be finite; NaN marks a missing sample"
        )
    return array


# === Layers ===


@keras.saving.register_keras_serializable(package=PACKAGE)
class InertialNormalization(layers.Layer):
    """Raw samples ``(B, S, D)`` -> ``(x - mean) / std`` per channel with missing samples set to 0, and
    the validity ``(B, S)``. ``mean`` and ``std`` are non-trainable weights: :meth:`adapt` sets them."""

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.mean = self.add_weight(shape=(channels,), initializer="zeros", trainable=False, name="mean")
        self.std = self.add_weight(shape=(channels,), initializer="ones", trainable=False, name="std")

    def call(self, imu):
        imu = ops.cast(imu, "float32")
        valid = valid_samples(imu)
        clean = ops.where(ops.isfinite(imu), imu, ops.zeros_like(imu))
        x = (clean - self.mean) / self.std
        return ops.where(ops.expand_dims(valid, -1), x, ops.zeros_like(x)), valid

    def adapt(self, imu) -> None:
        """Set ``mean`` and ``std`` per channel from ``(N, S, D)`` samples, ignoring missing samples."""
        array = np.asarray(imu, np.float32)
        if array.ndim != 3 or array.shape[-1] != self.mean.shape[0]:
            raise InvalidInputError(f"adapt takes sensor samples (N, S, {self.mean.shape[0]}), got shape {array.shape}")
        flat = array.reshape(-1, array.shape[-1])
        valid = np.isfinite(flat).all(axis=1) & (flat != 0).any(axis=1)
        if not valid.any():
            raise InvalidInputError("adapt got no valid sensor sample (every sample is missing: all zeros or NaN)")
        std = flat[valid].std(axis=0)
        self.mean.assign(flat[valid].mean(axis=0))
        self.std.assign(np.where(std > 1e-6, std, 1.0).astype(np.float32))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), tuple(input_shape[:-1])


@keras.saving.register_keras_serializable(package=PACKAGE)
class InertialConvBlock(layers.Layer):
    """A masked 1D convolution block: ``(B, S, C)`` steps and validity ``(B, S)`` -> conv ("same"
    padding), ReLU, dropout, missing steps zeroed, then max pooling by ``pool_size`` over time; a
    pooled step is valid when any step of its window is."""

    def __init__(self, filters: int, kernel_size: int = 5, pool_size: int = 2, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.pool_size, self.dropout = (
            int(filters),
            int(kernel_size),
            int(pool_size),
            dropout,
        )
        self.conv = layers.Conv1D(self.filters, self.kernel_size, padding="same", name="conv")
        self.drop = layers.Dropout(dropout)

    def build(self, input_shape):
        self.conv.build(tuple(input_shape))

    def call(self, x, valid, training=None):
        maskf = ops.cast(ops.expand_dims(valid, -1), x.dtype)
        x = self.drop(ops.relu(self.conv(x)), training=training) * maskf
        if self.pool_size > 1:
            # after ReLU and masking every value is >= 0, so a window's max ignores its missing steps
            x = ops.max_pool(x, self.pool_size, self.pool_size, padding="same")
            valid = ops.squeeze(ops.max_pool(maskf, self.pool_size, self.pool_size, padding="same"), -1) > 0
        return x, valid

    def compute_output_shape(self, x_shape, valid_shape=None):
        steps = x_shape[1] if x_shape[1] is None else -(-x_shape[1] // self.pool_size)
        return (x_shape[0], steps, self.filters), (x_shape[0], steps)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "pool_size": self.pool_size,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedSteps(layers.Layer):
    """``(B, S, D)`` steps with validity ``(B, S)`` -> the steps, zero where not valid."""

    def call(self, x, valid):
        return x * ops.cast(ops.expand_dims(valid, -1), x.dtype)

    def compute_output_shape(self, x_shape, valid_shape=None):
        return x_shape


@keras.saving.register_keras_serializable(package=PACKAGE)
class InertialEncoder(Backbone):
    """Backbone: raw ``imu`` (B, S, D) -> inertial embedding (B, embedding_dim); all zeros for a clip
    without a valid sample.

    Args:
        num_samples, num_channels: S and D.
        filters: the width of each convolution block (each halves the number of steps).
        kernel_size: the convolutions' kernel over time.
        num_attention_layers, num_heads, mlp_ratio: attention layers over the pooled steps (0: none).
        dropout: dropout in the blocks.
        channel_names: the D channel names (recorded; e.g. ``acc_x ... gyro_z``).
    """

    presets = PRESETS
    _preset_kind = "inertial encoder "
    _config_keys = (
        "num_samples",
        "num_channels",
        "filters",
        "kernel_size",
        "num_attention_layers",
        "num_heads",
        "mlp_ratio",
        "dropout",
        "channel_names",
    )

    def __init__(
        self,
        num_samples: int = 128,
        num_channels: int = 6,
        filters=(32, 64),
        kernel_size: int = 5,
        num_attention_layers: int = 1,
        num_heads: int = 2,
        mlp_ratio: float = 2.0,
        dropout: float = 0.1,
        channel_names=None,
        **kwargs,
    ):
        filters = [int(f) for f in filters]
        if not filters or int(num_samples) < 1 or int(num_channels) < 1:
            raise InvalidInputError(
                f"an inertial encoder needs S >= 1, D >= 1 and at least one block, got S = "
                f"{num_samples}, D = {num_channels}, filters {filters}"
            )
        if channel_names is not None and len(channel_names) != num_channels:
            raise InvalidInputError(f"{len(channel_names)} channel names for D = {num_channels} channels")
        # === Layers ===
        normalization = InertialNormalization(name="imu_normalization")
        blocks = [InertialConvBlock(f, kernel_size, 2, dropout, name=f"conv_block_{i}") for i, f in enumerate(filters)]
        positions = MaskedTemporalPositions(name="temporal_positions") if num_attention_layers else None
        attention = [
            TransformerSubBlock(num_heads, mlp_ratio, dropout, name=f"attention_{i}")
            for i in range(num_attention_layers)
        ]
        # a Dense's weights, as an einsum: one FULLY_CONNECTED op in TFLite (see TransformerSubBlock's MLP)
        projection = layers.EinsumDense("bsc,cd->bsd", (None, filters[-1]), bias_axes="d", name="projection")
        masked = MaskedSteps(name="masked_projection")
        pooling = MaskedMeanPooling(name="inertial_embedding")

        # === Functional Model ===
        imu = keras.Input((num_samples, num_channels), name="imu")
        x, valid = normalization(imu)
        for block in blocks:
            x, valid = block(x, valid)
        if positions is not None:
            x = positions(x, valid)
        for layer in attention:
            x = layer(x, valid)
        embedding = pooling(masked(projection(x), valid), valid)
        super().__init__(inputs=imu, outputs=embedding, **kwargs)

        # === Config ===
        self.num_samples, self.num_channels, self.filters = int(num_samples), int(num_channels), filters
        self.kernel_size, self.num_attention_layers, self.num_heads = (
            int(kernel_size),
            int(num_attention_layers),
            num_heads,
        )
        self.mlp_ratio, self.dropout = mlp_ratio, dropout
        self.channel_names = None if channel_names is None else [str(c) for c in channel_names]

    @property
    def embedding_dim(self) -> int:
        return self.filters[-1]

    def adapt(self, imu) -> None:
        """Set the per-channel normalisation from training samples ``(N, S, D)`` (missing samples ignored)."""
        layer = self.get_layer("imu_normalization")
        layer.adapt(check_imu_batch(imu, self.num_samples, self.num_channels, name="imu"))

    @classmethod
    def from_preset(cls, preset: str, num_samples: int = 128, num_channels: int = 6, **overrides) -> InertialEncoder:
        """An encoder of a named size (``micro``, ``small``) for S samples of D channels."""
        return cls(num_samples, num_channels, **cls.preset_config(preset, **overrides))
