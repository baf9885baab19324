"""Training settings of both stages: one dataclass, read from YAML or JSON, overridable from the command line."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import yaml

from har_tf.config import DictConfig
from har_tf.data.augmentation import AugmentConfig
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from har_tf.models.image_encoder import BACKBONES, CROP_MODES
from har_tf.models.layers import PoseStreams
from har_tf.models.pose_former import PRESETS

MODELS = ("poseformer", "full_attention", "lstm_lite", "ddnet")
AUTO_VALIDATION_CLIPS = 2000  # val_fraction auto: below this many training clips, train on all of them
MODALITIES = ("image", "objects", "imu")  # the branches stage 2 can fuse with the pose


@dataclasses.dataclass
class TrainConfig(DictConfig):
    """Everything stage 1 needs; every field has a default that trains on the synthetic data.

    Attributes:
        data: ``"synthetic"``, the path of a pose dataset NPZ, or a sharded TFRecord folder
            (:mod:`har_tf.data.tfrecords`; stage 1 streams its training split).
        model: ``poseformer`` (default), ``full_attention``, ``lstm_lite`` or ``ddnet`` (DD-Net at the
            paper's size, f = 64, whatever ``preset``; it has its own streams and dropout, so ``streams``
            and ``dropout`` do not apply).
        preset: size of the transformer models (``micro``, ``small``, ``base``).
        streams: pose streams fed to PoseFormerFactorized (``joints``, ``velocities``, ``velocities2``,
            ``bones``, ``distances``; see :class:`~har_tf.models.layers.PoseStreams`).
        dropout, drop_path, pooling, temporal_kernel: PoseFormerFactorized's regularisation (dropout,
            stochastic depth), its pooling (``mean`` or ``mean_max``) and its temporal convolution
            (frames; 0 = none).
        num_frames: T of the model; sequences are resampled or windowed to it.
        sampling: ``resample`` (whole sequence to T), ``window`` (T consecutive frames: random in
            training, the centre one for evaluation) or ``auto``: ``resample`` for trimmed actions
            (median sequence shorter than ``4 * num_frames``, so that a window would miss part of
            the action), ``window`` for long recordings.
        epochs: a number, or ``auto``: enough epochs for about ``train_steps`` optimiser steps
            (``ceil(train_steps / steps_per_epoch)``, at least ``min_epochs``), so a small dataset gets
            as many updates as a large one and a large one is not over-trained; the learning-rate
            schedule (linear warm-up, cosine decay) spans the epochs chosen.
        train_steps, min_epochs: the rule of ``epochs: auto``.
        batch_size, learning_rate, weight_decay, warmup_epochs, label_smoothing: optimisation
            (AdamW, linear warm-up then cosine decay).
        ema_momentum: keep an exponential moving average of the weights with this momentum (AdamW's
            ``use_ema``) and evaluate, checkpoint and save the averaged weights; ``None``: off.
        early_stopping_patience: epochs without a lower validation loss before stopping (the best
            epoch's weights are kept); ``None``: a fifth of the epochs, at least 10.
        time_budget_minutes: stop training after this much wall-clock time (``None``: no limit); used
            to compare models at the same compute budget.
        val_fraction: share of the training split held out for validation when the data has none
            (whole subjects when ``subject_train`` has at least 3, else the same share of each class).
            ``0`` trains on the whole training split with no validation (the data must then have a
            test split): no early stopping, and the saved model is the final epoch's. ``auto``: 0
            when the data has a test split and fewer than ``AUTO_VALIDATION_CLIPS`` training clips
            (a held-out share of a small set costs more than early stopping gains), else 0.1.
        class_weights: ``auto`` (balanced weights when classes are unbalanced by more than 1.5x) or ``none``.
        strategy: ``default`` (one device), ``mirrored`` (every GPU of this machine), ``multiworker``
            (several machines, ``TF_CONFIG``) or ``tpu``; see :mod:`har_tf.training.distribute`.
            ``batch_size`` is per replica.
        seed: seeds data order, augmentation, the held-out split and weight initialisation.
        augment: :class:`~har_tf.data.augmentation.AugmentConfig` settings; ``flip_prob`` defaults to
            ``auto`` here (off when the training clips' actions are lateralised, see
            :mod:`har_tf.data.laterality`).
        synthetic_clips_per_class: train/val/test clips per class of the synthetic data.
        backbone, image_size: stage 2's frozen image backbone (a name of
            ``har_tf.models.BACKBONES``, a SavedModel directory or a TF Hub handle) and the size
            frames (or crops) are resized to for it (``None``: the backbone's native size; default
            96: an ``each_hand`` crop is 27 px of a 224 px frame, so 96 px loses nothing and costs,
            for two crops a frame, about what one 128 px crop did).
        image_crop: what the backbone sees of each frame: ``each_hand`` (default: a small square
            on each wrist, found from the pose, the features of the two crops averaged: a held object
            fills the crop of its hand), ``hands`` (one square around both wrists), ``person`` (a
            square around the person) or ``none`` (the whole frame).
        fusion, image_pooling, fusion_hidden_dim, fusion_dropout: the fusion head (``concat``,
            ``gated`` (image only), ``residual`` or ``sum``; ``mean`` or ``attention`` over the frames).
        fusion_pose_dropout: the share of stage-2 training clips whose pose embedding the fused path
            sees as zeros, so that the other branches learn to classify on their own (``concat``,
            ``residual`` and ``sum``; 0 = off). It matters when the stage-1 pose model already fits every training
            clip, as on small real sets.
        fusion_epochs, fusion_freeze_epochs, fusion_learning_rate, finetune_lr_scale: stage 2 runs
            ``fusion_epochs`` epochs; during the first ``fusion_freeze_epochs`` (at most all of them)
            the pose encoder is frozen, then it is fine-tuned at ``fusion_learning_rate * finetune_lr_scale``.
        modalities: the branches fused with the pose in stage 2, a non-empty subset of ``image`` (the
            frames through the frozen backbone), ``objects`` (the data's ``objects_<split>``
            detections through an :class:`~har_tf.models.object_encoder.ObjectEncoder`) and ``imu``
            (the data's ``imu_<split>`` wearable-sensor samples through an
            :class:`~har_tf.models.inertial_encoder.InertialEncoder`).
        object_preset: the object encoder's size (``micro`` or ``small``).
        imu_preset: the inertial encoder's size (``micro`` or ``small``).
        imu_only_epochs: epochs of the inertial-only baseline (an inertial encoder and a softmax layer
            trained on the sensor samples alone; early stopping on the validation split when there is one).
        pose_loss_weight: weight of the pose branch's own head (the fall-back when a clip has no
            frames) in the stage-2 loss.
    """

    data: str = "synthetic"
    model: str = "poseformer"
    preset: str = "micro"
    streams: tuple[str, ...] = ("joints", "velocities", "velocities2", "bones", "distances")
    num_frames: int = 30
    sampling: str = "auto"
    epochs: int | str = "auto"
    train_steps: int = 1000
    min_epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 0.05
    warmup_epochs: int = 2
    label_smoothing: float = 0.1
    dropout: float = 0.1
    drop_path: float = 0.1
    pooling: str = "mean_max"
    temporal_kernel: int = 5
    stream_norm: bool = True
    frame_token: bool = False
    temporal_pooling: int = 0
    ema_momentum: float | None = None
    early_stopping_patience: int | None = None
    time_budget_minutes: float | None = None
    val_fraction: float | str = "auto"
    class_weights: str = "auto"
    seed: int = 0
    strategy: str = "default"
    augment: dict = dataclasses.field(default_factory=lambda: AugmentConfig(flip_prob="auto").to_dict())
    synthetic_clips_per_class: tuple[int, int, int] = (80, 12, 25)
    backbone: str = "efficientnet_lite0"
    image_size: int | None = 96
    image_crop: str = "each_hand"
    fusion: str = "concat"
    image_pooling: str = "mean"
    fusion_hidden_dim: int = 128
    fusion_dropout: float = 0.5
    fusion_pose_dropout: float = 0.0
    fusion_epochs: int = 30
    fusion_freeze_epochs: int = 20
    fusion_learning_rate: float = 2e-3
    finetune_lr_scale: float = 0.1
    pose_loss_weight: float = 1.0
    modalities: tuple[str, ...] = ("image",)
    object_preset: str = "micro"
    imu_preset: str = "micro"
    imu_only_epochs: int = 60

    def __post_init__(self) -> None:
        checks = [
            (self.model in MODELS, f"model must be one of {MODELS}, got {self.model!r}"),
            (
                self.sampling in ("auto", "resample", "window"),
                f"sampling must be auto, resample or window, got {self.sampling!r}",
            ),
            (
                self.epochs == "auto"
                or (isinstance(self.epochs, int) and not isinstance(self.epochs, bool) and self.epochs >= 1),
                f"epochs must be a positive integer or auto, got {self.epochs!r}",
            ),
            (
                isinstance(self.train_steps, int) and self.train_steps >= 1,
                f"train_steps must be a positive integer, got {self.train_steps!r}",
            ),
            (
                isinstance(self.min_epochs, int) and self.min_epochs >= 1,
                f"min_epochs must be a positive integer, got {self.min_epochs!r}",
            ),
            (
                self.early_stopping_patience is None
                or (isinstance(self.early_stopping_patience, int) and self.early_stopping_patience >= 1),
                f"early_stopping_patience must be a positive integer or null, got {self.early_stopping_patience!r}",
            ),
            (
                isinstance(self.batch_size, int) and self.batch_size >= 1,
                f"batch_size must be a positive integer, got {self.batch_size!r}",
            ),
            (
                isinstance(self.num_frames, int) and self.num_frames >= 2,
                f"num_frames must be an integer >= 2, got {self.num_frames!r}",
            ),
            (
                0 < _number(self.learning_rate) < 1,
                f"learning_rate must be a number in (0, 1), got {self.learning_rate!r}",
            ),
            (
                0 <= _number(self.label_smoothing) < 1,
                f"label_smoothing must be a number in [0, 1), got {self.label_smoothing!r}",
            ),
            (
                self.val_fraction == "auto" or 0 <= _number(self.val_fraction) < 1,
                f"val_fraction must be a number in [0, 1) or auto, got {self.val_fraction!r}",
            ),
            (
                self.ema_momentum is None or 0 < _number(self.ema_momentum) < 1,
                f"ema_momentum must be null or a number in (0, 1), got {self.ema_momentum!r}",
            ),
            (
                self.time_budget_minutes is None or _number(self.time_budget_minutes) > 0,
                f"time_budget_minutes must be a positive number, got {self.time_budget_minutes!r}",
            ),
            (
                self.strategy in ("default", "mirrored", "multiworker", "tpu"),
                f"strategy must be default, mirrored, multiworker or tpu, got {self.strategy!r}",
            ),
            (self.class_weights in ("auto", "none"), f"class_weights must be auto or none, got {self.class_weights!r}"),
            (
                self.image_crop in CROP_MODES,
                f"image_crop must be {', '.join(CROP_MODES[:-1])} or {CROP_MODES[-1]}, got {self.image_crop!r}",
            ),
            (
                self.fusion in ("concat", "gated", "residual", "sum"),
                f"fusion must be concat, gated, residual or sum, got {self.fusion!r}",
            ),
            (
                isinstance(self.modalities, (list, tuple))
                and len(self.modalities) > 0
                and set(self.modalities) <= set(MODALITIES)
                and len(set(self.modalities)) == len(self.modalities),
                f"modalities must be a non-empty list of distinct names from [{', '.join(MODALITIES)}], got "
                f"{self.modalities!r}",
            ),
            (
                self.object_preset in ("micro", "small"),
                f"object_preset must be micro or small, got {self.object_preset!r}",
            ),
            (
                isinstance(self.fusion_pose_dropout, (int, float))
                and 0 <= self.fusion_pose_dropout < 1
                and not (self.fusion_pose_dropout and self.fusion == "gated"),
                "fusion_pose_dropout must be in [0, 1) with fusion concat or residual, got "
                f"{self.fusion_pose_dropout!r}",
            ),
            (self.imu_preset in ("micro", "small"), f"imu_preset must be micro or small, got {self.imu_preset!r}"),
            (
                isinstance(self.imu_only_epochs, int) and self.imu_only_epochs >= 1,
                f"imu_only_epochs must be a positive integer, got {self.imu_only_epochs!r}",
            ),
            (self.pooling in ("mean", "mean_max"), f"pooling must be mean or mean_max, got {self.pooling!r}"),
            (
                isinstance(self.temporal_kernel, int) and self.temporal_kernel >= 0,
                f"temporal_kernel must be an integer >= 0, got {self.temporal_kernel!r}",
            ),
            (isinstance(self.stream_norm, bool), f"stream_norm must be true or false, got {self.stream_norm!r}"),
            (isinstance(self.frame_token, bool), f"frame_token must be true or false, got {self.frame_token!r}"),
            (
                isinstance(self.temporal_pooling, int) and self.temporal_pooling >= 0,
                f"temporal_pooling must be an integer >= 0, got {self.temporal_pooling!r}",
            ),
            (0 <= _number(self.drop_path) < 1, f"drop_path must be a number in [0, 1), got {self.drop_path!r}"),
            (
                self.image_pooling in ("mean", "attention"),
                f"image_pooling must be mean or attention, got {self.image_pooling!r}",
            ),
            (
                isinstance(self.fusion_epochs, int) and self.fusion_epochs >= 1,
                f"fusion_epochs must be a positive integer, got {self.fusion_epochs!r}",
            ),
            (
                isinstance(self.fusion_freeze_epochs, int) and self.fusion_freeze_epochs >= 0,
                f"fusion_freeze_epochs must be an integer >= 0, got {self.fusion_freeze_epochs!r}",
            ),
            (
                0 < _number(self.fusion_learning_rate) < 1,
                f"fusion_learning_rate must be a number in (0, 1), got {self.fusion_learning_rate!r}",
            ),
            (
                0 <= _number(self.finetune_lr_scale) <= 1,
                f"finetune_lr_scale must be a number in [0, 1], got {self.finetune_lr_scale!r}",
            ),
            (
                self.image_size is None or (isinstance(self.image_size, int) and self.image_size >= 32),
                f"image_size must be an integer >= 32 or null, got {self.image_size!r}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise InvalidInputError(f"training config: {message}")
        self.streams = tuple(self.streams)
        self.modalities = tuple(self.modalities)
        self.synthetic_clips_per_class = tuple(self.synthetic_clips_per_class)
        self.augment_config()  # validates the augmentation settings now, not mid-run

    def augment_config(self) -> AugmentConfig:
        return AugmentConfig.from_dict({"flip_prob": "auto", **dict(self.augment)})  # stage 1 decides flips by the data


def _number(value) -> float:
    """``value`` as a float, or NaN (which fails every range check) when it is not a number."""
    if isinstance(value, bool):
        return float("nan")
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def load_train_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Defaults, then a YAML/JSON file, then command-line overrides (``None`` values are ignored).

    Every setting is checked here, before any work: a list where a mapping goes (or the reverse) and a
    value out of range are one :class:`InvalidInputError` line naming the key.
    """
    values: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise MissingFileError(f"no such config file: {path}")
        try:
            text = path.read_text()
            loaded = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
        except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError) as err:
            raise DataFormatError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({err})") from None
        if not isinstance(loaded, dict):
            raise DataFormatError(f"{path}: expected a mapping of settings, got {_kind(loaded)}")
        values.update(loaded)
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    _check_kinds(values)
    if "augment" in values:
        try:
            AugmentConfig.from_dict({"flip_prob": "auto", **values["augment"]})
        except (InvalidInputError, TypeError, ValueError) as err:
            raise InvalidInputError(f"training config: augment: {err}") from None
    try:
        config = TrainConfig.from_dict(values)
    except TypeError as err:  # a wrong type that the dataclass itself rejects
        raise InvalidInputError(f"training config: {err}") from None
    except ValueError as err:  # e.g. the augment mapping's own checks
        if isinstance(err, InvalidInputError):
            raise
        raise InvalidInputError(f"training config: {err}") from None
    _check_values(config)
    return config


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return f"a mapping {value!r}"
    if isinstance(value, (list, tuple)):
        return f"a list {list(value)!r}"
    return f"{type(value).__name__} {value!r}"


