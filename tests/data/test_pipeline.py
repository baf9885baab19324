"""tf.data pipeline: shapes per layout, eval = preprocessing, seeded training stream, input errors."""

from __future__ import annotations

import numpy as np
import pytest

from har_tf.data.augmentation import AugmentConfig
from har_tf.data.pipeline import make_pose_dataset, make_pose_dataset_from
from har_tf.data.pose_npz import PoseDataset
from har_tf.data.preprocessing import preprocess_sequence, sequence_lengths
from har_tf.errors import InvalidInputError
from har_tf.skeleton.layouts import custom_layout

CUSTOM15 = custom_layout([f"joint_{i}" for i in range(15)], [(i, i + 1) for i in range(14)])


def pose_arrays(num_joints, channels, n=10, frames=40, seed=0):
    """Pixel pose sequences with varied true lengths (zero padding at the end) and labels."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(50.0, 900.0, (n, frames, num_joints, 3)).astype(np.float32)
    x[..., 2] = rng.uniform(0.2, 1.0, (n, frames, num_joints))
    x[rng.uniform(size=(n, frames, num_joints)) < 0.1] = 0.0
    for i, length in enumerate(rng.integers(1, frames + 1, n)):
        x[i, length if i else frames :] = 0.0  # sequence 0 keeps its full length
    y = np.arange(n) % 3
    return (x if channels == 3 else x[..., :2].copy()), y


def collect(ds):
    poses, labels = zip(*[(p.numpy(), lab.numpy()) for p, lab in ds])
    return np.concatenate(poses), np.concatenate(labels)


@pytest.mark.parametrize(
    ("layout", "num_joints", "channels"), [("coco17", 17, 3), ("body25", 25, 3), (CUSTOM15, 15, 2)]
)
@pytest.mark.parametrize("sampling", ["resample", "window"])
def test_shapes_and_dtypes(layout, num_joints, channels, sampling):
    x, y = pose_arrays(num_joints, channels)
    for training in (False, True):
        ds = make_pose_dataset(x, y, layout, num_frames=16, batch_size=4, training=training, sampling=sampling)
        batches = list(ds)
        assert [b[0].shape[0] for b in batches] == [4, 4, 2]
        pose, label = batches[0]
        assert pose.shape == (4, 16, num_joints, channels) and pose.dtype.name == "float32"
        assert label.shape == (4,) and label.dtype.name == "int32"
        everything = np.concatenate([b[0].numpy() for b in batches])
        assert np.isfinite(everything).all() and np.abs(everything).max() <= 20


@pytest.mark.parametrize("sampling", ["resample", "window"])
def test_eval_pipeline_equals_direct_preprocessing(sampling):
    x, y = pose_arrays(25, 3, n=7)
    ds = make_pose_dataset(x, y, "body25", num_frames=12, batch_size=3, sampling=sampling)
    poses, labels = collect(ds)
    again, _ = collect(ds)
    lengths = sequence_lengths(x)
    expected = np.stack(
        [preprocess_sequence(x[i], lengths[i], "body25", 12, sampling=sampling).numpy() for i in range(7)]
    )
    np.testing.assert_array_equal(poses, expected)
    np.testing.assert_array_equal(again, expected)
    np.testing.assert_array_equal(labels, y)


def test_training_stream_is_reproducible_and_changes_between_epochs():
    x, y = pose_arrays(17, 3, n=12)

    def build(seed):
        return make_pose_dataset(x, y, "coco17", num_frames=10, batch_size=5, training=True, seed=seed)

    first, second = build(3), build(3)
    epochs_a = [collect(first) for _ in range(2)]
    epochs_b = [collect(second) for _ in range(2)]
    for (pa, la), (pb, lb) in zip(epochs_a, epochs_b):
        np.testing.assert_array_equal(pa, pb)
        np.testing.assert_array_equal(la, lb)
    (p0, l0), (p1, l1) = epochs_a
    assert not np.array_equal(l0, l1)  # reshuffled
    assert sorted(l0.tolist()) == sorted(y.tolist())  # every example once per epoch
    in_order = make_pose_dataset(x, y, "coco17", num_frames=10, batch_size=12, training=True, shuffle_buffer=1)
    (q0, m0), (q1, m1) = collect(in_order), collect(in_order)
    np.testing.assert_array_equal(m0, y)
    np.testing.assert_array_equal(m1, y)
    assert not np.allclose(q0, q1)  # same order, new augmentation seeds each epoch
    other, _ = collect(build(4))
    assert not np.allclose(other, p0)


def test_training_without_augmentation_only_shuffles():
    x, y = pose_arrays(17, 3, n=6)
    y = np.arange(6)
    ds = make_pose_dataset(x, y, "coco17", num_frames=8, batch_size=6, training=True, augment=False)
    poses, labels = collect(ds)
    ref, _ = collect(make_pose_dataset(x, y, "coco17", num_frames=8, batch_size=6))
    np.testing.assert_array_equal(poses, ref[labels])


def test_make_pose_dataset_from_pose_dataset():
    x, y = pose_arrays(17, 3, n=6)
    data = PoseDataset(x, y, ("a", "b", "c"), "coco17", x_test=x[:2], y_test=y[:2])
    ds = make_pose_dataset_from(data, "test", num_frames=8, batch_size=8)
    poses, labels = collect(ds)
    assert poses.shape == (2, 8, 17, 3) and labels.tolist() == y[:2].tolist()
    with pytest.raises(InvalidInputError, match="no 'val' split"):
        make_pose_dataset_from(data, "val")


def test_drop_remainder():
    x, y = pose_arrays(17, 3, n=10)
    ds = make_pose_dataset(
        x, y, "coco17", batch_size=4, drop_remainder=True, training=True, augment=AugmentConfig(flip_prob=1.0)
    )
    assert [b[0].shape[0] for b in ds] == [4, 4]


def test_clear_errors_for_bad_inputs():
    x, y = pose_arrays(17, 3, n=4, frames=6)
    cases = [
        ((x[0], y), "shape \\(N, T, J, C\\)"),
        ((np.concatenate([x, x[..., :1]], -1), y), "C=4"),
        ((x, y, "body25"), "J=17 joints but layout 'body25' has 25"),
        ((x, y[:3]), "one label per sequence"),
        ((x[:0], y[:0]), "empty"),
        ((x, y + 0.5), "integer class indices"),
    ]
    for args, message in cases:
        if len(args) == 2:
            args = (*args, "coco17")
        with pytest.raises(InvalidInputError, match=message):
            make_pose_dataset(*args)
    with pytest.raises(InvalidInputError, match="sampling"):
        make_pose_dataset(x, y, "coco17", sampling="random")
    with pytest.raises(InvalidInputError, match="batch_size"):
        make_pose_dataset(x, y, "coco17", batch_size=0)
    with pytest.raises(InvalidInputError, match="augment"):
        make_pose_dataset(x, y, "coco17", training=True, augment={"flip_prob": 1})
