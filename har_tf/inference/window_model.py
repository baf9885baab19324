"""A trained model cut into the two steps a stream needs: per-frame embedding, per-window classification.

On a stream every frame arrives once, so its image embedding should be computed once and kept for
every window that shows it. :class:`WindowModel` splits a model that way:

- ``embed(frame, pose)``: one square RGB frame (uint8 ``(S, S, 3)``) and its pose (``(J, C)``, in
  the square's pixels) -> what the window needs from that frame. For a ``.keras`` fusion model this is
  the frozen backbone's feature vector ``(D,)`` of the frame (or of the person crop the model takes,
  boxed from that frame's own pose, exactly as :class:`~har_tf.models.image_encoder.PersonBoxes` does
  inside the model). For an exported fusion model (SavedModel or ``.tflite``, one graph from frames to
  probabilities) it is the frame itself, and the backbone runs again in every window.
- ``classify(pose, features, objects, imu)``: the window's raw pose ``(T, J, C)``, the kept
  embeddings of its ``frame_indices`` frames ``(F, ...)`` (or None: the pose branch alone), for a
  model with an object branch the window's raw detections ``(T, K, 6)`` in the same pixels as the
  pose (None: no detections, all-zero rows) and for a model with an inertial branch the window's raw
  sensor samples ``(S, D)`` (None: no sensor, all zeros) -> probabilities ``(K,)``. Which branches a
  call uses follows :meth:`~har_tf.models.fusion.MultiModalFusionModel.predict_proba`: without
  features a model with an image branch gives its pose branch's answer, unless it fuses objects or
  imu with ``fusion="residual"`` (then those still count and the image branch adds nothing).

The composition equals the whole model on the same window (the streaming tests check it).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from har_tf.data.frames import frame_indices as evenly_spaced
from har_tf.errors import InvalidInputError
from har_tf.export.servable import make_servable
from har_tf.models.fusion import MultiModalFusionModel, answers_from_pose_branch
from har_tf.models.image_encoder import PersonBoxes
from har_tf.models.inertial_encoder import check_imu_batch
from har_tf.skeleton.layouts import JointLayout

EMBEDDERS = ("keras", "tflite_fp32", "tflite_fp16", "tflite_int8")


class WindowModel:
    """Per-frame ``embed`` and per-window ``classify`` of a trained model (see the module docstring).

    Attributes: ``class_names``, ``layout`` (name), ``pose_shape`` ``(T, J, C)``, ``frame_size`` (S,
    the square frames' side: the pose is given in its pixels), ``frame_indices`` (which of the T
    frames the image branch sees; empty for a model without one), ``takes_frames``, and for a model
    with an object branch ``object_classes`` (its object class names, index 0 ``"none"``; None
    without the branch), ``max_objects`` (K, 0 without) and ``takes_objects``, and for a model with an
    inertial branch ``imu_shape`` ``(S, D)`` (None without) and ``takes_imu``.
    """

    def __init__(
        self,
        class_names,
        layout: str,
        pose_shape,
        frame_size: int,
        frame_indices,
        embed_fn,
        classify_fn,
        description: str,
        object_classes=None,
        max_objects: int = 0,
        pose_fn=None,
        imu_shape=None,
    ):
        self.class_names = tuple(str(c) for c in class_names)
        self.layout, self.pose_shape = layout, tuple(int(v) for v in pose_shape)
        self.frame_size, self.frame_indices = int(frame_size), [int(i) for i in frame_indices]
        self._embed, self._classify, self.description = embed_fn, classify_fn, description
        self.object_classes = None if object_classes is None else tuple(str(c) for c in object_classes)
        self.max_objects = int(max_objects) if self.object_classes is not None else 0
        self._pose_only = pose_fn
        self.imu_shape = None if imu_shape is None else tuple(int(v) for v in imu_shape)

    @property
    def takes_frames(self) -> bool:
        return bool(self.frame_indices)

    @property
    def takes_objects(self) -> bool:
        return self.object_classes is not None

    @property
    def takes_imu(self) -> bool:
        return self.imu_shape is not None

    @property
    def num_frames(self) -> int:
        return self.pose_shape[0]

    def embed(self, frame: np.ndarray, pose: np.ndarray) -> np.ndarray:
        """What the windows need from one square frame (see the module docstring)."""
        if not self.takes_frames:
            raise InvalidInputError("this model has no image branch: it embeds no frames")
        expected = (self.frame_size, self.frame_size, 3)
        if frame.shape != expected or frame.dtype != np.uint8:
            raise InvalidInputError(f"expected a square uint8 frame {expected}, got {frame.dtype} {frame.shape}")
        return self._embed(frame, self._pose(pose[None])[0])

    def classify(
        self,
        pose: np.ndarray,
        features: np.ndarray | None = None,
        objects: np.ndarray | None = None,
        imu: np.ndarray | None = None,
    ) -> np.ndarray:
        """Probabilities ``(K,)`` of one window: fused with ``features`` ``(F, ...)``, ``objects``
        ``(T, K, 6)`` and ``imu`` ``(S, D)`` (see the module docstring for what a missing one means)."""
        pose = self._pose(pose)
        if pose.shape != self.pose_shape:
            raise InvalidInputError(f"expected a window pose {self.pose_shape}, got {pose.shape}")
        if features is not None and len(features) != len(self.frame_indices):
            raise InvalidInputError(f"expected {len(self.frame_indices)} frame embeddings, got {len(features)}")
        extra = {}
        if objects is not None:
            if not self.takes_objects:
                raise InvalidInputError("this model has no object branch: it takes no objects (detections)")
            from har_tf.data.objects import check_objects_batch

            extra["objects"] = check_objects_batch(
                objects, self.num_frames, len(self.object_classes), self.max_objects
            )[0]
        if imu is not None:
            if not self.takes_imu:
                raise InvalidInputError("this model has no inertial branch: it takes no imu (sensor samples)")
            extra["imu"] = check_imu_batch(imu, *self.imu_shape, batch=1)[0]
        return self._classify(pose, features, **extra)

    def classify_pose(self, pose: np.ndarray) -> np.ndarray:
        """Probabilities ``(K,)`` of the pose branch alone (``classify(pose)`` for a model with no object or
        inertial branch)."""
        if self._pose_only is None:
            return self.classify(pose)
        pose = self._pose(pose)
        if pose.shape != self.pose_shape:
            raise InvalidInputError(f"expected a window pose {self.pose_shape}, got {pose.shape}")
        return self._pose_only(pose)

    def warm_up(self) -> None:
        """Run each step once on blank inputs, so that tracing is not timed as the first frame's latency."""
        T, J, C = self.pose_shape
        pose = np.ones((T, J, C), np.float32)  # a person (exports refuse a window without one)
        pose[..., :2] = np.linspace(0.25, 0.75, J)[:, None] * self.frame_size
        extra = {}
        if self.takes_objects:
            extra["objects"] = np.zeros((T, self.max_objects, 6), np.float32)
        if self.takes_imu:
            extra["imu"] = np.zeros(self.imu_shape, np.float32)
        if self.takes_frames:
            frame = np.zeros((self.frame_size, self.frame_size, 3), np.uint8)
            feature = self._embed(frame, np.zeros((J, C), np.float32))
            features = np.stack([feature] * len(self.frame_indices))
            self._classify(pose, features, **extra)
        if extra:
            self._classify(pose, None, **extra)
            self.classify_pose(pose)
        self._classify(pose, None)

    def _pose(self, pose: np.ndarray) -> np.ndarray:
        """Keep the model's C channels (an estimator gives x, y, score; a C = 2 model takes x, y)."""
        pose = np.asarray(pose, np.float32)
        return pose[..., : self.pose_shape[-1]]

    @classmethod
    def from_keras(
        cls,
        model: keras.Model,
        layout=None,
        normalize_mode: str = "sequence",
        embedder: str = "keras",
        num_threads: int | None = None,
    ) -> WindowModel:
        """Split a ``.keras`` pose classifier or fusion model (embeddings cached per frame).

        ``embedder``: ``keras`` (exact), or ``tflite_fp32`` / ``tflite_fp16`` / ``tflite_int8``: the
        per-frame crop + backbone converted to TFLite when the model is opened (some seconds; int8 =
        dynamic-range weights, the fastest on a CPU) and run by the LiteRT interpreter."""
        if embedder not in EMBEDDERS:
            raise InvalidInputError(f"embedder must be one of {EMBEDDERS}, got {embedder!r}")
        if not isinstance(model, MultiModalFusionModel):
            servable = make_servable(model, layout, normalize_mode)
            spec, pose_only = servable.spec, _compiled(servable.pose_only)
            return cls(
                spec.class_names,
                spec.layout,
                spec.pose_shape,
                224,
                [],
                None,
                lambda pose, features: pose_only(pose[None])[0],
                "keras pose model",
            )
        pose_only = _compiled(model.pose_only_model())
        embedder_model, head = _fusion_parts(model)
        classify = _compiled(head)
        has_frames, encoder, inertial = model.frame_encoder is not None, model.object_encoder, model.inertial_encoder
        shapes = {"pose": tuple(model.input["pose"].shape[1:])}  # the window head's inputs, in its order
        if has_frames:
            shapes["frame_features"] = (model.frame_encoder.num_frames, model.frame_encoder.feature_dim)
        shapes.update({name: tuple(model.input[name].shape[1:]) for name in ("objects", "imu") if name in model.input})

        def classify_fn(pose, features, objects=None, imu=None):
            if answers_from_pose_branch(
                has_frames,
                encoder is not None,
                model.fusion,
                features is not None,
                objects is not None,
                inertial is not None,
                imu is not None,
            ):
                return pose_only(pose[None])[0]
            given = {"pose": pose, "frame_features": features, "objects": objects, "imu": imu}
            return classify(
                [
                    np.zeros((1, *shapes[name]), np.float32)
                    if given[name] is None
                    else np.asarray(given[name], np.float32)[None]
                    for name in shapes
                ]
            )[0]

        common = {
            "class_names": model.class_names or [str(i) for i in range(model.num_classes)],
            "layout": JointLayout.from_dict(model.layout).name,
            "pose_shape": model.input["pose"].shape[1:],
            "classify_fn": classify_fn,
        }
        if encoder is not None or inertial is not None:
            common["pose_fn"] = lambda pose: pose_only(pose[None])[0]
        if encoder is not None:
            common.update(
                object_classes=encoder.class_names or ["none"] + [f"class_{i}" for i in range(1, encoder.num_classes)],
                max_objects=encoder.max_objects,
            )
        if inertial is not None:
            common["imu_shape"] = model.input["imu"].shape[1:]
        branches = " + ".join(model.modalities)
        if not has_frames:
            return cls(
                frame_size=224,
                frame_indices=[],
                embed_fn=None,
                description=f"keras fusion model ({branches})",
                **common,
            )
        embed = _compiled(embedder_model) if embedder == "keras" else _tflite(embedder_model, embedder, num_threads)

        def embed_fn(frame, pose):
            return embed([frame[None, None], pose[None, None]])[0]

        branches = f" ({branches})" if len(model.modalities) > 2 else ""
        return cls(
            frame_size=model.frame_encoder.frame_size,
            frame_indices=model.frame_indices,
            embed_fn=embed_fn,
            description=f"keras fusion model{branches}, image features cached per frame ({embedder} embedder)",
            **common,
        )

    @classmethod
    def from_predictor(cls, predictor) -> WindowModel:
        """Wrap a :class:`~har_tf.inference.HARPredictor` on an export: frames are kept and the whole graph
        runs per window (exports are one graph from frames to probabilities). An export with an object
        branch takes objects when it records its object classes (``spec.object_classes``); one with an
        inertial branch takes imu."""
        spec = predictor.spec
        objects_shape, object_classes = getattr(spec, "objects_shape", None), getattr(spec, "object_classes", None)
        takes_objects = objects_shape is not None and object_classes is not None
        imu_shape = getattr(spec, "imu_shape", None)

        def classify_fn(pose, frames, objects=None, imu=None):
            frames = None if frames is None else np.stack(frames)
            given = {name: value for name, value in (("objects", objects), ("imu", imu)) if value is not None}
            return predictor.predict_proba(pose, frames, **given)

        extra = {"object_classes": object_classes, "max_objects": objects_shape[1]} if takes_objects else {}
        if imu_shape is not None:
            extra["imu_shape"] = imu_shape
        if spec.frames_shape is None:
            kind = f"fusion model ({' + '.join(spec.modalities)})" if spec.kind == "fusion" else "pose model"
            return cls(
                spec.class_names,
                spec.layout,
                spec.pose_shape,
                224,
                [],
                None,
                classify_fn,
                f"{predictor.format} {kind}",
                **extra,
            )
        num_frames, size = spec.frames_shape[0], spec.frames_shape[1]
        indices = [int(i) for i in evenly_spaced(spec.pose_shape[0], num_frames)]  # what scripts/train.py uses
        return cls(
            spec.class_names,
            spec.layout,
            spec.pose_shape,
            size,
            indices,
            lambda frame, pose: frame,
            classify_fn,
            f"{predictor.format} fusion model, frames re-encoded per window",
            **extra,
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        layout=None,
        normalize_mode: str = "sequence",
        num_threads: int | None = None,
        embedder: str = "keras",
    ) -> WindowModel:
        """A ``.keras`` file (embeddings cached per frame; ``embedder`` as in :meth:`from_keras`) or any
        export :class:`HARPredictor` opens."""
        if Path(path).suffix == ".keras":
            from har_tf.models.saving import load_keras_model

            return cls.from_keras(load_keras_model(path), layout, normalize_mode, embedder, num_threads)
        from har_tf.inference.predictor import HARPredictor

        return cls.from_predictor(HARPredictor.load(path, device="cpu", layout=layout, num_threads=num_threads))


