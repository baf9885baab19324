"""tf.data pipelines from pose arrays: validation, sampling to a fixed length, normalisation, augmentation.

:func:`make_pose_dataset` yields ``(pose, label)`` batches: float32 ``(B, num_frames, J, C)`` and
int32 ``(B,)``. The sequences stay in one tensor and the pipeline moves example indices, so the
shuffle buffer is cheap (a full shuffle by default) and the per-example work is TensorFlow ops run
with parallel, order-preserving ``map``.

Determinism: evaluation (``training=False``) is a pure function of the inputs. In training, the
order comes from a seeded shuffle that reshuffles every epoch, and each element is zipped with a
number from ``tf.data.Dataset.random(seed, rerandomize_each_iteration=True)`` that seeds its
stateless augmentation. Two datasets built with the same ``seed`` therefore give identical batches
(epoch ``k`` of one equals epoch ``k`` of the other), while successive epochs (iterations) of one
dataset differ. Like every seeded TensorFlow op, the stream also depends on TensorFlow's global
seed (``tf.random.set_seed`` / ``keras.utils.set_random_seed``) at the time the dataset is built.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from har_tf.data.augmentation import AugmentConfig, augment_example
from har_tf.data.pose_npz import PoseDataset, check_pose_arrays
from har_tf.data.preprocessing import NORMALIZE_MODES, SAMPLING_MODES, preprocess_sequence, sequence_lengths
from har_tf.errors import InvalidInputError, expect
from har_tf.skeleton.layouts import JointLayout, get_layout


def _positive_int(value, name: str) -> int:
    expect(
        isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1,
        f"{name} must be a positive integer, got {value!r}",
    )
    return int(value)


def _check_arrays(x, y, layout: JointLayout, channels: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    x, y = check_pose_arrays(x, y, layout, channels=channels)
    expect(
        x.shape[0] > 0 and x.shape[1] > 0,
        f"x is empty: got shape {x.shape}, expected at least one sequence of one frame",
    )
    return x, y.astype(np.int32)


def make_pose_dataset(
    x,
    y,
    layout: str | JointLayout,
    *,
    num_frames: int = 30,
    batch_size: int = 32,
    training: bool = False,
    augment: AugmentConfig | None | bool = None,
    seed: int = 0,
    sampling: str = "resample",
    shuffle_buffer: int | None = None,
    drop_remainder: bool = False,
    normalize_mode: str = "sequence",
    extras: dict[str, np.ndarray] | None = None,
    shard: tuple[int, int] | None = None,
    channels: str | None = None,
) -> tf.data.Dataset:
    """A ``tf.data.Dataset`` of ``(pose float32 (B, num_frames, J, C), label int32 (B,))``.

    With ``extras`` (per-sequence arrays, e.g. cached ``frame_features`` (N, F, D)), the inputs
    become a dict ``{"pose": pose, **extras}``, each batched alongside its sequence.

    Args:
        x: pose sequences ``(N, T, J, C)``, zero-padded at the end (see :mod:`har_tf.data.pose_npz`).
        y: class indices ``(N,)``.
        layout: the joint layout of ``x`` (name or :class:`JointLayout`).
        num_frames: frames per output sequence.
        batch_size: sequences per batch.
        training: shuffle (reshuffled every epoch) and augment.
        augment: augmentation when ``training``; ``None`` = default :class:`AugmentConfig`,
            ``False`` (or ``AugmentConfig.disabled()``) = none. Ignored when not training.
        seed: seeds the shuffle and the per-example augmentation (see the module docstring).
        sampling: ``"resample"`` resamples the whole sequence to ``num_frames`` (training: random
            temporal crop and speed); ``"window"`` takes the centre ``num_frames`` frames (training:
            a random window of ``round(num_frames * speed)`` frames resampled to ``num_frames``).
        shuffle_buffer: shuffle buffer size (default: the whole dataset).
        drop_remainder: drop the last incomplete batch.
        normalize_mode: ``"sequence"`` or ``"frame"`` (see :func:`~har_tf.data.preprocessing.normalize_pose`).
        extras: named arrays with one row per sequence, passed through unchanged.
        shard: ``(num_shards, index)``: keep every ``num_shards``-th sequence from ``index`` (before
            shuffling, so the shards of several workers are disjoint and together cover the data).
        channels: what the C values of ``x`` are (``xy``, ``xyc``, ``xyz``, ``xyzc``; ``None`` = ``xy``
            for C = 2, ``xyc`` for C = 3): validity, normalisation and augmentation follow it (3D
            poses are normalised and augmented in 3D).
    """
    layout = get_layout(layout)
    x, y = _check_arrays(x, y, layout, channels)
    num_frames = _positive_int(num_frames, "num_frames")
    batch_size = _positive_int(batch_size, "batch_size")
    expect(sampling in SAMPLING_MODES, f"sampling must be one of {SAMPLING_MODES}, got {sampling!r}")
    expect(
        normalize_mode in NORMALIZE_MODES,
        f"normalize_mode must be one of {NORMALIZE_MODES}, got {normalize_mode!r}",
    )
    expect(isinstance(seed, (int, np.integer)) and not isinstance(seed, bool), f"seed must be an int, got {seed!r}")
    if augment is None or augment is True:
        augment = AugmentConfig()
    elif augment is False:
        augment = AugmentConfig.disabled()
    expect(isinstance(augment, AugmentConfig), f"augment must be an AugmentConfig, None or False, got {augment!r}")
    lengths = sequence_lengths(x)
    x = x[:, : max(int(lengths.max()), 1)]  # drop padding frames no sequence uses
    extras = dict(extras or {})
    for name, array in extras.items():
        expect(
            name != "pose" and len(array) == len(x),
            f"extras[{name!r}] must have one row per sequence ({len(x)}), got {len(array)} rows",
        )
    with tf.device("/cpu:0"):  # the arrays feed tf.data, which runs on the host
        poses, lengths_t, labels = tf.constant(x), tf.constant(lengths), tf.constant(y)
        extra_t = {name: tf.constant(np.asarray(array)) for name, array in extras.items()}
    n = len(x)

    def inputs(pose, i):
        return {"pose": pose, **{name: t[i] for name, t in extra_t.items()}} if extra_t else pose

    def evaluate(i):
        pose = preprocess_sequence(
            poses[i],
            lengths_t[i],
            layout,
            num_frames,
            sampling=sampling,
            normalize_mode=normalize_mode,
            channels=channels,
        )
        return inputs(pose, i), labels[i]

    def train(i, example_seed):
        pose = augment_example(
            poses[i],
            lengths_t[i],
            example_seed,
            layout,
            augment,
            num_frames,
            sampling=sampling,
            normalize_mode=normalize_mode,
            channels=channels,
        )
        return inputs(pose, i), labels[i]

    ds = tf.data.Dataset.range(n)
    if shard is not None:
        shards, index = (int(v) for v in shard)
        expect(
            shards >= 1 and 0 <= index < shards,
            f"shard must be (num_shards >= 1, 0 <= index < num_shards), got {shard}",
        )
        ds = ds.shard(shards, index)
        n = len(range(index, n, shards))
    if training:
        buffer = n if shuffle_buffer is None else _positive_int(shuffle_buffer, "shuffle_buffer")
        ds = ds.shuffle(buffer, seed=int(seed), reshuffle_each_iteration=True)
        seeds = tf.data.Dataset.random(seed=int(seed), rerandomize_each_iteration=True)
        ds = tf.data.Dataset.zip((ds, seeds)).map(train, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = ds.map(evaluate, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)


def make_pose_dataset_from(dataset: PoseDataset, split: str = "train", **kwargs) -> tf.data.Dataset:
    """:func:`make_pose_dataset` over one split of a :class:`PoseDataset` (its layout and channels are used).

    ``training`` is not implied by the split name: pass ``training=True`` for the training split.
    """
    if not isinstance(dataset, PoseDataset):
        raise InvalidInputError(f"expected a PoseDataset, got {type(dataset).__name__}")
    x, y = dataset.split(split)
    return make_pose_dataset(x, y, dataset.layout, **{"channels": dataset.channels, **kwargs})
