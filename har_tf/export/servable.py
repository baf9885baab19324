"""What an export serves: the trained model as functions of what a pose estimator and a camera give.

A stage-1 :class:`~har_tf.models.PoseClassifier` is trained on normalised poses; its servable puts
:class:`~har_tf.models.layers.PoseNormalization` (the training pipeline's own normalisation, as a
layer) in front, so every export takes raw pixel poses. A
:class:`~har_tf.models.MultiModalFusionModel` already takes raw poses and uint8 frames.

Two functions per model, both Keras models on raw inputs:

- ``full``: ``{"pose"[, "frames"]}`` -> ``probabilities`` (fused for a fusion model);
- ``pose_only``: ``pose`` -> ``probabilities`` (the fusion model's pose branch: the fall-back when a
  clip has no frames; the same as ``full`` for a pose classifier).
"""

from __future__ import annotations

import dataclasses

import keras
from keras import layers

from har_tf.errors import InvalidInputError
from har_tf.models.classifier import PoseClassifier
from har_tf.models.fusion import MultiModalFusionModel
from har_tf.models.layers import PoseNormalization
from har_tf.skeleton.layouts import JointLayout, get_layout


@dataclasses.dataclass(frozen=True)
class ServingSpec:
    """The inputs and classes of a servable model (written into every export as ``export_info``)."""

    kind: str  # "pose" or "fusion"
    pose_shape: tuple[int, int, int]  # (T, J, C), float32 pixels
    frames_shape: tuple[int, int, int, int] | None  # (F, H, W, 3) uint8, fusion only
    class_names: tuple[str, ...]
    layout: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "pose_shape": list(self.pose_shape),
                "frames_shape": None if self.frames_shape is None else list(self.frames_shape),
                "class_names": list(self.class_names), "layout": self.layout}  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict) -> ServingSpec:
        frames = data.get("frames_shape")
        return cls(kind=str(data["kind"]), pose_shape=tuple(int(v) for v in data["pose_shape"]),
                   frames_shape=None if frames is None else tuple(int(v) for v in frames),
                   class_names=tuple(str(c) for c in data["class_names"]), layout=str(data.get("layout", "")))  # fmt: skip


@dataclasses.dataclass
class Servable:
    """``full`` and ``pose_only`` Keras models on raw inputs, and their :class:`ServingSpec`."""

    full: keras.Model
    pose_only: keras.Model
    spec: ServingSpec


def make_servable(model: keras.Model, layout: str | JointLayout | None = None,
                  normalize_mode: str = "sequence") -> Servable:  # fmt: skip
    """The :class:`Servable` of a trained model (a fusion model or a pose classifier).

    ``layout`` is needed for a pose classifier whose backbone does not record a built-in layout
    (a custom layout from a dataset file); ``normalize_mode`` is the one the model was trained with.
    """
    if isinstance(model, MultiModalFusionModel):
        full = keras.Model(model.input, model.output["probabilities"], name="fused")
        names = model.class_names or [str(i) for i in range(model.num_classes)]
        spec = ServingSpec("fusion", tuple(model.input["pose"].shape[1:]), tuple(model.input["frames"].shape[1:]),
                           tuple(names), JointLayout.from_dict(model.layout).name)  # fmt: skip
        return Servable(full, model.pose_only_model(), spec)
    if isinstance(model, PoseClassifier):
        layout = layout if layout is not None else getattr(model.backbone, "layout", None)
        if layout is None:
            raise InvalidInputError("this pose classifier does not record its joint layout: pass the layout "
                                    "(or the training data) so that the export can normalise raw poses")  # fmt: skip
        layout = get_layout(JointLayout.from_dict(layout) if isinstance(layout, dict) else layout)
        shape = tuple(model.input_shape[1:])
        if shape[1] != layout.num_joints:
            raise InvalidInputError(f"the model takes {shape[1]} joints but layout {layout.name!r} has "
                                    f"{layout.num_joints}")  # fmt: skip
        pose = keras.Input(shape, name="pose")
        normalized = PoseNormalization(layout, normalize_mode, name="pose_normalization")(pose)
        probabilities = layers.Identity(name="probabilities")(model(normalized))
        raw = keras.Model(pose, probabilities, name="pose_classifier_raw")
        names = model.class_names or [str(i) for i in range(model.num_classes)]
        return Servable(raw, raw, ServingSpec("pose", shape, None, tuple(names), layout.name))
    raise InvalidInputError(f"expected a PoseClassifier or a MultiModalFusionModel (as written by "
                            f"scripts/train.py), got {type(model).__name__}")  # fmt: skip
