"""What an export serves: the trained model as functions of what a pose estimator and a camera give.

A stage-1 :class:`~har_tf.models.PoseClassifier` is trained on normalised poses; its servable puts
:class:`~har_tf.models.layers.PoseNormalization` (the training pipeline's own normalisation, as a
layer) in front, so every export takes raw pixel poses. A
:class:`~har_tf.models.MultiModalFusionModel` already takes raw poses, uint8 frames and/or raw
object detections and/or raw wearable-sensor samples (whichever branches it has).

Two functions per model, both Keras models on raw inputs:

- ``full``: ``{"pose"[, "frames"][, "objects"][, "imu"]}`` -> ``probabilities`` (fused for a fusion model);
- ``pose_only``: ``pose`` -> ``probabilities`` (the fusion model's pose branch: the fall-back when a
  clip has no frames; the same as ``full`` for a pose classifier).

:func:`serving_feed` decides which of the two answers a request and fills in missing inputs, the
same way for every backend (Keras, SavedModel, TFLite, TF Serving).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras
import numpy as np
from keras import layers

from har_tf.errors import InvalidInputError
from har_tf.models.classifier import PoseClassifier
from har_tf.models.fusion import MultiModalFusionModel, answers_from_pose_branch
from har_tf.models.layers import PoseNormalization
from har_tf.skeleton.layouts import JointLayout, get_layout


@dataclasses.dataclass(frozen=True)
class ServingSpec:
    """The inputs and classes of a servable model (written into every export as ``export_info``)."""

    kind: str  # "pose" or "fusion"
    pose_shape: tuple[int, int, int]  # (T, J, C), float32 pixels
    frames_shape: tuple[int, int, int, int] | None  # (F, H, W, 3) uint8, image branch only
    class_names: tuple[str, ...]
    layout: str
    objects_shape: tuple[int, int, int] | None = None  # (T, K, 6) float32 raw detections, object branch only
    object_classes: tuple[str, ...] | None = None  # the object classes ("none" first), object branch only
    fusion: str | None = None  # the fusion mode (concat, gated, residual, sum), fusion models only
    imu_shape: tuple[int, int] | None = None  # (S, D) float32 raw sensor samples, inertial branch only
    imu_channels: tuple[str, ...] | None = None  # the D channel names, when the model records them
    pose_channels: str | None = None  # what the C pose values are: xy, xyc, xyz or xyzc (None: from C)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def modalities(self) -> tuple[str, ...]:
        """``("pose",)`` plus ``"image"``, ``"objects"`` and/or ``"imu"``, as
        :attr:`MultiModalFusionModel.modalities`."""
        present = {"image": self.frames_shape, "objects": self.objects_shape, "imu": self.imu_shape}
        return ("pose",) + tuple(name for name, shape in present.items() if shape is not None)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The inputs of the full model (``serving_default``): ``pose`` [, ``frames``] [, ``objects``]
        [, ``imu``]."""
        present = {"frames": self.frames_shape, "objects": self.objects_shape, "imu": self.imu_shape}
        return ("pose",) + tuple(name for name, shape in present.items() if shape is not None)

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "pose_shape": list(self.pose_shape),
            "frames_shape": None if self.frames_shape is None else list(self.frames_shape),
            "class_names": list(self.class_names),
            "layout": self.layout,
            "objects_shape": None if self.objects_shape is None else list(self.objects_shape),
            "object_classes": None if self.object_classes is None else list(self.object_classes),
            "fusion": self.fusion,
            "imu_shape": None if self.imu_shape is None else list(self.imu_shape),
            "imu_channels": None if self.imu_channels is None else list(self.imu_channels),
            "pose_channels": self.pose_channels,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ServingSpec:
        frames, objects, names = data.get("frames_shape"), data.get("objects_shape"), data.get("object_classes")
        imu, channels = data.get("imu_shape"), data.get("imu_channels")
        return cls(
            kind=str(data["kind"]),
            pose_shape=tuple(int(v) for v in data["pose_shape"]),
            frames_shape=None if frames is None else tuple(int(v) for v in frames),
            class_names=tuple(str(c) for c in data["class_names"]),
            layout=str(data.get("layout", "")),
            objects_shape=None if objects is None else tuple(int(v) for v in objects),
            object_classes=None if names is None else tuple(str(c) for c in names),
            fusion=data.get("fusion"),
            imu_shape=None if imu is None else tuple(int(v) for v in imu),
            imu_channels=None if channels is None else tuple(str(c) for c in channels),
            pose_channels=data.get("pose_channels"),
        )


@dataclasses.dataclass
class Servable:
    """``full`` and ``pose_only`` Keras models on raw inputs, and their :class:`ServingSpec`."""

    full: keras.Model
    pose_only: keras.Model
    spec: ServingSpec


