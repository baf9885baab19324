"""Stage 1: train a pose classifier through ``model.fit`` and write everything a user looks at.

Outputs in the run folder: ``pose_model.keras`` (lowest validation loss; the final epoch with
``val_fraction 0``), ``config.json``,
``history.csv``, ``training_curves.png``, ``metrics.json`` (test split), ``confusion_matrix.png``,
``classification_report.txt``, ``predictions.csv``, ``logs/`` (TensorBoard) and, while training runs,
``backup/`` (BackupAndRestore: rerunning the same command after a kill resumes from the last epoch).

One run at a time per folder: the folder is locked while stage 1 trains (``.run.lock``, see
:func:`har_tf.io.run_folder_lock`). A run that starts fresh (no ``backup/`` left by an interrupted one)
replaces the folder's earlier ``history.csv`` and ``metrics.json``; a resumed one appends to its history.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from sklearn.utils.class_weight import compute_class_weight

from har_tf.data.augmentation import AugmentConfig
from har_tf.data.laterality import AUTO_FLIP_PROB, resolve_flip
from har_tf.data.pipeline import make_pose_dataset
from har_tf.data.pose_npz import PoseDataset, load_pose_npz
from har_tf.data.preprocessing import sequence_lengths
from har_tf.data.synthetic import SyntheticConfig, load_or_generate
from har_tf.data.tfrecords import TFRecordData, is_tfrecord_folder
from har_tf.errors import InvalidInputError
from har_tf.io import run_folder_lock, save_keras_atomic, write_text_atomic
from har_tf.models.baselines import DDNet, FullAttentionTransformer, LSTMLite
from har_tf.models.classifier import PoseClassifier
from har_tf.models.pose_former import PoseFormerFactorized, stream_parents
from har_tf.skeleton.channels import describe_channels, resolve_channels
from har_tf.training.callbacks import AtomicModelCheckpoint, SafeBackupAndRestore, TimeBudget
from har_tf.training.config import AUTO_VALIDATION_CLIPS, TrainConfig
from har_tf.training.distribute import fit_multiworker, make_strategy, worker_index
from har_tf.training.evaluation import evaluate_classifier, write_evaluation
from har_tf.training.reports import plot_history_if_readable

AUTO_WINDOW_LENGTHS = 4  # sampling auto: sequences this many times num_frames long are long recordings


def load_training_data(config: TrainConfig, cache_dir=None) -> tuple[PoseDataset, dict]:
    """The dataset named by ``config.data`` (the synthetic default or a pose dataset NPZ), and where
    it came from (``source``, and for the synthetic data ``cache_file`` and ``from_cache``)."""
    if config.data == "synthetic":
        synthetic = SyntheticConfig(seed=config.seed, clips_per_class=config.synthetic_clips_per_class)
        dataset, path, cached = load_or_generate(synthetic, cache_dir)
        return dataset, {"source": "synthetic", "cache_file": str(path), "from_cache": cached}
    return load_pose_npz(config.data), {"source": config.data}


def stage1_finished(run: Path, config: TrainConfig) -> bool:
    """Did an earlier run finish stage 1 in ``run`` with the same settings? (Its model, metrics and config are
    there, with the same settings, and no interrupted-training backup is left: a rerun can keep it.)"""
    run = Path(run)
    files = [run / "pose_model.keras", run / "metrics.json", run / "config.json"]
    if not all(f.is_file() for f in files) or (run / "backup").exists():
        return False
    try:
        saved = json.loads((run / "config.json").read_text())
    except (OSError, ValueError):  # a damaged config.json: the run is not one to keep
        return False
    if not isinstance(saved, dict):
        return False
    saved = {k: v for k, v in saved.items() if not k.startswith("resolved_")}
    return saved == json.loads(json.dumps(config.to_dict()))


def check_trainable(dataset: PoseDataset, labels: np.ndarray | None = None) -> None:
    """A clear error, before any model is built, when the training clips (``labels``, default the data's
    train split) do not hold at least two classes."""
    labels = dataset.split("train")[1] if labels is None else labels
    present = np.unique(np.asarray(labels))
    names = [str(dataset.class_names[i]) if 0 <= i < len(dataset.class_names) else str(i) for i in present]
    if len(dataset.class_names) < 2 or len(present) < 2:
        raise InvalidInputError(
            f"the training clips hold {len(present)} class{'es' if len(present) != 1 else ''} "
            f"{names} of {len(dataset.class_names)} named {list(map(str, dataset.class_names))}: "
            "a classifier needs training clips of at least 2 classes"
        )


def split_for_training(dataset: PoseDataset, config: TrainConfig) -> tuple[dict, list[str]]:
    """Train / val / test arrays; a missing validation split is held out of train (by subject when known).

    With ``config.val_fraction == 0`` and no validation split in the data, ``splits["val"]`` is None
    and the whole training split trains.
    """
    notes: list[str] = []
    splits = {s: dataset.split(s) for s in dataset.splits}
    fraction = validation_fraction(config, dataset)
    if config.val_fraction == "auto" and "val" not in splits:
        notes.append(
            f"val_fraction auto: {fraction:g} ({len(splits['train'][1])} training sequences"
            f"{', a test split' if 'test' in splits else ', no test split'})"
        )
    if "val" not in splits and fraction == 0:
        if "test" not in splits:
            raise InvalidInputError(
                "val_fraction 0 needs a test split in the data to report on; this data has "
                f"only {list(dataset.splits)}: use a val_fraction above 0"
            )
        splits["val"] = None
        notes.append(
            f"no validation (val_fraction 0): trained on all {len(splits['train'][1])} training "
            "sequences; pose_model.keras holds the final epoch's weights"
        )
    elif "val" not in splits:
        x, y = splits["train"]
        rng = np.random.default_rng(config.seed)
        subjects = dataset.extras.get("subject_train")
        if subjects is not None and len(np.unique(subjects)) >= 3:
            people = rng.permutation(np.unique(subjects))
            count = max(1, int(round(fraction * len(people))))
            held = np.isin(subjects, people[:count])
            notes.append(
                f"no validation split in the data: held out {held.sum()} training sequences of "
                f"{count} subjects {sorted(people[:count].tolist())} for validation"
            )
        else:
            held = np.zeros(len(y), bool)
            for label in np.unique(y):
                idx = rng.permutation(np.flatnonzero(y == label))
                held[idx[: max(1, int(round(fraction * len(idx))))]] = True
            notes.append(
                f"no validation split in the data: held out {held.sum()} training sequences "
                f"({fraction:.0%} of each class, stratified) for validation"
            )
        splits["train"], splits["val"] = (x[~held], y[~held]), (x[held], y[held])
    if "test" not in splits:
        splits["test"] = splits["val"]
        notes.append("no test split in the data: metrics.json reports the validation split")
    return splits, notes


def records_for_training(records: TFRecordData) -> tuple[PoseDataset, dict, list[str]]:
    """Stage 1 on a sharded TFRecord folder: the train split streams from its shards (see
    :meth:`TFRecordData.dataset`); validation and test, small by nature, are read into memory.

    Returns a :class:`PoseDataset` with the evaluation split (for the model's shape and the report),
    the splits (``train`` as ``(None, labels)``) and notes.
    """
    notes = [
        f"streaming {records.count('train')} training clips from {len(records.splits['train']['shards'])} "
        f"TFRecord shards in {records.folder}"
    ]
    evaluation = "test" if "test" in records.splits else "val"
    if evaluation not in records.splits:
        raise InvalidInputError(
            f"{records.folder}: a TFRecord dataset for training needs a test or val split to "
            f"report on; it has {sorted(records.splits)}"
        )
    x_test, y_test = records.arrays(evaluation)
    if evaluation == "val":
        notes.append("no test split in the data: metrics.json reports the validation split")
    labels = np.fromiter((int(label) for _, _, label, _ in records.records("train").as_numpy_iterator()), np.int64)
    dataset = PoseDataset(x_test, y_test, records.class_names, records.layout, channels=records.channels)
    splits = {
        "train": (None, labels),
        "val": records.arrays("val") if "val" in records.splits else None,
        "test": (x_test, y_test),
    }
    if splits["val"] is None:
        notes.append("no validation split in the TFRecord data: the final epoch's weights are kept")
    return dataset, splits, notes


def validation_fraction(config: TrainConfig, dataset: PoseDataset) -> float:
    """``config.val_fraction``, with ``auto`` resolved: 0 for a small dataset that has a test split, else 0.1."""
    if config.val_fraction != "auto":
        return float(config.val_fraction)
    small = len(dataset.split("train")[1]) < AUTO_VALIDATION_CLIPS
    return 0.0 if small and "test" in dataset.splits else 0.1


def choose_sampling(config: TrainConfig, x: np.ndarray) -> str:
    """``config.sampling``, with ``auto`` resolved: ``resample`` for trimmed actions (median length under
    ``AUTO_WINDOW_LENGTHS * num_frames``), ``window`` for long recordings."""
    if config.sampling != "auto":
        return config.sampling
    return "window" if np.median(sequence_lengths(x)) >= AUTO_WINDOW_LENGTHS * config.num_frames else "resample"


def training_augmentation(
    config: TrainConfig, dataset: PoseDataset, x: np.ndarray | None, y: np.ndarray
) -> tuple[AugmentConfig, str | None]:
    """The augmentation of ``config``, ``flip_prob: auto`` decided from the training clips ``x``, ``y``
    (:func:`~har_tf.data.laterality.resolve_flip`), and a note when it was decided."""
    augment = config.augment_config()
    if x is None and augment.flip_prob == "auto":  # streamed TFRecord data is not read ahead
        return (
            dataclasses.replace(augment, flip_prob=AUTO_FLIP_PROB),
            f"flip_prob auto: {AUTO_FLIP_PROB} (streamed training data is not inspected)",
        )
    return resolve_flip(augment, x, y, dataset.layout, dataset.channels, dataset.class_names)


def training_schedule(config: TrainConfig, num_train: int, global_batch: int) -> tuple[int, int, str]:
    """Epochs, early-stopping patience and a one-line account of the rule, for ``num_train`` clips.

    ``epochs: auto`` gives ``ceil(train_steps / steps_per_epoch)`` epochs, at least ``min_epochs``.
    """
    steps = int(np.ceil(num_train / global_batch))
    if config.epochs == "auto":
        epochs = max(config.min_epochs, int(np.ceil(config.train_steps / steps)))
        rule = (
            f"epochs auto: {epochs} epochs of {steps} steps ({epochs * steps} optimiser steps; "
            f"the rule aims for {config.train_steps}, at least {config.min_epochs} epochs)"
        )
    else:
        epochs = config.epochs
        rule = f"{epochs} epochs of {steps} steps ({epochs * steps} optimiser steps)"
    patience = config.early_stopping_patience or max(10, epochs // 5)
    return epochs, patience, rule


def build_classifier(config: TrainConfig, dataset: PoseDataset) -> PoseClassifier:
    """The classifier named by ``config.model`` for this dataset's layout, channels and classes."""
    layout, channels, described = dataset.layout, dataset.num_channels, dataset.channels
    if config.model == "poseformer":
        backbone = PoseFormerFactorized.from_preset(
            config.preset,
            layout,
            num_frames=config.num_frames,
            num_channels=channels,
            streams=config.streams,
            dropout=config.dropout,
            channels=described,
            drop_path=config.drop_path,
            pooling=config.pooling,
            temporal_kernel=config.temporal_kernel,
            stream_norm=config.stream_norm,
            frame_token=config.frame_token,
            temporal_pooling=config.temporal_pooling,
        )
    elif config.model == "full_attention":
        backbone = FullAttentionTransformer.from_preset(
            config.preset,
            layout,
            num_frames=config.num_frames,
            num_channels=channels,
            streams=config.streams,
            dropout=config.dropout,
            channels=described,
        )
    elif config.model == "ddnet":  # the paper's size and its own dropout; streams and preset do not apply
        backbone = DDNet.from_preset(
            "base", layout, num_frames=config.num_frames, num_channels=channels, channels=described
        )
    else:
        backbone = LSTMLite(
            layout.num_joints,
            config.num_frames,
            channels,
            streams=config.streams,
            parents=stream_parents(layout, config.streams),
            layout=layout.name,
            channels=described,
        )
    dropout = backbone.dropout if config.model == "ddnet" else config.dropout
    return PoseClassifier(backbone, dataset.num_classes, class_names=list(dataset.class_names), dropout=dropout)


def _class_weights(y: np.ndarray, num_classes: int, mode: str) -> dict[int, float] | None:
    counts = np.bincount(y, minlength=num_classes)
    if mode == "none" or counts.min() == 0 or counts.max() <= 1.5 * counts.min():
        return None
    weights = compute_class_weight("balanced", classes=np.arange(num_classes), y=y)
    return {i: float(w) for i, w in enumerate(weights)}


def _one_hot(num_classes: int):
    return lambda pose, label: (pose, tf.one_hot(label, num_classes))


def train_stage1(
    config: TrainConfig,
    out_dir: str | Path,
    dataset: PoseDataset | None = None,
    cache_dir=None,
    verbose: int | None = None,
    extra_callbacks: list[keras.callbacks.Callback] | None = None,
) -> dict:
    """Train, evaluate on the test split and write the run folder; returns the metrics.

    ``extra_callbacks`` run after the built-in ones (e.g. a notebook's live plot). The folder is locked
    for the run (a second run into it is refused, :class:`~har_tf.io.RunFolderBusyError`); a multi-worker
    run locks each worker's own folder.
    """
    out = Path(out_dir)
    if config.strategy == "multiworker":  # every worker gets the same out: each locks its own run folder
        return _train_stage1(config, out, dataset, cache_dir, verbose, extra_callbacks)
    with run_folder_lock(out):
        return _train_stage1(config, out, dataset, cache_dir, verbose, extra_callbacks)


def _train_stage1(
    config: TrainConfig,
    out: Path,
    dataset: PoseDataset | None,
    cache_dir,
    verbose: int | None,
    extra_callbacks: list[keras.callbacks.Callback] | None,
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    records = None
    if dataset is None and is_tfrecord_folder(config.data):
        records = TFRecordData(config.data)
        dataset, splits, notes = records_for_training(records)
    else:
        dataset = dataset if dataset is not None else load_training_data(config, cache_dir)[0]
        splits, notes = split_for_training(dataset, config)
    check_trainable(dataset, splits["train"][1])
    for note in notes:
        print(note, flush=True)
    sampling = choose_sampling(config, splits["test"][0] if records else splits["train"][0])
    layout, k = dataset.layout, dataset.num_classes
    strategy = make_strategy(config.strategy)
    global_batch = config.batch_size * strategy.num_replicas_in_sync
    if strategy.num_replicas_in_sync > 1:
        notes.append(
            f"strategy {config.strategy}: {strategy.num_replicas_in_sync} replicas, global batch {global_batch}"
        )
    common = dict(num_frames=config.num_frames, batch_size=global_batch, sampling=sampling)
    channels = dict(channels=dataset.channels)
    steps = int(np.ceil(len(splits["train"][1]) / global_batch))  # labels only for TFRecord data
    epochs, patience, rule = training_schedule(config, len(splits["train"][1]), global_batch)
    notes.append(rule)
    print(rule, flush=True)
    augment, flip_note = training_augmentation(config, dataset, *splits["train"])
    if flip_note:
        notes.append(flip_note)
        print(flip_note, flush=True)
    resolved = {
        "resolved_sampling": sampling,
        "resolved_epochs": epochs,
        "resolved_patience": patience,
        "resolved_flip_prob": augment.flip_prob,
    }
    if (
        config.strategy != "multiworker" and not (out / "backup").is_dir()
    ):  # a fresh start: the folder's earlier results are not this run's
        for stale in ("metrics.json", "history.csv"):
            (out / stale).unlink(missing_ok=True)
    write_text_atomic(out / "config.json", json.dumps({**config.to_dict(), **resolved}, indent=2))
    config = dataclasses.replace(config, epochs=epochs, early_stopping_patience=patience)
    if config.strategy == "multiworker":
        if records is not None:
            raise InvalidInputError(
                "strategy 'multiworker' reads the data from an NPZ (each worker its shard); "
                "TFRecord folders train with the other strategies"
            )
        return _train_multiworker(config, out, dataset, splits, sampling, augment, notes, strategy, verbose)
    if records is not None:
        train = records.dataset("train", training=True, seed=config.seed, augment=augment, **common).map(_one_hot(k))
    else:
        train = make_pose_dataset(
            *splits["train"], layout, training=True, seed=config.seed, augment=augment, **common, **channels
        ).map(_one_hot(k))
    val = None
    if splits["val"]:
        val = make_pose_dataset(*splits["val"], layout, **common, **channels).map(_one_hot(k))

    with strategy.scope():  # the default strategy's scope changes nothing
        model = build_classifier(config, dataset)
        model.compile(
            optimizer=_optimizer(config, steps),
            metrics=["accuracy"],
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        )
    selection = (
        [
            AtomicModelCheckpoint(out / "pose_model.keras", monitor="val_loss", save_best_only=True),
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=config.early_stopping_patience, restore_best_weights=True
            ),
        ]
        if val is not None
        else [AtomicModelCheckpoint(out / "pose_model.keras")]
    )
    callbacks = [
        SafeBackupAndRestore(str(out / "backup")),
        # with EMA on, the averaged weights are in place from each epoch's end to the next one's
        # start, so validation, the checkpoint and the saved model all use them
        *([keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if config.ema_momentum is not None else []),
        *selection,
        keras.callbacks.CSVLogger(str(out / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(out / "logs"), write_graph=False),
        *(extra_callbacks or []),
    ]
    budget = TimeBudget(config.time_budget_minutes) if config.time_budget_minutes else None
    if budget is not None:
        callbacks.append(budget)
    size = {"lstm_lite": "lstm", "ddnet": "f=64"}.get(config.model, config.preset)
    print(
        f"training {config.model} ({size}, "
        f"{model.count_params():,} parameters) on {len(splits['train'][1])} sequences, "
        f"validating on {len(splits['val'][1]) if val is not None else 'none'}, sampling={sampling}",
        flush=True,
    )
    start = time.perf_counter()
    model.fit(
        train,
        validation_data=val,
        epochs=config.epochs,
        callbacks=callbacks,
        shuffle=False,  # tf.data shuffles
        class_weight=_class_weights(splits["train"][1], k, config.class_weights),
        verbose=verbose if verbose is not None else (1 if sys.stdout.isatty() else 2),
    )
    seconds = time.perf_counter() - start
    if budget is not None and budget.stopped_epoch is not None:
        notes.append(
            f"time budget of {config.time_budget_minutes:g} min reached in epoch {budget.stopped_epoch} "
            f"of {config.epochs}"
        )
        print(notes[-1], flush=True)
    best = keras.saving.load_model(out / "pose_model.keras", safe_mode=True)
    return _evaluate_and_write(config, out, best, dataset, splits, sampling, notes, seconds)


def _optimizer(config: TrainConfig, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """AdamW with linear warm-up then cosine decay (and the weight EMA when asked for)."""
    steps = steps_per_epoch
    warmup = min(config.warmup_epochs * steps, max(config.epochs * steps - 1, 0))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=config.learning_rate * (0.01 if warmup else 1.0),
        decay_steps=max(config.epochs * steps - warmup, 1),
        warmup_target=config.learning_rate if warmup else None,
        warmup_steps=warmup,
        alpha=0.01,
    )
    return keras.optimizers.AdamW(
        schedule,
        weight_decay=config.weight_decay,
        clipnorm=1.0,
        use_ema=config.ema_momentum is not None,
        ema_momentum=config.ema_momentum or 0.99,
    )


def _train_multiworker(
    config: TrainConfig,
    out: Path,
    dataset: PoseDataset,
    splits: dict,
    sampling: str,
    augment: AugmentConfig,
    notes: list[str],
    strategy,
    verbose: int | None,
) -> dict:
    """Stage 1 on several machines: a custom loop (see :mod:`har_tf.training.distribute`). The chief
    (worker 0) writes the run folder; worker ``i`` writes its copy under ``OUT/workers/<i>/``."""
    index = worker_index(strategy)
    run = out if index == 0 else out / "workers" / str(index)
    with run_folder_lock(run):
        return _train_worker(config, run, index, dataset, splits, sampling, augment, notes, strategy, verbose)


def _train_worker(
    config: TrainConfig,
    run: Path,
    index: int,
    dataset: PoseDataset,
    splits: dict,
    sampling: str,
    augment: AugmentConfig,
    notes: list[str],
    strategy,
    verbose: int | None,
) -> dict:
    x, y = splits["train"]
    k, global_batch = dataset.num_classes, config.batch_size * strategy.num_replicas_in_sync
    steps = len(y) // global_batch
    if steps < 1:
        raise InvalidInputError(
            f"{len(y)} training sequences make no full global batch of {global_batch} "
            f"({config.batch_size} per replica x {strategy.num_replicas_in_sync} replicas)"
        )
    notes.append(
        f"multi-worker: worker {index} of {strategy.extended._num_workers}, each reading its shard of the "
        f"training data; {steps} global steps of {global_batch} per epoch; no validation during training, "
        "the final epoch's weights are kept"
    )
    if config.ema_momentum is not None or config.time_budget_minutes:
        notes.append("multi-worker: ema_momentum and time_budget_minutes are not used by the custom loop")
    for note in notes[-2:]:
        if note.startswith("multi-worker"):
            print(note, flush=True)

    def build():
        model = build_classifier(config, dataset)
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing, reduction=None)
        optimizer = _optimizer(dataclasses.replace(config, ema_momentum=None), steps)
        return model, optimizer, loss

    def make_dataset(shards: int, shard: int, per_replica_batch: int):
        return (
            make_pose_dataset(
                x,
                y,
                dataset.layout,
                training=True,
                seed=config.seed,
                augment=augment,
                num_frames=config.num_frames,
                batch_size=per_replica_batch,
                sampling=sampling,
                drop_remainder=True,
                shard=(shards, shard),
                channels=dataset.channels,
            )
            .map(_one_hot(k))
            .repeat()
        )

    start = time.perf_counter()
    model, _ = fit_multiworker(
        strategy,
        build,
        make_dataset,
        config.epochs,
        steps,
        global_batch,
        history_csv=run / "history.csv",
        verbose=verbose != 0,
    )
    seconds = time.perf_counter() - start
    single = build_classifier(config, dataset)  # outside the strategy: saving and evaluating are local
    single.set_weights([w.numpy() for w in model.weights])
    save_keras_atomic(single, run / "pose_model.keras")
    return _evaluate_and_write(config, run, single, dataset, splits, sampling, notes, seconds)


def _evaluate_and_write(
    config: TrainConfig,
    out: Path,
    best: keras.Model,
    dataset: PoseDataset,
    splits: dict,
    sampling: str,
    notes: list[str],
    seconds: float,
) -> dict:
    """Evaluate the kept model on the test split and write metrics, report and plots into ``out``."""
    layout = dataset.layout
    x_test, y_test = splits["test"]
    result = evaluate_classifier(
        best,
        x_test,
        y_test,
        layout,
        list(dataset.class_names),
        config.num_frames,
        sampling,
        dataset.extras.get("class_group"),
        [str(g) for g in dataset.extras.get("group_names", [])],
        channels=dataset.channels,
    )
    history = {}
    if (out / "history.csv").exists():
        plot_history_if_readable(out / "history.csv", out / "training_curves.png")
        history = {"epochs_run": max(len((out / "history.csv").read_text().strip().splitlines()) - 1, 0)}
    extra = {
        "model": config.model,
        "preset": config.preset,
        "parameters": int(best.count_params()),
        "training_seconds": round(seconds, 1),
        "sampling": sampling,
        "notes": notes,
        **history,
    }
    return write_evaluation(out, result, y_test, list(dataset.class_names), extra, f"{config.model} on test")


def model_channels(model: keras.Model) -> str:
    """The channel description of a pose model's ``pose`` input (its backbone's ``channels``, else C's default)."""
    backbone = getattr(model, "backbone", model)
    return resolve_channels(getattr(backbone, "channels", None), model.input_shape[-1])


def check_model_matches(model: keras.Model, dataset: PoseDataset) -> None:
    """A clear error when a trained model does not fit a dataset (layout, channels, classes)."""
    _, _, joints, channels = model.input_shape
    if joints != dataset.layout.num_joints or channels != dataset.num_channels:
        raise InvalidInputError(
            f"the model expects poses with J={joints} joints and C={channels} channels, but the data has "
            f"J={dataset.layout.num_joints} ({dataset.layout.name}) and C={dataset.num_channels}"
        )
    described = model_channels(model)
    data_channels = resolve_channels(dataset.channels, dataset.num_channels)
    if described != data_channels:
        raise InvalidInputError(
            f"the model takes poses of channels {described!r} ({describe_channels(described)}) "
            f"but the data's are {data_channels!r} ({describe_channels(data_channels)}): "
            "train a model on this data's channels"
        )
    recorded = getattr(getattr(model, "backbone", model), "layout", None)
    if recorded is not None:
        name = recorded.get("name") if isinstance(recorded, dict) else str(recorded)
        if name not in (None, "custom") and name != dataset.layout.name:
            raise InvalidInputError(
                f"the model was trained on poses of joint layout {name!r} but the data's is "
                f"{dataset.layout.name!r}: convert the poses (har_tf.convert_pose) or train a "
                "stage-1 model on this layout"
            )
    names = getattr(model, "class_names", None)
    if names is not None and list(names) != list(dataset.class_names):
        raise InvalidInputError(f"the model's classes {names} differ from the data's {list(dataset.class_names)}")
