"""Stage 2: late fusion of the stage-1 pose encoder with the other modalities of ``config.modalities``.

1. ``image``: the frozen :class:`~har_tf.models.image_encoder.FrameEncoder` encodes every stored
   frame once; the features are cached on disk (:mod:`har_tf.data.feature_cache`) and reused by
   later runs. ``objects``: the data's detections become object features. ``imu``: the data's raw
   sensor samples go to an :class:`~har_tf.models.inertial_encoder.InertialEncoder` whose
   per-channel normalisation is set from the training split.
2. ``fusion.head`` (pose encoder + the branches' encoders + fusion layers + the pose branch's own
   head) trains through ``model.fit``: first with the pose encoder frozen for
   ``fusion_freeze_epochs``, then fine-tuned at ``fusion_learning_rate * finetune_lr_scale``.
3. Single-modality baselines: image only (mean of the frame features, one linear layer, on the same
   cache) and inertial only (an inertial encoder and one linear layer on the sensor samples).

Outputs in the run folder: ``fusion_model.keras`` (raw pose + raw frames / detections / sensor
samples in), ``fusion/`` (its metrics.json, curves, confusion matrix, report, predictions),
``image_only/`` and ``imu_only/`` (the same for the baselines) and ``summary.json`` / ``summary.md``
(pose-only, each baseline and fused side by side).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from har_tf.data.feature_cache import cached_frame_features, frames_per_clip
from har_tf.data.pipeline import make_pose_dataset
from har_tf.data.pose_npz import PoseDataset
from har_tf.errors import InvalidInputError
from har_tf.io import run_folder_lock, save_keras_atomic, save_weights_atomic, write_text_atomic
from har_tf.models.classifier import PoseClassifier
from har_tf.models.fusion import MultiModalFusionModel, image_only_classifier, imu_only_classifier, pose_head_layers
from har_tf.models.image_encoder import FrameEncoder, crop_boxes_layer
from har_tf.models.inertial_encoder import InertialEncoder, check_imu_batch
from har_tf.training.callbacks import EpochTimes, SafeBackupAndRestore
from har_tf.training.config import TrainConfig
from har_tf.training.evaluation import write_evaluation
from har_tf.training.metrics import classification_metrics, group_accuracy
from har_tf.training.reports import plot_history_if_readable
from har_tf.training.stage1 import check_model_matches, choose_sampling, training_augmentation

OUTPUTS = ("probabilities", "pose_probabilities")


def frame_encoder_for(config: TrainConfig, dataset: PoseDataset) -> FrameEncoder:
    """The frozen frame encoder for this dataset's frames (F and frame size from the data)."""
    size = dataset.extras.get("image_size")
    if size is None or int(size[0]) != int(size[1]):
        raise InvalidInputError(f"stage 2 needs square frames and an image_size entry in the data, got {size}")
    return FrameEncoder(
        num_frames=frames_per_clip(dataset),
        frame_size=int(size[0]),
        backbone=config.backbone,
        image_size=config.image_size,
        crop=config.image_crop,
    )


def crop_boxes(dataset: PoseDataset, encoder: FrameEncoder, splits) -> dict | None:
    """Each split's crop boxes ``(N, F, 4)`` from its raw poses, exactly as the fusion model computes them."""
    layer = crop_boxes_layer(encoder.crop, dataset.layout, dataset.extras["frame_indices"], encoder.frame_size)
    if layer is None:
        return None
    return {s: keras.ops.convert_to_numpy(layer(dataset.split(s)[0])) for s in splits}


def encoder_key(encoder: FrameEncoder) -> dict:
    """What the cached features depend on (goes into the cache key)."""
    return {
        "backbone": encoder.backbone_name,
        "weights": encoder.weights_source,
        "image_size": encoder.image_size,
        "frame_size": encoder.frame_size,
        "num_frames": encoder.num_frames,
        "crop": encoder.crop,
    }