def make_servable(
    model: keras.Model, layout: str | JointLayout | None = None, normalize_mode: str = "sequence"
) -> Servable:
    """The :class:`Servable` of a trained model (a fusion model or a pose classifier).

    ``layout`` is needed for a pose classifier whose backbone does not record a built-in layout
    (a custom layout from a dataset file); ``normalize_mode`` is the one the model was trained with.
    """
    if isinstance(model, MultiModalFusionModel):
        full = keras.Model(model.input, model.output["probabilities"], name="fused")
        return Servable(full, model.pose_only_model(), fusion_spec(model))
    if isinstance(model, PoseClassifier):
        layout = layout if layout is not None else getattr(model.backbone, "layout", None)
        if layout is None:
            raise InvalidInputError(
                "this pose classifier does not record its joint layout: pass the layout "
                "(or the training data) so that the export can normalise raw poses"
            )
        layout = get_layout(JointLayout.from_dict(layout) if isinstance(layout, dict) else layout)
        shape = tuple(model.input_shape[1:])
        if shape[1] != layout.num_joints:
            raise InvalidInputError(
                f"the model takes {shape[1]} joints but layout {layout.name!r} has {layout.num_joints}"
            )
        pose = keras.Input(shape, name="pose")
        channels = getattr(model.backbone, "channels", None)
        normalized = PoseNormalization(layout, normalize_mode, channels=channels, name="pose_normalization")(pose)
        probabilities = layers.Identity(name="probabilities")(model(normalized))
        raw = keras.Model(pose, probabilities, name="pose_classifier_raw")
        names = model.class_names or [str(i) for i in range(model.num_classes)]
        return Servable(raw, raw, ServingSpec("pose", shape, None, tuple(names), layout.name, pose_channels=channels))
    raise InvalidInputError(
        f"expected a PoseClassifier or a MultiModalFusionModel (as written by "
        f"scripts/train.py), got {type(model).__name__}"
    )


def _shape(model: keras.Model, name: str) -> tuple[int, ...] | None:
    return tuple(model.input[name].shape[1:]) if name in model.input else None


def fusion_spec(model: MultiModalFusionModel) -> ServingSpec:
    """The :class:`ServingSpec` of a fusion model: its inputs (pose and whichever of frames / objects / imu
    it takes), classes, layout, object classes, sensor channel names and fusion mode."""
    names = model.class_names or [str(i) for i in range(model.num_classes)]
    object_classes = imu_channels = None
    if model.object_encoder is not None:
        encoder = model.object_encoder
        object_classes = tuple(encoder.class_names or [str(i) for i in range(encoder.num_classes)])
    if model.inertial_encoder is not None and model.inertial_encoder.channel_names:
        imu_channels = tuple(model.inertial_encoder.channel_names)
    return ServingSpec(
        "fusion",
        _shape(model, "pose"),
        _shape(model, "frames"),
        tuple(names),
        JointLayout.from_dict(model.layout).name,
        objects_shape=_shape(model, "objects"),
        object_classes=object_classes,
        fusion=model.fusion,
        imu_shape=_shape(model, "imu"),
        imu_channels=imu_channels,
        pose_channels=model.normalization.channels,
    )


def serving_feed(
    spec: ServingSpec,
    pose: np.ndarray,
    frames: np.ndarray | None = None,
    objects: np.ndarray | None = None,
    imu: np.ndarray | None = None,
) -> tuple[str, dict[str, np.ndarray]]:
    """The signature that answers checked clips, and its feed.

    - A model with an image branch given no frames answers from ``pose_only`` (the pose branch),
      unless it also fuses objects or imu with ``fusion="residual"`` and those were given: then
      ``serving_default`` gets all-zero frames (= no frames), so the objects / sensor samples still
      count. This is :meth:`MultiModalFusionModel.predict_proba`'s rule. (An export without its
      ``export_info`` does not record the fusion mode, and counts as not residual.)
    - A model with an object branch given no objects gets all-zero objects (= no detections); one
      with an inertial branch given no imu gets all-zero samples (= no sensor).
    - A pose classifier answers from ``pose_only`` (the same function as ``serving_default``).
    """
    n = len(pose)
    pose_only = answers_from_pose_branch(
        spec.frames_shape is not None,
        spec.objects_shape is not None,
        spec.fusion,
        frames is not None,
        objects is not None,
        spec.imu_shape is not None,
        imu is not None,
    )
    if spec.kind == "pose" or pose_only:
        return "pose_only", {"pose": pose}
    feed = {"pose": pose}
    if spec.frames_shape is not None:
        feed["frames"] = np.zeros((n, *spec.frames_shape), np.uint8) if frames is None else frames
    if spec.objects_shape is not None:
        feed["objects"] = np.zeros((n, *spec.objects_shape), np.float32) if objects is None else objects
    if spec.imu_shape is not None:
        feed["imu"] = np.zeros((n, *spec.imu_shape), np.float32) if imu is None else imu
    return "serving_default", feed


def in_batches(
    run: Callable[[dict[str, np.ndarray]], np.ndarray], feed: dict[str, np.ndarray], batch_size: int
) -> np.ndarray:
    """``run`` on ``batch_size`` clips of ``feed`` at a time, the answers concatenated in order.

    Bounds the memory of a call on many clips: a fusion model puts every crop of every clip through its
    backbone in one batch (16 crops a clip with ``each_hand``), so 200 clips at once are 3,200 images.
    """
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    count = len(next(iter(feed.values())))
    chunks = [
        np.asarray(run({name: array[start : start + batch_size] for name, array in feed.items()}))
        for start in range(0, count, batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.asarray(run(feed))
