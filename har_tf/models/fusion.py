"""MultiModalFusionModel: late fusion of the pose embedding with the image, object and inertial embeddings.

Two functional models share every layer:

- ``fusion.head``: ``{"pose": (B, T, J, C), "frame_features": (B, F, D), "object_features":
  (B, T, K, 12), "imu": raw (B, S, D)}`` (the branches the model has) -> ``{"probabilities",
  "pose_probabilities"}``. Stage 2 trains this one on cached frame features.
- ``fusion`` itself: ``{"pose": raw poses (B, T, J, C), "frames": uint8 (B, F, H, W, 3), "objects":
  (B, T, K, 6), "imu": (B, S, D)}`` -> the same outputs. It normalises the pose
  (:class:`~har_tf.models.layers.PoseNormalization`, as the training pipeline does), finds the
  person's box in each frame from the pose (:func:`~har_tf.models.image_encoder.crop_boxes_layer`,
  when the encoder crops) and runs the frozen :class:`~har_tf.models.image_encoder.FrameEncoder`.
  The inertial branch takes raw sensor samples: its normalisation is inside the
  :class:`~har_tf.models.inertial_encoder.InertialEncoder`. This is what is saved and exported:
  what a pose estimator, a camera and a wearable sensor give, in.

``probabilities`` is the fused prediction. ``pose_probabilities`` is the pose branch's own head
(the stage-1 classifier head, trained on in stage 2 with an auxiliary loss so that it stays
matched to the fine-tuned pose encoder): :meth:`MultiModalFusionModel.pose_only_model` and
:meth:`MultiModalFusionModel.predict_proba` with ``frames=None`` use it when a clip has no frames.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from har_tf.errors import InvalidInputError
from har_tf.models.base import Task
from har_tf.models.image_encoder import FrameEncoder, TemporalPooling, crop_boxes_layer
from har_tf.models.inertial_encoder import check_imu_batch, valid_samples
from har_tf.models.layers import PACKAGE, PoseNormalization, StochasticDepth, example_keep_mask
from har_tf.models.object_encoder import ObjectFeatures

FUSION_MODES = ("concat", "gated", "residual", "sum")
ADDITIVE_MODES = ("residual", "sum")  # a branch adds logits, so a missing one (presence 0) adds nothing


@keras.saving.register_keras_serializable(package=PACKAGE)
class GatedSum(layers.Layer):
    """``g * a + (1 - g) * b`` for a gate ``g`` in (0, 1): a learned per-feature choice between modalities."""

    def call(self, inputs):
        gate, a, b = inputs
        return gate * a + (1.0 - gate) * b

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]


@keras.saving.register_keras_serializable(package=PACKAGE)
class ModalityPresence(layers.Layer):
    """``(B, ...)`` features of one modality -> float ``(B, 1)``: 1 where the clip has any non-zero value
    (the modality is present), 0 where it is all zeros (missing)."""

    def call(self, x):
        axes = tuple(range(1, len(x.shape)))
        return ops.cast(ops.any(ops.not_equal(x, 0), axis=axes), x.dtype)[:, None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class SamplePresence(layers.Layer):
    """Sensor samples ``(B, S, D)`` -> float ``(B, 1)``: 1 where the clip has any valid sample (finite and
    not all zeros), 0 where it has none (no sensor)."""

    def call(self, imu):
        return ops.cast(ops.any(valid_samples(ops.cast(imu, "float32")), axis=1), "float32")[:, None]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class PresenceMask(layers.Layer):
    """Zeroes a clip's features ``(B, F, D)`` where its raw input ``(B, ...)`` is all zeros (missing)."""

    def call(self, features, raw):
        axes = tuple(range(1, len(raw.shape)))
        present = ops.cast(ops.any(ops.not_equal(raw, 0), axis=axes), features.dtype)
        return features * ops.reshape(present, (-1,) + (1,) * (len(features.shape) - 1))

    def compute_output_shape(self, features_shape, raw_shape=None):
        return features_shape