def object_arrays(dataset: PoseDataset, num_frames: int) -> tuple[dict[str, np.ndarray], list[str]]:
    """Each split's raw detections ``(N, T, K, 6)`` (checked) and the object class names."""
    from har_tf.data.objects import check_objects_batch

    names = dataset.extras.get("object_classes")
    missing = [f"objects_{s}" for s in dataset.splits if f"objects_{s}" not in dataset.extras]
    if names is None or missing:
        raise InvalidInputError(
            f"the objects modality needs the detections of every split ({', '.join(missing) or 'present'}) "
            "and 'object_classes' in the data (see docs/objects.md)"
        )
    names = [str(n) for n in names]
    arrays = {}
    for s in dataset.splits:
        x = dataset.split(s)[0]
        if x.shape[1] != num_frames:
            raise InvalidInputError(
                f"the objects modality needs clips of exactly T = {num_frames} frames (one row of "
                f"detections per pose frame), the {s} split has T = {x.shape[1]}"
            )
        arrays[s] = check_objects_batch(
            dataset.extras[f"objects_{s}"], num_frames, len(names), batch=len(x), name=f"objects_{s}"
        )
    return arrays, names


def imu_arrays(dataset: PoseDataset) -> dict[str, np.ndarray]:
    """Each split's raw sensor samples ``(N, S, D)`` (checked: the same S and D in every split, one clip
    per pose sequence, no infinite values)."""
    missing = [f"imu_{s}" for s in dataset.splits if f"imu_{s}" not in dataset.extras]
    if missing:
        raise InvalidInputError(
            f"the imu modality needs the sensor samples of every split ({', '.join(missing)} "
            "missing): float32 (N, S, D) arrays imu_<split> in the data"
        )
    first = np.asarray(dataset.extras[f"imu_{dataset.splits[0]}"])
    samples, channels = (first.shape[1], first.shape[2]) if first.ndim == 3 else (None, None)
    return {
        s: check_imu_batch(
            dataset.extras[f"imu_{s}"], samples, channels, batch=len(dataset.split(s)[1]), name=f"imu_{s}"
        )
        for s in dataset.splits
    }


def inertial_encoder_for(config: TrainConfig, dataset: PoseDataset, imu_train: np.ndarray) -> InertialEncoder:
    """An inertial encoder of ``config.imu_preset`` for the data's S and D, normalised on the training split."""
    names = dataset.extras.get("imu_channels")
    names = None if names is None or len(names) != imu_train.shape[2] else [str(n) for n in names]
    encoder = InertialEncoder.from_preset(
        config.imu_preset, imu_train.shape[1], imu_train.shape[2], channel_names=names
    )
    encoder.adapt(imu_train)
    return encoder


def build_fusion(
    config: TrainConfig,
    pose_model: PoseClassifier,
    encoder: FrameEncoder | None,
    dataset: PoseDataset,
    object_encoder: keras.Model | None = None,
    inertial_encoder: keras.Model | None = None,
) -> MultiModalFusionModel:
    """The fusion model around the stage-1 pose backbone; the pose branch's head starts from stage 1's."""
    class_names = list(dataset.class_names)
    fusion = MultiModalFusionModel(
        pose_model.backbone,
        encoder,
        len(class_names),
        class_names=class_names,
        layout=dataset.layout.to_dict(),
        frame_indices=dataset.extras.get("frame_indices"),
        fusion=config.fusion,
        image_pooling=config.image_pooling,
        hidden_dim=config.fusion_hidden_dim,
        dropout=config.fusion_dropout,
        object_encoder=object_encoder,
        inertial_encoder=inertial_encoder,
        pose_dropout=config.fusion_pose_dropout,
    )
    pose_head_layers(fusion.head)[0].set_weights(pose_model.get_layer("probabilities").get_weights())
    return fusion


def fusion_targets(num_classes: int):
    """A tf.data map: integer label -> one-hot targets for both of the fusion head's outputs."""

    def to_targets(inputs, label):
        one_hot = tf.one_hot(label, num_classes)
        return inputs, {name: one_hot for name in OUTPUTS}

    return to_targets


