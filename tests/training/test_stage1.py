"""Stage-1 training choices a user relies on: how validation is held out, no-validation runs, time budgets."""

from __future__ import annotations

import csv
import json

import keras
import numpy as np
import pytest

from har_tf.data.pose_npz import PoseDataset
from har_tf.errors import InvalidInputError
from har_tf.training.callbacks import TimeBudget
from har_tf.training.config import TrainConfig
from har_tf.training.stage1 import split_for_training, train_stage1
from tests.helpers import random_pixel_pose


def _dataset(n_train: int = 24, n_test: int = 6, subjects: bool = True, test: bool = True) -> PoseDataset:
    x = np.stack([random_pixel_pose("coco17", frames=16, seed=i) for i in range(n_train + n_test)])
    y = np.arange(n_train + n_test) % 3
    extras = {"subject_train": np.arange(n_train) % 6} if subjects else {}
    return PoseDataset(
        x[:n_train],
        y[:n_train],
        ["a", "b", "c"],
        "coco17",
        x_test=x[n_train:] if test else None,
        y_test=y[n_train:] if test else None,
        extras=extras,
    )


def _config(**overrides) -> TrainConfig:
    return TrainConfig(**{"num_frames": 8, "epochs": 2, "batch_size": 8, "warmup_epochs": 0, **overrides})


def test_validation_is_held_out_by_whole_subjects():
    dataset = _dataset()
    splits, notes = split_for_training(dataset, _config(val_fraction=0.34))
    subjects = dataset.extras["subject_train"]
    held = np.isin(
        np.arange(len(subjects)),
        [i for i in range(len(subjects)) if any((dataset.x_train[i] == v).all() for v in splits["val"][0])],
    )
    assert held.sum() == len(splits["val"][1]) == 8  # 2 of 6 subjects, 4 sequences each
    assert not set(subjects[held]) & set(subjects[~held]), "a subject is on both sides of the split"
    assert "2 subjects" in notes[0]


def test_val_fraction_zero_trains_on_everything_and_keeps_the_final_epoch(tmp_path):
    dataset = _dataset()
    metrics = train_stage1(_config(val_fraction=0.0, epochs=3), tmp_path, dataset=dataset, verbose=0)
    assert any("no validation (val_fraction 0)" in note for note in metrics["notes"])
    assert metrics["epochs_run"] == 3, "no early stopping without validation"
    with open(tmp_path / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and all(row.get("val_loss", "NA") == "NA" for row in rows)
    model = keras.saving.load_model(tmp_path / "pose_model.keras", safe_mode=True)
    assert model.output_shape == (None, 3)
    assert json.loads((tmp_path / "metrics.json").read_text())["num_test"] == 6


def test_val_fraction_zero_without_a_test_split_is_refused():
    with pytest.raises(InvalidInputError, match="needs a test split"):
        split_for_training(_dataset(test=False), _config(val_fraction=0.0))


def test_time_budget_stops_training_and_is_reported(tmp_path):
    metrics = train_stage1(_config(epochs=50, time_budget_minutes=1e-5), tmp_path, dataset=_dataset(), verbose=0)
    assert metrics["epochs_run"] == 1
    assert any("time budget of 1e-05 min reached in epoch 1 of 50" in note for note in metrics["notes"])


def test_time_budget_rejects_non_positive_values():
    with pytest.raises(ValueError, match="positive number of minutes"):
        TimeBudget(0)
    with pytest.raises(InvalidInputError, match="time_budget_minutes must be a positive number"):
        TrainConfig(time_budget_minutes=-1)


@pytest.mark.slow  # keeps the CI suite under 15 minutes
def test_ema_saves_the_averaged_weights(tmp_path):
    dataset = _dataset()
    plain = _config(val_fraction=0.0, epochs=2)
    train_stage1(plain, tmp_path / "plain", dataset=dataset, verbose=0)
    train_stage1(_config(val_fraction=0.0, epochs=2, ema_momentum=0.9), tmp_path / "ema", dataset=dataset, verbose=0)
    a = keras.saving.load_model(tmp_path / "plain" / "pose_model.keras", safe_mode=True).get_weights()
    b = keras.saving.load_model(tmp_path / "ema" / "pose_model.keras", safe_mode=True).get_weights()
    # same seed, same data, same steps: only the averaging differs, and it changes every trained weight
    assert len(a) == len(b) and not any(np.array_equal(x, y) for x, y in zip(a, b) if x.size > 1)
    with pytest.raises(InvalidInputError, match="ema_momentum must be null or a number in \\(0, 1\\)"):
        _config(ema_momentum=1.5)