@keras.saving.register_keras_serializable(package=PACKAGE)
class ModalityDropout(StochasticDepth):
    """While training, zeroes a whole modality's embedding ``(B, D)`` for a random share ``rate`` of the
    clips (no rescaling: zero means "this modality is absent"); the identity at inference.

    Applied to the pose embedding on the fused path, it makes the other branches classify on their own
    for those clips: a stage-1 pose encoder that already fits every training clip would otherwise
    leave the fusion head nothing to learn from them (modality dropout, as in ModDrop).
    """

    def call(self, x, training=None):
        if not training or self.rate == 0.0:
            return x
        return x * example_keep_mask(x, self.rate, self.seed_generator)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ResidualLogits(layers.Layer):
    """``softmax(pose_logits + sum_m presence_m * correction_m)``: each present modality corrects the pose
    branch's logits; a missing one (presence 0) changes nothing, so with none present the output is
    the pose branch's own prediction."""

    def call(self, pose_logits, corrections, presences):
        logits = pose_logits
        for correction, presence in zip(corrections, presences):
            logits = logits + presence * correction
        return ops.softmax(logits, axis=-1)

    def compute_output_shape(self, pose_logits_shape, corrections_shape=None, presences_shape=None):
        return pose_logits_shape


def build_fusion_head(
    pose_backbone: keras.Model,
    num_frames: int | None,
    feature_dim: int | None,
    num_classes: int,
    fusion: str = "concat",
    image_pooling: str = "mean",
    hidden_dim: int = 128,
    dropout: float = 0.3,
    object_encoder: keras.Model | None = None,
    inertial_encoder: keras.Model | None = None,
    pose_dropout: float = 0.0,
    name: str = "fusion_head",
) -> keras.Model:
    """The trainable part: pose backbone + the other branches' encoders + the fusion layers, with the
    pose branch's own head beside it.

    ``pose_dropout``: the share of training clips whose pose embedding the fused path sees as zeros
    (:class:`ModalityDropout`; ``concat`` and ``residual``); the pose branch's own head always sees it.

    Inputs: ``pose`` (normalised), ``frame_features`` (B, F, D) when ``num_frames`` is given (the image
    branch), ``object_features`` (B, T, K, 12) when ``object_encoder`` is given (the object branch),
    ``imu`` raw sensor samples (B, S, D) when ``inertial_encoder`` is given (the inertial branch).
    Each branch turns its input into one embedding and a presence flag; adding a branch means adding
    one entry to ``branches`` below, and nothing else changes.
    """
    if fusion not in FUSION_MODES:
        raise InvalidInputError(f"fusion must be one of {FUSION_MODES}, got {fusion!r}")
    # === Layers ===
    pose_head = layers.Dense(num_classes, activation="softmax", name="pose_probabilities")
    output = layers.Dense(num_classes, activation="softmax", name="probabilities")

    # === Functional Model ===
    pose = keras.Input(pose_backbone.input_shape[1:], name="pose")
    inputs = {"pose": pose}
    branches = {}  # modality -> (embedding, presence (B, 1))
    if num_frames is not None:
        frame_features = keras.Input((num_frames, feature_dim), name="frame_features")
        inputs["frame_features"] = frame_features
        pooled = TemporalPooling(image_pooling, name="image_pooling")(frame_features)
        branches["image"] = (
            layers.LayerNormalization(name="image_embedding")(pooled),
            ModalityPresence(name="image_presence")(frame_features),
        )
    if object_encoder is not None:
        object_features = keras.Input(object_encoder.input_shape[1:], name="object_features")
        inputs["object_features"] = object_features
        branches["objects"] = (
            object_encoder(object_features),
            ModalityPresence(name="objects_presence")(object_features),
        )
    if inertial_encoder is not None:
        imu = keras.Input(inertial_encoder.input_shape[1:], name="imu")
        inputs["imu"] = imu
        branches["imu"] = (inertial_encoder(imu), SamplePresence(name="imu_presence")(imu))
    if not branches:
        raise InvalidInputError(
            "a fusion head needs at least one branch beside the pose: frame features, objects or imu"
        )
    if fusion == "gated" and list(branches) != ["image"]:
        raise InvalidInputError(
            f"fusion 'gated' fuses the pose with images only; for {sorted(branches)} use 'concat', 'residual' or 'sum'"
        )
    if pose_dropout and fusion == "gated":
        raise InvalidInputError("pose_dropout works with fusion 'concat', 'residual' or 'sum', not 'gated'")
    pose_embedding = pose_backbone(pose)
    fused_pose = ModalityDropout(pose_dropout, name="pose_dropout")(pose_embedding) if pose_dropout else pose_embedding

    if fusion in ADDITIVE_MODES:
        logits_layer = layers.Dense(num_classes, name="pose_logits")
        pose_logits = logits_layer(pose_embedding)
        fused_logits = logits_layer(fused_pose) if pose_dropout else pose_logits
        corrections, presences = [], []
        for modality, (embedding, presence) in branches.items():
            if fusion == "sum":  # the branch's own linear classifier on its embedding
                hidden = layers.Dropout(dropout, name=f"{modality}_dropout")(embedding)
            else:
                both = layers.Concatenate(name=f"{modality}_concat")([fused_pose, embedding])
                both = layers.Dropout(dropout, name=f"{modality}_dropout")(both)
                hidden = layers.Dense(hidden_dim, activation="relu", name=f"{modality}_mlp")(both)
                hidden = layers.Dropout(dropout, name=f"{modality}_head_dropout")(hidden)
            corrections.append(layers.Dense(num_classes, name=f"{modality}_correction")(hidden))
            presences.append(presence)
        outputs = {
            "probabilities": ResidualLogits(name="probabilities")(fused_logits, corrections, presences),
            "pose_probabilities": layers.Softmax(name="pose_probabilities")(pose_logits),
        }
        return keras.Model(inputs, outputs, name=name)

    if fusion == "concat":
        parts = [fused_pose]
        for modality, (embedding, presence) in branches.items():
            parts += [embedding] if modality == "image" else [embedding, presence]
        fused = layers.Concatenate(name="concat")(parts)
        fused = layers.Dropout(dropout, name="fusion_dropout")(fused)
        fused = layers.Dense(hidden_dim, activation="relu", name="fusion_mlp")(fused)
    else:
        image_embedding = branches["image"][0]
        pose_proj = layers.Dense(hidden_dim, name="pose_projection")(pose_embedding)
        image_proj = layers.Dense(hidden_dim, name="image_projection")(
            layers.Dropout(dropout, name="image_dropout")(image_embedding)
        )
        both = layers.Concatenate(name="concat")([pose_embedding, image_embedding])
        gate = layers.Dense(hidden_dim, activation="sigmoid", name="gate")(both)
        fused = layers.Activation("relu", name="fusion_relu")(GatedSum(name="gated_sum")([gate, pose_proj, image_proj]))
    fused = layers.Dropout(dropout, name="head_dropout")(fused)
    outputs = {"probabilities": output(fused), "pose_probabilities": pose_head(pose_embedding)}
    return keras.Model(inputs, outputs, name=name)