def _compile(head: keras.Model, config: TrainConfig, learning_rate: float, steps: int) -> None:
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(steps, 1), alpha=0.05)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
    head.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay, clipnorm=1.0),
        loss={name: loss for name in OUTPUTS},
        loss_weights={"probabilities": 1.0, "pose_probabilities": config.pose_loss_weight},
        metrics={name: ["accuracy"] for name in OUTPUTS},
    )


def _metrics(y, probabilities, class_names, dataset: PoseDataset) -> dict:
    metrics = classification_metrics(y, probabilities, class_names)
    if "class_group" in dataset.extras:
        names = [str(g) for g in dataset.extras.get("group_names", [])]
        metrics["groups"] = group_accuracy(y, probabilities.argmax(1), dataset.extras["class_group"], names)
    return metrics


def train_image_only(
    features: dict, splits: dict, num_classes: int, config: TrainConfig, epochs: int = 60
) -> keras.Model:
    """The image-only baseline: a linear softmax layer on the mean frame feature."""
    keras.utils.set_random_seed(config.seed)
    model = image_only_classifier(features["train"].shape[1], features["train"].shape[2], num_classes)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    val = (features["val"], splits["val"][1]) if "val" in splits else None
    model.fit(
        features["train"],
        splits["train"][1],
        validation_data=val,
        epochs=epochs,
        batch_size=64,
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping("val_accuracy" if val else "accuracy", patience=15, restore_best_weights=True)
        ],
    )
    return model


def train_imu_only(imu: dict, splits: dict, num_classes: int, config: TrainConfig, dataset: PoseDataset) -> keras.Model:
    """The inertial-only baseline: a fresh inertial encoder (``config.imu_preset``, normalised on the
    training split) and a linear softmax layer, trained on the sensor samples alone."""
    keras.utils.set_random_seed(config.seed)
    model = imu_only_classifier(
        inertial_encoder_for(config, dataset, imu["train"]), num_classes, dropout=config.fusion_dropout
    )
    steps = int(np.ceil(len(imu["train"]) / config.batch_size)) * config.imu_only_epochs
    schedule = keras.optimizers.schedules.CosineDecay(
        config.fusion_learning_rate, decay_steps=max(steps, 1), alpha=0.05
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=config.weight_decay, clipnorm=1.0),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )
    y = {s: keras.utils.to_categorical(splits[s][1], num_classes) for s in splits}
    val = (imu["val"], y["val"]) if "val" in splits else None
    callbacks = [keras.callbacks.EarlyStopping("val_accuracy", patience=15, restore_best_weights=True)] if val else []
    model.fit(
        imu["train"],
        y["train"],
        validation_data=val,
        epochs=config.imu_only_epochs,
        batch_size=config.batch_size,
        verbose=0,
        callbacks=callbacks,
    )
    return model


def start_from_imu_only(fusion: MultiModalFusionModel, imu_model: keras.Model) -> None:
    """Copy the trained inertial-only baseline (encoder and linear head) into a ``sum`` fusion model's
    inertial branch, so that fusion starts as the product of the pose and inertial experts."""
    trained = next(layer for layer in imu_model.layers if isinstance(layer, InertialEncoder))
    fusion.inertial_encoder.set_weights(trained.get_weights())
    fusion.head.get_layer("imu_correction").set_weights(imu_model.get_layer("probabilities").get_weights())


def train_stage2(
    config: TrainConfig,
    out_dir: str | Path,
    dataset: PoseDataset,
    pose_model: PoseClassifier,
    cache_dir=None,
    verbose: int | None = None,
    pose_metrics: dict | None = None,
) -> dict:
    """Train the fusion model and the single-modality baselines; write the run folder; return the summary.

    The folder is locked for the run (a second run into it is refused, see :func:`har_tf.io.run_folder_lock`).
    """
    out = Path(out_dir)
    with run_folder_lock(out):
        return _train_stage2(config, out, dataset, pose_model, cache_dir, verbose, pose_metrics)


