"""Training throughput: samples per second of stage-1 ``fit`` and of stage-2 ``fit`` with cached frame
features against decoding the frames and running them through the frozen backbone in every step.

The models are fresh (seeded, untrained): throughput does not depend on the weight values. The data is
a small synthetic set (generated once into the cache folder); batches are drawn from the training split
repeated, so every timed step is a full batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from pathlib import Path

SMALL_CLIPS_PER_CLASS = (6, 2, 3)
"""Train / val / test clips per class of the synthetic set the throughput runs on (72 training clips)."""
STAGE2_PATHS = ("cached", "uncached")
STAGE2_PHASES = ("pose encoder frozen", "pose encoder fine-tuned")


def training_dataset(cache_dir: str | Path | None = None, clips_per_class=SMALL_CLIPS_PER_CLASS):
    """The synthetic dataset (default seed) with ``clips_per_class``, from the cache or generated into it."""
    from har_tf.data.synthetic import SyntheticConfig, load_or_generate
    from har_tf.training.config import TrainConfig

    config = SyntheticConfig(seed=TrainConfig().seed, clips_per_class=tuple(clips_per_class))
    dataset, _, _ = load_or_generate(config, cache_dir, progress=False)
    return dataset


def _step_timer():
    """A Keras callback that keeps the wall-clock seconds of each training step in ``seconds``."""
    import keras

    class StepTimes(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds: list[float] = []

        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.seconds.append(time.perf_counter() - self._start)

    return StepTimes()


def _samples_per_second(model, data, steps: int, batch_size: int, warmup_steps: int = 2) -> dict:
    """Fit ``warmup_steps`` (at least 1: the first traces the train step), then time ``fit`` over ``steps``
    full batches: samples per second over the whole ``fit`` (data pipeline stalls included) and the median
    and p95 of the steps."""
    import numpy as np

    warmup_steps = max(int(warmup_steps), 1)
    model.fit(data.take(warmup_steps), epochs=1, verbose=0)
    timer = _step_timer()
    start = time.perf_counter()
    model.fit(data.take(steps), epochs=1, verbose=0, callbacks=[timer])
    seconds = time.perf_counter() - start
    step_ms = np.asarray(timer.seconds) * 1000.0
    return {
        "steps": int(steps),
        "batch_size": int(batch_size),
        "samples": int(steps * batch_size),
        "seconds": round(seconds, 3),
        "samples_per_second": steps * batch_size / seconds,
        "ms_per_step": 1000.0 * seconds / steps,
        "median_ms_per_step": float(np.median(step_ms)),
        "p95_ms_per_step": float(np.percentile(step_ms, 95)),
        "warmup_steps": int(warmup_steps),
    }


def stage1_throughput(
    cache_dir: str | Path | None = None,
    steps: int = 30,
    preset: str = "micro",
    clips_per_class=SMALL_CLIPS_PER_CLASS,
    warmup_steps: int = 2,
) -> dict:
    """Samples per second of stage-1 ``fit``: the default config's classifier (``preset``), optimiser, loss
    and augmented training pipeline."""
    import keras

    from har_tf.data.pipeline import make_pose_dataset
    from har_tf.training.config import TrainConfig
    from har_tf.training.stage1 import build_classifier, choose_sampling, training_augmentation

    config = TrainConfig(preset=preset)
    dataset = training_dataset(cache_dir, clips_per_class)
    keras.utils.set_random_seed(config.seed)
    x, y = dataset.split("train")
    data = make_pose_dataset(
        x,
        y,
        dataset.layout,
        num_frames=config.num_frames,
        batch_size=config.batch_size,
        training=True,
        seed=config.seed,
        augment=training_augmentation(config, dataset, x, y)[0],
        sampling=choose_sampling(config, x),
    )
    k = dataset.num_classes
    import tensorflow as tf

    data = (
        data.unbatch()
        .repeat()
        .batch(config.batch_size, drop_remainder=True)
        .map(lambda pose, label: (pose, tf.one_hot(label, k)))
        .prefetch(tf.data.AUTOTUNE)
    )
    model = build_classifier(config, dataset)
    model.compile(
        optimizer=keras.optimizers.AdamW(config.learning_rate, weight_decay=config.weight_decay, clipnorm=1.0),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )
    result = _samples_per_second(model, data, steps, config.batch_size, warmup_steps)
    return {
        "stage": 1,
        "model": f"PoseFormerFactorized ({preset})",
        "parameters": int(model.count_params()),
        "train_clips": int(len(y)),
        **result,
    }


@dataclasses.dataclass
class Stage2Setup:
    """A fresh fusion model and its two training pipelines (cached features; frames through the backbone)."""

    fusion: object
    cached: object
    uncached: object
    train_clips: int
    frames_per_clip: int
    batch_size: int
    extraction_seconds: float
    extraction_from_cache: bool
    image_size: int


def stage2_features(dataset, image_size: int | None = None, cache_dir: str | Path | None = None):
    """The frozen frame encoder of the default config and the training split's cached frame features:
    ``(encoder, features, seconds, from_cache)``."""
    from har_tf.data.feature_cache import cached_frame_features
    from har_tf.training.config import TrainConfig
    from har_tf.training.stage2 import crop_boxes, encoder_key, frame_encoder_for

    config = TrainConfig()
    encoder = frame_encoder_for(TrainConfig(image_size=image_size or config.image_size), dataset)
    start = time.perf_counter()
    boxes = crop_boxes(dataset, encoder, ("train",))
    features, _, from_cache = cached_frame_features(
        dataset, encoder, encoder_key(encoder), cache_dir, splits=("train",), boxes=boxes, show_progress=False
    )
    return encoder, features, time.perf_counter() - start, from_cache


def stage2_setup(
    dataset, image_size: int | None = None, cache_dir: str | Path | None = None, repeat: bool = False
) -> Stage2Setup:
    """Build the fusion model (fresh micro pose backbone + the frozen encoder) and both pipelines.

    ``repeat``: endless pipelines of full batches (throughput); otherwise one epoch each (epoch time).
    """
    import numpy as np
    import tensorflow as tf

    from har_tf.data.pipeline import make_pose_dataset
    from har_tf.models import PoseClassifier, PoseFormerFactorized
    from har_tf.training.config import TrainConfig
    from har_tf.training.stage2 import build_fusion, fusion_targets

    config = TrainConfig()
    encoder, features, seconds, from_cache = stage2_features(dataset, image_size, cache_dir)
    x, y = dataset.split("train")
    backbone = PoseFormerFactorized.from_preset(
        config.preset, dataset.layout, num_frames=config.num_frames, num_channels=dataset.num_channels
    )
    pose_model = PoseClassifier(backbone, dataset.num_classes, class_names=list(dataset.class_names))
    fusion = build_fusion(config, pose_model, encoder, dataset)
    k, num_frames = dataset.num_classes, encoder.num_frames
    blob, offsets = dataset.extras["frames_train_jpeg"], dataset.extras["frames_train_offsets"]
    jpegs = tf.constant([blob[offsets[i] : offsets[i + 1]].tobytes() for i in range(len(offsets) - 1)])
    raw_poses = tf.constant(x[:, : config.num_frames])

    def with_frames(inputs, label):  # the full model takes raw poses and frames: it normalises and crops itself
        index = inputs.pop("index")
        frames = tf.stack([tf.io.decode_jpeg(jpegs[index * num_frames + f], channels=3) for f in range(num_frames)])
        frames = tf.ensure_shape(frames, (num_frames, encoder.frame_size, encoder.frame_size, 3))
        return {"pose": raw_poses[index], "frames": frames}, label

    batch = config.batch_size
    common = dict(num_frames=config.num_frames, batch_size=batch, training=True, seed=0)
    cached = make_pose_dataset(x, y, dataset.layout, extras={"frame_features": features["train"]}, **common)
    raw = make_pose_dataset(x, y, dataset.layout, extras={"index": np.arange(len(y))}, **common).unbatch()
    if repeat:
        cached = cached.unbatch().repeat().batch(batch, drop_remainder=True)
        raw = raw.repeat()
    raw = raw.map(with_frames, num_parallel_calls=tf.data.AUTOTUNE).batch(batch, drop_remainder=repeat)
    return Stage2Setup(
        fusion,
        cached.map(fusion_targets(k)).prefetch(tf.data.AUTOTUNE),
        raw.map(fusion_targets(k)).prefetch(tf.data.AUTOTUNE),
        int(len(y)),
        num_frames,
        batch,
        round(seconds, 1),
        bool(from_cache),
        encoder.image_size,
    )


@contextlib.contextmanager
def whole_model_training():
    """Train the whole fusion model (frames through the backbone in every step) without TF's Grappler
    arithmetic optimiser, restored on exit. With ``each_hand`` crops, TF 2.21 rewrites the summed
    losses into an accumulator whose temporary variable outlives its step: a second ``fit`` fails with
    ``AlreadyExistsError: Resource __per_step_0/.../compile_loss/ArithmeticOptimizer/AddOpsRewrite_add_5/
    tmp_var``. Stage 2 itself trains on cached features and never meets it."""
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options()
    tf.config.optimizer.set_experimental_options({**before, "arithmetic_optimization": False})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options(
            {**before, "arithmetic_optimization": before.get("arithmetic_optimization", True)}
        )


def compile_stage2(model) -> None:
    """AdamW and cross-entropy on both of the fusion outputs."""
    import keras

    from har_tf.training.stage2 import OUTPUTS

    model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss={o: "categorical_crossentropy" for o in OUTPUTS})


def stage2_throughput(
    path: str,
    cache_dir: str | Path | None = None,
    steps: int = 20,
    phases=STAGE2_PHASES[:1],
    image_size: int | None = None,
    clips_per_class=SMALL_CLIPS_PER_CLASS,
    warmup_steps: int = 2,
) -> dict:
    """Samples per second of stage-2 ``fit`` on one ``path``: ``cached`` (the fusion head on cached frame
    features, as stage 2 trains) or ``uncached`` (the whole model on frames decoded from JPEG and run
    through the frozen backbone in every step), for each of ``phases`` (pose encoder frozen / fine-tuned).
    The feature cache must exist or is computed first (not timed)."""
    import keras

    if path not in STAGE2_PATHS:
        raise ValueError(f"path must be one of {STAGE2_PATHS}, got {path!r}")
    keras.utils.set_random_seed(0)
    setup = stage2_setup(training_dataset(cache_dir, clips_per_class), image_size, cache_dir, repeat=True)
    model, data = (setup.fusion.head, setup.cached) if path == "cached" else (setup.fusion, setup.uncached)
    rows = []
    for phase in phases:
        setup.fusion.pose_backbone.trainable = phase == STAGE2_PHASES[1]
        compile_stage2(model)
        with whole_model_training() if path == "uncached" else contextlib.nullcontext():
            rows.append({"phase": phase, **_samples_per_second(model, data, steps, setup.batch_size, warmup_steps)})
    return {
        "stage": 2,
        "path": path,
        "train_clips": setup.train_clips,
        "frames_per_clip": setup.frames_per_clip,
        "image_size": setup.image_size,
        "features_from_cache": setup.extraction_from_cache,
        "phases": rows,
    }