def answers_from_pose_branch(
    has_image: bool,
    has_objects: bool,
    fusion: str,
    frames_given: bool,
    objects_given: bool,
    has_imu: bool = False,
    imu_given: bool = False,
) -> bool:
    """Whether a clip is answered by the pose branch alone: a model with an image branch given no
    frames, unless it fuses with ``fusion="residual"`` and another of its branches (objects, imu) was
    given (then all-zero frames stand for "no frames" and the other branches still count). The one
    rule that :meth:`MultiModalFusionModel.predict_proba`, the exports' feed and the streaming windows
    follow."""
    others_given = (has_objects and objects_given) or (has_imu and imu_given)
    return has_image and not frames_given and not (fusion in ADDITIVE_MODES and others_given)


def pose_head_layers(head: keras.Model) -> list[layers.Layer]:
    """The layers that turn the pose embedding into the pose branch's probabilities, in order."""
    names = [layer.name for layer in head.layers]
    if "pose_logits" in names:
        return [head.get_layer("pose_logits"), head.get_layer("pose_probabilities")]
    return [head.get_layer("pose_probabilities")]


@keras.saving.register_keras_serializable(package=PACKAGE)
class MultiModalFusionModel(Task):
    """``{"pose": raw poses, "frames", "objects", "imu"}`` -> ``{"probabilities", "pose_probabilities"}``.

    The pose branch is always there; the image branch (``frames``), the object branch (``objects``,
    raw detections ``(B, T, K, 6)``, see :mod:`har_tf.data.objects`) and the inertial branch
    (``imu``, raw sensor samples ``(B, S, D)``) are each present when their encoder is given, so the
    model fuses the pose with any non-empty subset of {image, objects, imu}.

    Missing modalities at inference: a clip without detections has an all-zero ``objects`` tensor, a
    clip without a sensor an all-zero ``imu`` tensor; with ``fusion="residual"`` an all-zero
    ``frames`` clip also counts as "no frames", and a missing branch then changes nothing (the result
    is exactly what the other branches give; with every other branch missing, the pose branch's
    own). :meth:`pose_only_model` is the pose branch alone.

    Args:
        pose_backbone: the stage-1 pose backbone (e.g. :class:`PoseFormerFactorized`), whose output
            is the pose embedding; it sees normalised poses.
        frame_encoder: the frozen :class:`FrameEncoder`, or None for a model without the image branch.
        num_classes, class_names: the classes.
        layout: the joint layout (name or ``JointLayout.to_dict()``) for the pose normalisation;
            default the backbone's ``layout``.
        frame_indices: which of the T pose frames each RGB frame shows (for the person boxes).
        normalize_mode: ``sequence`` or ``frame``, as in training.
        fusion: ``concat`` (concatenation, dropout, an MLP), ``gated`` (a learned per-feature gate
            between the projected pose and image embeddings; image branch only) or ``residual``
            (each branch adds a correction to the pose branch's logits, computed from its embedding
            and the pose embedding; a missing branch adds nothing) or ``sum`` (as ``residual``, but
            each branch's logits are a linear classifier on its own embedding: a product of experts,
            whose branches learn to classify on their own with ``pose_dropout``; stage 2 starts the
            inertial branch from the trained inertial-only baseline).
        image_pooling: ``mean`` or ``attention`` over the frames.
        hidden_dim, dropout: the fusion MLP's width and dropout.
        object_encoder: an :class:`~har_tf.models.object_encoder.ObjectEncoder`, or None.
        inertial_encoder: an :class:`~har_tf.models.inertial_encoder.InertialEncoder` (its
            normalisation adapted to the training data), or None.
        pose_dropout: the share of training clips whose pose embedding the fused path sees as zeros
            (:class:`ModalityDropout`), so that the other branches learn to classify on their own; no
            effect at inference.
    """

    _config_keys = (
        "pose_backbone",
        "frame_encoder",
        "object_encoder",
        "inertial_encoder",
        "num_classes",
        "class_names",
        "layout",
        "frame_indices",
        "normalize_mode",
        "fusion",
        "image_pooling",
        "hidden_dim",
        "dropout",
        "pose_dropout",
    )
    _nested_keys = ("pose_backbone", "frame_encoder", "object_encoder", "inertial_encoder")

    def __init__(
        self,
        pose_backbone: keras.Model,
        frame_encoder: FrameEncoder | None,
        num_classes: int,
        class_names=None,
        layout=None,
        frame_indices=None,
        normalize_mode: str = "sequence",
        fusion: str = "concat",
        image_pooling: str = "mean",
        hidden_dim: int = 128,
        dropout: float = 0.3,
        object_encoder: keras.Model | None = None,
        inertial_encoder: keras.Model | None = None,
        pose_dropout: float = 0.0,
        **kwargs,
    ):
        if class_names is not None and len(class_names) != num_classes:
            raise InvalidInputError(f"{len(class_names)} class names for {num_classes} classes")
        if frame_encoder is None and object_encoder is None and inertial_encoder is None:
            raise InvalidInputError(
                "a fusion model needs at least one of a frame_encoder, an object_encoder or an inertial_encoder"
            )
        num_pose_frames = pose_backbone.input_shape[1]
        if frame_encoder is not None:
            if frame_indices is None:
                from har_tf.data.frames import frame_indices as evenly_spaced

                frame_indices = evenly_spaced(num_pose_frames, frame_encoder.num_frames)
            frame_indices = [int(i) for i in frame_indices]
            if len(frame_indices) != frame_encoder.num_frames or not all(
                0 <= i < num_pose_frames for i in frame_indices
            ):
                raise InvalidInputError(
                    f"frame_indices must give {frame_encoder.num_frames} pose frames in "
                    f"[0, {num_pose_frames}), got {frame_indices}"
                )
        if object_encoder is not None and object_encoder.input_shape[1] != num_pose_frames:
            raise InvalidInputError(
                f"the object encoder takes T = {object_encoder.input_shape[1]} frames but the pose "
                f"backbone takes T = {num_pose_frames}"
            )
        channels = getattr(pose_backbone, "channels", None)
        if frame_encoder is not None and frame_encoder.crop != "none" and channels is not None and "z" in channels:
            raise InvalidInputError(
                f"image crop {frame_encoder.crop!r} finds boxes from poses in the frames' pixels, but "
                f"the pose backbone takes 3D poses ({channels!r}): use crop 'none' (whole frames)"
            )
        layout = layout if layout is not None else getattr(pose_backbone, "layout", None)
        if layout is None:
            raise InvalidInputError("say the joint layout of the poses (layout=...) for the pose normalisation")
        # === Layers ===
        head = build_fusion_head(
            pose_backbone,
            frame_encoder.num_frames if frame_encoder else None,
            frame_encoder.feature_dim if frame_encoder else None,
            num_classes,
            fusion,
            image_pooling,
            hidden_dim,
            dropout,
            object_encoder=object_encoder,
            inertial_encoder=inertial_encoder,
            pose_dropout=pose_dropout,
        )
        normalize = PoseNormalization(layout, normalize_mode, channels=channels, name="pose_normalization")
        boxes = None
        if frame_encoder is not None:
            boxes = crop_boxes_layer(frame_encoder.crop, normalize.layout, frame_indices, frame_encoder.frame_size)
            frame_encoder.trainable = False
        objects_layer = ObjectFeatures(normalize.layout, name="object_features") if object_encoder else None

        # === Functional Model ===
        pose = keras.Input(pose_backbone.input_shape[1:], name="pose")
        inputs, head_inputs = {"pose": pose}, {"pose": normalize(pose)}
        if frame_encoder is not None:
            size = frame_encoder.frame_size
            frames = keras.Input((frame_encoder.num_frames, size, size, 3), dtype="uint8", name="frames")
            encoder_inputs = frames if boxes is None else {"frames": frames, "boxes": boxes(pose)}
            features = frame_encoder(encoder_inputs)
            if fusion in ADDITIVE_MODES:  # an all-zero clip of frames means "no frames": zero features, no correction
                features = PresenceMask(name="frames_presence")(features, frames)
            inputs["frames"], head_inputs["frame_features"] = frames, features
        if object_encoder is not None:
            objects = keras.Input((num_pose_frames, object_encoder.input_shape[2], 6), name="objects")
            inputs["objects"], head_inputs["object_features"] = objects, objects_layer(objects, pose)
        if inertial_encoder is not None:  # raw samples: the encoder normalises them itself
            imu = keras.Input(inertial_encoder.input_shape[1:], name="imu")
            inputs["imu"], head_inputs["imu"] = imu, imu
        outputs = head(head_inputs)
        outputs = {key: layers.Identity(name=key)(value) for key, value in outputs.items()}
        super().__init__(inputs, outputs, **kwargs)

        # === Config ===
        self.head, self.pose_backbone, self.frame_encoder = head, pose_backbone, frame_encoder
        self.object_encoder, self.object_features = object_encoder, objects_layer
        self.inertial_encoder = inertial_encoder
        self.normalization, self.crop_boxes = normalize, boxes
        self.num_classes = int(num_classes)
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.layout = normalize.layout.to_dict()
        self.frame_indices, self.normalize_mode = frame_indices, normalize_mode
        self.fusion, self.image_pooling, self.hidden_dim, self.dropout = fusion, image_pooling, hidden_dim, dropout
        self.pose_dropout = float(pose_dropout)

    @property
    def modalities(self) -> tuple[str, ...]:
        """The branches this model fuses, pose first: e.g. ``("pose", "image", "objects", "imu")``."""
        present = {"image": self.frame_encoder, "objects": self.object_encoder, "imu": self.inertial_encoder}
        return ("pose",) + tuple(name for name, encoder in present.items() if encoder is not None)

    def pose_only_model(self) -> keras.Model:
        """Raw ``pose`` -> ``probabilities`` of the pose branch, sharing the weights: the fall-back when
        there are no frames."""
        pose = keras.Input(self.pose_backbone.input_shape[1:], name="pose")
        out = self.pose_backbone(self.normalization(pose))
        for layer in pose_head_layers(self.head):
            out = layer(out)
        return keras.Model(pose, layers.Identity(name="probabilities")(out), name="pose_only")

    def predict_proba(self, pose, frames=None, objects=None, imu=None, batch_size: int = 64) -> np.ndarray:
        """Class probabilities ``(N, K)`` for raw poses ``(N, T, J, C)`` (pixels, or a 3D skeleton's own
        units, as the model's ``channels`` say), fused with the ``frames`` (uint8 ``(N, F, H, W, 3)``),
        ``objects`` (``(N, T, K, 6)``) and ``imu`` (raw sensor samples ``(N, S, D)``, NaN = a missing
        sample) that are given.

        A model with an image branch given no frames uses the pose branch alone, unless it fuses
        with ``fusion="residual"`` and objects or imu were given (then those still count). Missing
        objects are all-zero detections, a missing sensor all-zero samples.
        """
        from har_tf.data.checks import check_frames_batch, check_pose_batch
        from har_tf.data.objects import check_objects_batch

        pose, _ = check_pose_batch(
            pose, tuple(self.pose_backbone.input_shape[1:]), channels=self.normalization.channels
        )
        n, num_frames = len(pose), pose.shape[1]
        if imu is not None and self.inertial_encoder is None:
            raise InvalidInputError(
                f"this model ({' + '.join(self.modalities)}) has no inertial branch: it takes no imu"
            )
        if answers_from_pose_branch(
            self.frame_encoder is not None,
            self.object_encoder is not None,
            self.fusion,
            frames is not None,
            objects is not None,
            self.inertial_encoder is not None,
            imu is not None,
        ):
            return self.pose_only_model().predict(pose, batch_size=batch_size, verbose=0)
        inputs = {"pose": pose}
        if self.frame_encoder is not None:
            shape = tuple(self.input["frames"].shape[1:])
            inputs["frames"] = (
                np.zeros((n, *shape), np.uint8)
                if frames is None
                else check_frames_batch(frames, shape, n, single=False).astype(np.uint8)
            )
        if self.object_encoder is not None:
            slots = self.object_encoder.input_shape[2]
            inputs["objects"] = (
                np.zeros((n, num_frames, slots, 6), np.float32)
                if objects is None
                else check_objects_batch(objects, num_frames, self.object_encoder.num_classes, slots, n)
            )
        if self.inertial_encoder is not None:
            samples, channels = self.inertial_encoder.num_samples, self.inertial_encoder.num_channels
            inputs["imu"] = (
                np.zeros((n, samples, channels), np.float32)
                if imu is None
                else check_imu_batch(imu, samples, channels, batch=n)
            )
        return self.predict(inputs, batch_size=batch_size, verbose=0)["probabilities"]

    def get_config(self) -> dict:
        config = super().get_config()
        if not self.pose_dropout:  # recorded only when used
            del config["pose_dropout"]
        return config


def image_only_classifier(num_frames: int, feature_dim: int, num_classes: int) -> keras.Model:
    """The image-only baseline on frame features: mean over frames, then one linear softmax layer
    (the frozen-backbone transfer-learning recipe)."""
    features = keras.Input((num_frames, feature_dim), name="frame_features")
    pooled = TemporalPooling("mean", name="image_pooling")(features)
    return keras.Model(
        features, layers.Dense(num_classes, activation="softmax", name="probabilities")(pooled), name="image_only"
    )


def imu_only_classifier(inertial_encoder: keras.Model, num_classes: int, dropout: float = 0.3) -> keras.Model:
    """The inertial-only baseline: raw ``imu`` (B, S, D) -> the encoder's embedding, dropout, one linear
    softmax layer."""
    imu = keras.Input(inertial_encoder.input_shape[1:], name="imu")
    hidden = layers.Dropout(dropout, name="dropout")(inertial_encoder(imu))
    return keras.Model(
        imu, layers.Dense(num_classes, activation="softmax", name="probabilities")(hidden), name="imu_only"
    )