def _train_stage2(
    config: TrainConfig,
    out: Path,
    dataset: PoseDataset,
    pose_model: PoseClassifier,
    cache_dir,
    verbose: int | None,
    pose_metrics: dict | None,
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    check_model_matches(pose_model, dataset)
    verbose = verbose if verbose is not None else (1 if sys.stdout.isatty() else 2)
    keras.utils.set_random_seed(config.seed)
    splits, notes = {s: dataset.split(s) for s in dataset.splits}, []
    if "test" not in splits:
        if "val" not in splits:
            raise InvalidInputError("stage 2 needs a test or val split to report on; this data has only 'train'")
        splits["test"] = splits["val"]
        notes.append("no test split in the data: the fusion metrics report the validation split")
    if "val" not in splits:
        notes.append("no validation split in the data: stage 2 trains on all of train and keeps its final weights")
    class_names = list(dataset.class_names)
    k = len(class_names)

    start = time.perf_counter()
    encoder, features, cache_file, from_cache = None, {}, None, False
    extras = {s: {} for s in splits}
    if "image" in config.modalities:
        if config.image_crop != "none" and "z" in dataset.channels:
            raise InvalidInputError(
                f"image_crop {config.image_crop!r} finds boxes from poses in the frames' pixels, but "
                f"this data's poses are 3D ({dataset.channels!r}): use image_crop none (whole "
                "frames; a converter can crop the frames around the person)"
            )
        encoder = frame_encoder_for(config, dataset)
        from har_tf.models.image_encoder import CROP_WORDS

        what = CROP_WORDS.get(encoder.crop, "whole frames")
        print(
            f"image features: {encoder.backbone_name} on {what} at {encoder.image_size}x{encoder.image_size}, "
            f"{encoder.num_frames} frames per clip",
            flush=True,
        )
        boxes = crop_boxes(dataset, encoder, dataset.splits)
        features, cache_file, from_cache = cached_frame_features(
            dataset, encoder, encoder_key(encoder), cache_dir, show_progress=verbose == 1, boxes=boxes
        )
        if "test" not in features:
            features["test"] = features["val"]
        for s in splits:
            extras[s]["frame_features"] = features[s]
    feature_seconds = time.perf_counter() - start
    if encoder is not None:
        print(
            f"  {'read from cache' if from_cache else 'computed and cached'} in {feature_seconds:.1f} s: "
            f"{cache_file or 'carried by the dataset'}",
            flush=True,
        )
    object_encoder = None
    if "objects" in config.modalities:
        from har_tf.data.objects import object_features
        from har_tf.models.object_encoder import ObjectEncoder

        objects, object_names = object_arrays(dataset, config.num_frames)
        objects.setdefault("test", objects.get("val"))
        for s in splits:
            raw_pose = dataset.split(s if s in dataset.splits else "val")[0]
            extras[s]["object_features"] = keras.ops.convert_to_numpy(
                object_features(objects[s], raw_pose, dataset.layout)
            )
        object_encoder = ObjectEncoder.from_preset(
            config.object_preset, config.num_frames, objects["train"].shape[2], class_names=object_names
        )
        print(
            f"object features: {objects['train'].shape[2]} detection slots per frame, classes {object_names[1:]}",
            flush=True,
        )
    inertial_encoder, imu = None, None
    if "imu" in config.modalities:
        imu = imu_arrays(dataset)
        imu.setdefault("test", imu.get("val"))
        for s in splits:
            extras[s]["imu"] = imu[s]
        inertial_encoder = inertial_encoder_for(config, dataset, imu["train"])
        imu_model = train_imu_only(imu, splits, k, config, dataset)  # the baseline, and the sum fusion's start
        rate = dataset.extras.get("imu_rate_hz")
        print(
            f"inertial samples: S = {imu['train'].shape[1]} samples of D = {imu['train'].shape[2]} channels per clip"
            + (f" ({float(rate):.1f} Hz)" if rate is not None else "")
            + f", {config.imu_preset} encoder",
            flush=True,
        )

    fusion = build_fusion(config, pose_model, encoder, dataset, object_encoder, inertial_encoder)
    head = fusion.head
    if inertial_encoder is not None and config.fusion == "sum":
        start_from_imu_only(fusion, imu_model)
        print(
            "  the inertial branch starts from the inertial-only baseline (sum fusion: a product of experts)",
            flush=True,
        )
    sampling = choose_sampling(config, splits["train"][0])
    common = dict(
        num_frames=config.num_frames, batch_size=config.batch_size, sampling=sampling, channels=dataset.channels
    )

    augment, _ = training_augmentation(config, dataset, *splits["train"])

    def pipeline(split, training=False):
        x, y = splits[split]
        return make_pose_dataset(
            x, y, dataset.layout, training=training, seed=config.seed, augment=augment, extras=extras[split], **common
        ).map(fusion_targets(k))

    train = pipeline("train", training=True)
    val = pipeline("val") if "val" in splits else None
    steps = int(np.ceil(len(splits["train"][1]) / config.batch_size))
    fusion_dir = out / "fusion"
    fusion_dir.mkdir(exist_ok=True)
    # Resuming after a kill: each phase keeps a BackupAndRestore folder, and the end of the frozen phase
    # is marked by its weights, so a rerun of the same command goes on where the last one stopped.
    marker, backups = (
        fusion_dir / "frozen_phase.weights.h5",
        [fusion_dir / "backup_frozen", fusion_dir / "backup_finetune"],
    )
    resuming = marker.is_file() or any(b.exists() for b in backups)
    history_csv = fusion_dir / "history.csv"
    if not resuming:
        history_csv.unlink(missing_ok=True)
    else:
        print(f"stage 2: resuming the interrupted run in {fusion_dir}", flush=True)
    timer = EpochTimes()
    callbacks = [
        keras.callbacks.CSVLogger(str(history_csv), append=True),
        keras.callbacks.TensorBoard(str(fusion_dir / "logs"), write_graph=False),
        timer,
    ]
    print(
        f"stage 2: {config.fusion} fusion, {config.fusion_epochs} epochs "
        f"({min(config.fusion_freeze_epochs, config.fusion_epochs)} with the "
        f"pose encoder frozen), {fusion.count_params():,} parameters "
        f"({sum(int(np.prod(w.shape)) for w in head.trainable_weights):,} trainable)",
        flush=True,
    )
    fit_start = time.perf_counter()
    frozen = min(config.fusion_freeze_epochs, config.fusion_epochs)
    if frozen and marker.is_file():
        head.load_weights(marker)
        print("  the frozen phase had finished: its weights are restored", flush=True)
    elif frozen:
        fusion.pose_backbone.trainable = False
        _compile(head, config, config.fusion_learning_rate, frozen * steps)
        head.fit(
            train,
            validation_data=val,
            epochs=frozen,
            verbose=verbose,
            shuffle=False,
            callbacks=[*callbacks, SafeBackupAndRestore(str(backups[0]))],
        )
        save_weights_atomic(head, marker)
    if config.fusion_epochs > frozen:
        fusion.pose_backbone.trainable = True
        _compile(
            head,
            config,
            config.fusion_learning_rate * (config.finetune_lr_scale if frozen else 1.0),
            (config.fusion_epochs - frozen) * steps,
        )
        head.fit(
            train,
            validation_data=val,
            initial_epoch=frozen,
            epochs=config.fusion_epochs,
            verbose=verbose,
            shuffle=False,
            callbacks=[*callbacks, SafeBackupAndRestore(str(backups[1]))],
        )
    fit_seconds = time.perf_counter() - fit_start
    save_keras_atomic(fusion, out / "fusion_model.keras")
    marker.unlink(missing_ok=True)
    plot_history_if_readable(history_csv, out / "fusion" / "training_curves.png")

    x_test, y_test = splits["test"]
    test_ds = make_pose_dataset(x_test, y_test, dataset.layout, extras=extras["test"], **common)
    predicted = head.predict(test_ds.map(lambda inputs, label: inputs), verbose=0)
    fused = _metrics(y_test, predicted["probabilities"], class_names, dataset)
    pose_branch = _metrics(y_test, predicted["pose_probabilities"], class_names, dataset)
    cached_epoch = float(np.median(timer.seconds)) if timer.seconds else None
    extra = {
        "model": "fusion",
        "fusion": config.fusion,
        "modalities": list(fusion.modalities),
        "backbone": encoder.backbone_name if encoder else None,
        "image_size": encoder.image_size if encoder else None,
        "parameters": int(fusion.count_params()),
        "imu_preset": config.imu_preset if inertial_encoder else None,
        "training_seconds": round(fit_seconds, 1),
        "feature_seconds": round(feature_seconds, 1),
        "features_from_cache": bool(from_cache),
        "cached_epoch_seconds": cached_epoch,
        "notes": notes,
    }
    fused_result = {"metrics": fused, "probabilities": predicted["probabilities"]}
    write_evaluation(out / "fusion", fused_result, y_test, class_names, extra, "fused on test")

    image_only = None
    if encoder is not None:
        image_model = train_image_only(features, splits, k, config)
        image_probabilities = image_model.predict(features["test"], verbose=0)
        image_only = _metrics(y_test, image_probabilities, class_names, dataset)
        write_evaluation(
            out / "image_only",
            {"metrics": image_only, "probabilities": image_probabilities},
            y_test,
            class_names,
            {"model": "image_only", "backbone": encoder.backbone_name, "parameters": int(image_model.count_params())},
            "image only on test",
        )
        save_keras_atomic(image_model, out / "image_only" / "image_only_head.keras")

    imu_only = None
    if inertial_encoder is not None:
        imu_probabilities = imu_model.predict(imu["test"], verbose=0)
        imu_only = _metrics(y_test, imu_probabilities, class_names, dataset)
        write_evaluation(
            out / "imu_only",
            {"metrics": imu_only, "probabilities": imu_probabilities},
            y_test,
            class_names,
            {"model": "imu_only", "imu_preset": config.imu_preset, "parameters": int(imu_model.count_params())},
            "inertial only on test",
        )
        save_keras_atomic(imu_model, out / "imu_only" / "imu_only_model.keras")

    summary = summarise(pose_metrics, pose_branch, image_only, fused, extra, imu_only=imu_only)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2))
    write_text_atomic(out / "summary.md", summary_table(summary) + "\n")
    return summary


