"""Report files: confusion-matrix and curve PNGs, the text report and predictions.csv."""

from __future__ import annotations

import csv

import keras
import numpy as np
import pytest
from matplotlib.image import imread

from har_tf.errors import InvalidInputError, MissingFileError
from har_tf.training.reports import (
    load_history_csv,
    per_class_report,
    plot_confusion_matrix,
    plot_training_curves,
    write_predictions_csv,
)

NAMES = [
    "walk",
    "carry_box",
    "wave",
    "punch",
    "kick",
    "fall",
    "sit_down",
    "climb_ladder",
    "drink",
    "phone_call",
    "read_book",
    "use_tablet",
]


def assert_png(path, min_size=(300, 300)):
    """A PNG bigger than 5 kB whose pixels decode to at least ``min_size`` (height, width)."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] >= min_size[0] and image.shape[1] >= min_size[1]
    assert image.std() > 0.01  # not blank


@pytest.mark.parametrize(("k", "normalize"), [(12, True), (5, False)])
def test_confusion_matrix_png(tmp_path, k, normalize):
    rng = np.random.default_rng(k)
    cm = rng.integers(0, 4, (k, k)) + np.diag(rng.integers(10, 40, k))
    cm[-1] = 0  # a class with no test samples must not break the row normalisation
    path = plot_confusion_matrix(cm, NAMES[:k], tmp_path / "sub" / "cm.png", normalize=normalize, title="test")
    assert_png(path, (500, 500))


def test_confusion_matrix_shape_mismatch(tmp_path):
    with pytest.raises(InvalidInputError, match=r"\(K, K\) = \(3, 3\)"):
        plot_confusion_matrix(np.eye(4), NAMES[:3], tmp_path / "cm.png")


def test_training_curves_from_dict(tmp_path):
    epochs = np.arange(6)
    history = {
        "loss": list(1 / (epochs + 1)),
        "val_loss": list(1.2 / (epochs + 1)),
        "accuracy": list(epochs / 6),
        "val_accuracy": list(epochs / 7),
        "learning_rate": [1e-3] * 3 + [5e-4] * 3,
    }
    assert_png(plot_training_curves(history, tmp_path / "curves.png"), (300, 900))
    assert_png(plot_training_curves({"loss": [1.0, 0.5]}, tmp_path / "loss_only.png"))


def test_training_curves_from_csvlogger(tmp_path):
    """Write the CSV with Keras's own CSVLogger (driven by hand, no model), then read and plot it."""
    path = tmp_path / "history.csv"
    logger = keras.callbacks.CSVLogger(str(path))
    logger.on_train_begin()
    for epoch in range(4):
        logger.on_epoch_end(
            epoch,
            {
                "accuracy": 0.5 + 0.1 * epoch,
                "loss": 1.0 - 0.2 * epoch,
                "val_accuracy": 0.4 + 0.1 * epoch,
                "val_loss": 1.1 - 0.2 * epoch,
            },
        )
    logger.on_train_end()
    assert path.read_text().splitlines()[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    history = load_history_csv(path)
    assert list(history) == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert history["epoch"] == [0, 1, 2, 3] and history["loss"] == pytest.approx([1.0, 0.8, 0.6, 0.4])
    assert_png(plot_training_curves(path, tmp_path / "curves.png"))


def test_csvlogger_without_validation_has_na_columns(tmp_path):
    path = tmp_path / "history.csv"
    logger = keras.callbacks.CSVLogger(str(path))
    logger.on_train_begin()
    for epoch in range(3):
        logger.on_epoch_end(epoch, {"loss": 1.0 / (epoch + 1), "accuracy": 0.3 * epoch})
    logger.on_train_end()
    history = load_history_csv(path)
    assert np.isnan(history["val_loss"]).all()
    assert_png(plot_training_curves(history, tmp_path / "curves.png"))


def test_history_errors(tmp_path):
    with pytest.raises(MissingFileError):
        load_history_csv(tmp_path / "absent.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,loss\n0,abc\n")
    with pytest.raises(InvalidInputError, match="'loss' must be a number"):
        load_history_csv(bad)
    with pytest.raises(InvalidInputError, match="equally long"):
        plot_training_curves({"loss": [1.0, 0.5], "val_loss": [1.0]}, tmp_path / "c.png")


def test_per_class_report():
    y = np.array([0, 0, 1, 1, 2])
    text = per_class_report(y, np.array([0, 1, 1, 1, 0]), NAMES[:4])
    for name in NAMES[:4]:
        assert name in text
    assert "accuracy" in text and "0.600" in text


def test_predictions_csv(tmp_path):
    k, n = 5, 7
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(k), n)
    y = rng.integers(0, k, n)
    ids = [f"seq_{i}" for i in range(n)]
    path = write_predictions_csv(tmp_path / "predictions.csv", ids, y, p, NAMES[:k], top_k=3)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == n
    assert list(rows[0]) == [
        "id",
        "true",
        "predicted",
        "correct",
        "p_true",
        "top1",
        "top1_p",
        "top2",
        "top2_p",
        "top3",
        "top3_p",
    ]
    for i, row in enumerate(rows):
        order = np.argsort(-p[i])
        assert row["id"] == ids[i] and row["true"] == NAMES[y[i]]
        assert row["predicted"] == row["top1"] == NAMES[order[0]] and row["top2"] == NAMES[order[1]]
        assert row["correct"] == str(int(order[0] == y[i]))
        assert float(row["top1_p"]) >= float(row["top2_p"]) >= float(row["top3_p"])
        assert float(row["p_true"]) == pytest.approx(p[i, y[i]], abs=1e-4)
    # top_k is capped at K; ids must match N
    path = write_predictions_csv(tmp_path / "p2.csv", range(n), y, p, NAMES[:k], top_k=10)
    assert path.read_text().splitlines()[0].endswith("top5,top5_p")
    with pytest.raises(InvalidInputError, match="one entry per sample"):
        write_predictions_csv(tmp_path / "p3.csv", ids[:2], y, p, NAMES[:k])
