"""The rules stage 1 uses to fit its schedule to the data: epochs, validation share, sampling, stratification."""

from __future__ import annotations

import numpy as np
import pytest

from har_tf.data.augmentation import AugmentConfig
from har_tf.data.laterality import lateralised_classes, resolve_flip
from har_tf.data.pose_npz import PoseDataset
from har_tf.errors import InvalidInputError
from har_tf.skeleton.layouts import get_layout
from har_tf.training.config import AUTO_VALIDATION_CLIPS, TrainConfig
from har_tf.training.stage1 import (
    choose_sampling,
    split_for_training,
    train_stage1,
    training_schedule,
    validation_fraction,
)
from tests.helpers import random_pixel_pose


def _dataset(n_train: int, n_test: int = 6, frames: int = 16, classes: int = 3, test: bool = True) -> PoseDataset:
    pose = random_pixel_pose("coco17", frames=frames, seed=0)
    x = np.broadcast_to(pose, (n_train + n_test, *pose.shape)).copy()
    y = np.arange(n_train + n_test) % classes
    names = [f"c{i}" for i in range(classes)]
    return PoseDataset(
        x[:n_train],
        y[:n_train],
        names,
        "coco17",
        x_test=x[n_train:] if test else None,
        y_test=y[n_train:] if test else None,
    )


def test_a_tiny_set_gets_at_least_the_minimum_steps():
    epochs, patience, rule = training_schedule(TrainConfig(train_steps=2000), num_train=40, global_batch=32)
    assert epochs * 2 >= 2000 and (epochs - 1) * 2 < 2000  # 2 steps an epoch
    assert patience == epochs // 5 and "2000 optimiser steps" in rule


def test_a_large_set_gets_the_minimum_epochs_and_stops_on_validation():
    epochs, patience, _ = training_schedule(
        TrainConfig(train_steps=2000, min_epochs=10), num_train=64_000, global_batch=32
    )
    assert epochs == 10 and patience == 10
    assert training_schedule(TrainConfig(epochs=7), 64_000, 32)[0] == 7, "a number of epochs is kept as given"


def test_tiny_set_trains_for_its_steps(tmp_path):
    config = TrainConfig(num_frames=8, batch_size=8, train_steps=12, min_epochs=2, warmup_epochs=0)
    metrics = train_stage1(config, tmp_path, dataset=_dataset(16), verbose=0)
    assert metrics["epochs_run"] == 6  # 2 steps an epoch, no validation on a small set with a test split
    assert any(note.startswith("epochs auto: 6 epochs of 2 steps") for note in metrics["notes"])


def test_validation_share_auto_follows_the_data():
    config = TrainConfig()
    assert validation_fraction(config, _dataset(100)) == 0.0
    assert validation_fraction(config, _dataset(100, test=False)) == 0.1
    assert validation_fraction(config, _dataset(AUTO_VALIDATION_CLIPS)) == 0.1
    assert validation_fraction(TrainConfig(val_fraction=0.3), _dataset(100)) == 0.3
    with pytest.raises(InvalidInputError, match="val_fraction must be a number in \\[0, 1\\) or auto"):
        TrainConfig(val_fraction="most")


def test_held_out_validation_is_stratified_by_class():
    dataset = _dataset(60, classes=3)
    dataset.y_train[:] = np.r_[np.zeros(40), np.ones(15), np.full(5, 2)].astype(dataset.y_train.dtype)
    splits, notes = split_for_training(dataset, TrainConfig(val_fraction=0.2))
    assert np.bincount(splits["val"][1], minlength=3).tolist() == [8, 3, 1]
    assert any("stratified" in note for note in notes)


@pytest.mark.parametrize(
    ("length", "expected"), [(20, "resample"), (66, "resample"), (119, "resample"), (120, "window"), (300, "window")]
)
def test_sampling_auto_resamples_trimmed_actions_and_windows_long_recordings(length, expected):
    x = _dataset(4, frames=length).x_train
    assert choose_sampling(TrainConfig(num_frames=30), x) == expected
    assert choose_sampling(TrainConfig(num_frames=30, sampling="window"), x) == "window"


def _waving(hands: list[int], clips: int = 6, frames: int = 20) -> np.ndarray:
    """Clips of a still person (coco17, pixels, confidence 1) moving the given joints up and down."""
    still = random_pixel_pose("coco17", frames=1, seed=3)[0]
    x = np.repeat(still[None, None], clips, 0).repeat(frames, 1).astype(np.float32)
    x[..., 2] = 1.0
    t = np.arange(frames)
    for i in range(clips):
        for joint in hands:
            x[i, :, joint, 1] += 30 * np.sin(t / 3 + i)
    return x


def test_flip_auto_is_off_for_one_handed_actions_and_on_for_two_handed_ones():
    layout = get_layout("coco17")  # wrists: 9 left, 10 right
    right, both = _waving([10]), _waving([9, 10])
    x, y = np.concatenate([right, both]), np.repeat([0, 1], 6)
    assert lateralised_classes(x, y, layout, "xyc") == [0]
    off, note = resolve_flip(AugmentConfig(flip_prob="auto"), x, y, layout, "xyc", ["wave_right", "clap"])
    assert off.flip_prob == 0.0 and "1 of 2 classes" in note and "wave_right" in note
    x2, y2 = np.concatenate([both, _waving([9, 10])]), np.repeat([0, 1], 6)
    on, _ = resolve_flip(AugmentConfig(flip_prob="auto"), x2, y2, layout, "xyc")
    assert on.flip_prob == 0.5
    kept, note = resolve_flip(AugmentConfig(flip_prob=0.3), x, y, layout, "xyc")
    assert kept.flip_prob == 0.3 and note is None
    assert TrainConfig().augment_config().flip_prob == "auto"
    assert TrainConfig(augment={"rotation_deg": 5}).augment_config().flip_prob == "auto"
    with pytest.raises(InvalidInputError, match="flip_prob must be a probability in \\[0, 1\\] or auto"):
        AugmentConfig(flip_prob="sometimes")