def _check_kinds(values: dict[str, Any]) -> None:
    """Each known setting has the shape of its default: a mapping (``augment``), a list (``streams``,
    ``modalities``, ``synthetic_clips_per_class``) or a single value."""
    defaults = {
        f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
        for f in dataclasses.fields(TrainConfig)
    }
    for key, value in values.items():
        if key not in defaults:
            continue  # from_dict names the unknown keys
        default = defaults[key]
        if isinstance(default, dict):
            expected, ok = "a mapping of settings", isinstance(value, dict)
        elif isinstance(default, (tuple, list)):
            expected, ok = "a list", isinstance(value, (list, tuple))
        else:
            expected, ok = "a single value", not isinstance(value, (dict, list, tuple))
        if not ok:
            raise InvalidInputError(f"training config: {key} must be {expected}, got {_kind(value)}")


def _integer(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _check_values(config: TrainConfig) -> None:
    """The settings the dataclass does not check itself (ranges, names), one line naming the key."""
    backbone = config.backbone
    is_handle = isinstance(backbone, str) and (
        "://" in backbone or backbone.startswith(("hub:", "tfhub.dev", "www.kaggle.com"))
    )
    checks = [
        (config.preset in PRESETS, f"preset must be one of {sorted(PRESETS)}, got {config.preset!r}"),
        (
            len(config.streams) > 0 and set(config.streams) <= set(PoseStreams.STREAMS),
            f"streams must be a non-empty list of names from {list(PoseStreams.STREAMS)}, got {list(config.streams)!r}",
        ),
        (_integer(config.seed, 0), f"seed must be an integer >= 0, got {config.seed!r}"),
        (0 <= _number(config.dropout) < 1, f"dropout must be a number in [0, 1), got {config.dropout!r}"),
        (_number(config.weight_decay) >= 0, f"weight_decay must be a number >= 0, got {config.weight_decay!r}"),
        (_integer(config.warmup_epochs, 0), f"warmup_epochs must be an integer >= 0, got {config.warmup_epochs!r}"),
        (
            len(config.synthetic_clips_per_class) == 3
            and all(_integer(n, 1) for n in config.synthetic_clips_per_class),
            "synthetic_clips_per_class must be 3 positive integers (train, val, test), got "
            f"{list(config.synthetic_clips_per_class)!r}",
        ),
        (
            isinstance(backbone, str) and (backbone in BACKBONES or is_handle or Path(backbone).is_dir()),
            f"backbone must be one of {sorted(BACKBONES)}, a SavedModel folder or a TF Hub handle, got {backbone!r}",
        ),
        (
            _integer(config.fusion_hidden_dim, 1),
            f"fusion_hidden_dim must be a positive integer, got {config.fusion_hidden_dim!r}",
        ),
        (
            0 <= _number(config.fusion_dropout) < 1,
            f"fusion_dropout must be a number in [0, 1), got {config.fusion_dropout!r}",
        ),
        (
            _number(config.pose_loss_weight) >= 0,
            f"pose_loss_weight must be a number >= 0, got {config.pose_loss_weight!r}",
        ),
        (
            isinstance(config.data, str) and config.data != "",
            f"data must be 'synthetic' or a path, got {config.data!r}",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise InvalidInputError(f"training config: {message}")


def run_config(model_path: str | Path, data: str | None = None) -> TrainConfig:
    """The settings a model was trained with: the ``config.json`` that ``scripts/train.py`` writes beside
    it (keys this version does not know are dropped), else the defaults; ``data`` overrides the data."""
    saved = Path(model_path).parent / "config.json"
    values = {}
    if saved.is_file():
        try:
            values = {k: v for k, v in json.loads(saved.read_text()).items() if k in TrainConfig.__dataclass_fields__}
        except json.JSONDecodeError as err:
            raise DataFormatError(f"{saved}: not valid JSON ({err})") from None
    if data is not None:
        values["data"] = data
    return TrainConfig.from_dict(values)