def _tflite(model: keras.Model, embedder: str, num_threads: int | None):
    """``[frame, pose] -> feature`` through a TFLite conversion of ``model`` (see :meth:`WindowModel.from_keras`)."""
    from har_tf.export.tflite import TFLiteRunner, convert_keras_model

    runner = TFLiteRunner(convert_keras_model(model, embedder.split("_")[1]), num_threads=num_threads)
    signature = runner.interpreter.get_signature_runner("serving_default")
    names = sorted(signature.get_input_details(), key=lambda n: 0 if "frame" in n else 1)
    (output,) = signature.get_output_details()

    def run(inputs):
        frame, pose = inputs
        return signature(**{names[0]: frame, names[1]: np.asarray(pose, np.float32)})[output]

    return run


def _compiled(model: keras.Model):
    """``inputs -> numpy outputs`` through one traced graph (a Keras call per frame is slow in eager mode)."""
    call = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
    return lambda inputs: keras.ops.convert_to_numpy(call(inputs))


def _fusion_parts(model: MultiModalFusionModel) -> tuple[keras.Model | None, keras.Model]:
    """(per-frame embedder ``[frame (1, 1, S, S, 3), pose (1, 1, J, C)] -> (1, D)``, or None without an
    image branch; window head ``[raw pose (1, T, J, C), frame_features (1, F, D) (image branch),
    objects (1, T, K, 6) (object branch), imu (1, S, D) (inertial branch)] -> probabilities (1, K)``),
    sharing the model's layers."""
    window_pose = keras.Input(model.input["pose"].shape[1:], name="pose")
    inputs, head_inputs = [window_pose], {"pose": model.normalization(window_pose)}
    embedder = None
    encoder = model.frame_encoder
    if encoder is not None:
        embedder = _frame_embedder(model)
        features = keras.Input((encoder.num_frames, encoder.feature_dim), name="frame_features")
        inputs.append(features)
        head_inputs["frame_features"] = features
    if model.object_encoder is not None:
        objects = keras.Input(model.input["objects"].shape[1:], name="objects")
        inputs.append(objects)
        head_inputs["object_features"] = model.object_features(objects, window_pose)
    if model.inertial_encoder is not None:
        imu = keras.Input(model.input["imu"].shape[1:], name="imu")
        inputs.append(imu)
        head_inputs["imu"] = imu
    outputs = model.head(head_inputs)
    return embedder, keras.Model(inputs, outputs["probabilities"], name="window_head")


def _frame_embedder(model: MultiModalFusionModel) -> keras.Model:
    """``[frame (1, 1, S, S, 3), pose (1, 1, J, C)] -> (1, D)``: one frame's crop through the frozen backbone."""
    encoder = model.frame_encoder
    size = encoder.frame_size
    frame = keras.Input((1, size, size, 3), dtype="uint8", name="frame")
    pose = keras.Input((1, *model.input["pose"].shape[2:]), name="pose")
    preprocess = encoder.get_layer("preprocessing")
    per_frame = encoder.get_layer("frame_features").layer
    if model.crop_boxes is not None:
        config = {**model.crop_boxes.get_config(), "frame_indices": [0], "name": "frame_box"}
        box = PersonBoxes.from_config(config)(pose)
        pixels = encoder.get_layer("person_crop")(frame, box)
    else:
        pixels = frame
    crops = preprocess(pixels)  # (1, K, S, S, 3): K crops of the frame (two with crop "each_hand")
    features = per_frame(keras.ops.reshape(crops, (-1, *crops.shape[2:])))  # (K, D)
    feature = keras.ops.mean(features, axis=0, keepdims=True)  # (1, D): their mean, as FrameEncoder's
    return keras.Model([frame, pose], feature, name="frame_embedder")