def summarise(
    pose_metrics: dict | None,
    pose_branch: dict,
    image_only: dict | None,
    fused: dict,
    extra: dict,
    imu_only: dict | None = None,
) -> dict:
    """Accuracy, macro-F1 and in-group accuracy of each model on the test split."""

    def row(metrics):
        return {
            "accuracy": metrics["accuracy"],
            "macro_f1": metrics["macro_f1"],
            "groups": {name: g["accuracy"] for name, g in metrics.get("groups", {}).items()},
        }

    rows = {}
    if pose_metrics is not None:
        rows["pose_only (stage 1)"] = row(pose_metrics)
    rows["pose branch (after stage 2)"] = row(pose_branch)
    if image_only is not None:
        rows["image_only"] = row(image_only)
    if imu_only is not None:
        rows["imu_only"] = row(imu_only)
    rows["fused"] = row(fused)
    return {
        "models": rows,
        **{
            k: extra.get(k)
            for k in (
                "modalities",
                "backbone",
                "image_size",
                "imu_preset",
                "feature_seconds",
                "features_from_cache",
                "cached_epoch_seconds",
                "training_seconds",
            )
        },
    }


def summary_table(summary: dict) -> str:
    """The Markdown table of :func:`summarise`."""
    groups = sorted({g for r in summary["models"].values() for g in r["groups"]})
    head = "| model | accuracy | macro-F1 |" + "".join(f" inside {g} |" for g in groups)
    lines = [head, "|---" * (3 + len(groups)) + "|"]
    for name, r in summary["models"].items():
        cells = "".join(f" {r['groups'][g]:.1%} |" if r["groups"].get(g) is not None else " — |" for g in groups)
        lines.append(f"| {name} | {r['accuracy']:.1%} | {r['macro_f1']:.3f} |{cells}")
    return "\n".join(lines)
