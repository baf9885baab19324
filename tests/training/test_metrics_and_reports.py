"""metrics.json content, group and window aggregation, and the report files people look at."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from har_tf.errors import InvalidInputError
from har_tf.training.metrics import aggregate_windows, classification_metrics, group_accuracy, write_metrics_json
from har_tf.training.reports import (
    load_history_csv,
    per_class_report,
    plot_confusion_matrix,
    plot_training_curves,
    write_predictions_csv,
)

NAMES = ["walk", "fall", "sit"]
METRICS_KEYS = ["accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1", "top_k_accuracy",
                "num_test", "class_names"]  # fmt: skip


def _probs(pred, k=3, second=None):
    p = np.full((len(pred), k), 0.05)
    p[np.arange(len(pred)), pred] = 0.8
    if second is not None:
        p[np.arange(len(pred)), second] = 0.15
    return p / p.sum(1, keepdims=True)


def test_perfect_and_all_wrong_predictions():
    y = np.array([0, 1, 2, 2])
    perfect = classification_metrics(y, _probs(y), NAMES)
    assert list(perfect)[: len(METRICS_KEYS)] == METRICS_KEYS
    assert perfect["accuracy"] == perfect["macro_f1"] == perfect["balanced_accuracy"] == 1.0
    assert perfect["num_test"] == 4 and perfect["class_names"] == NAMES
    wrong = classification_metrics(y, _probs((y + 1) % 3), NAMES)
    assert wrong["accuracy"] == 0.0 and wrong["top_k_accuracy"]["1"] == 0.0


def test_top_k_counts_the_true_class_in_second_place():
    y = np.array([0, 1, 2, 0])
    m = classification_metrics(y, _probs((y + 1) % 3, second=y), NAMES)
    assert m["top_k_accuracy"]["1"] == 0.0 and m["top_k_accuracy"]["2"] == 1.0
    assert set(m["top_k_accuracy"]) == {"1", "2", "3"}, "k stops at the number of classes"


def test_balanced_accuracy_on_unbalanced_classes():
    y = np.array([0] * 8 + [1, 2])
    pred = np.array([0] * 8 + [0, 0])  # always the majority class
    m = classification_metrics(y, _probs(pred), NAMES)
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["balanced_accuracy"] == pytest.approx(1 / 3)
    assert m["per_class"]["fall"]["recall"] == 0.0 and m["confusion_matrix"][1] == [1, 0, 0]


@pytest.mark.parametrize("y, p, names, message", [
    (np.array([0, 1]), np.ones((3, 3)) / 3, NAMES, "one"),
    (np.array([0, 5]), np.ones((2, 3)) / 3, NAMES, "5"),
    (np.array([0, 1]), np.array([[np.nan, 0.5, 0.5], [0.2, 0.4, 0.4]]), NAMES, "finite|NaN"),
    (np.array([0, 1]), np.ones((2, 3)) / 3, ["a", "b"], "names|class"),
])  # fmt: skip
def test_bad_inputs_are_clear_errors(y, p, names, message):
    with pytest.raises(InvalidInputError, match=message):
        classification_metrics(y, p, names)


def test_group_accuracy_inside_ambiguous_groups():
    class_group = np.array([-1, 0, 0])  # classes 1 and 2 move alike
    y = np.array([1, 1, 2, 2, 0])
    pred = np.array([1, 2, 2, 0, 0])
    result = group_accuracy(y, pred, class_group, ["hand_to_head"])["hand_to_head"]
    assert result["num"] == 4
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["within_group_accuracy"] == pytest.approx(2 / 3), "the sample predicted outside is left out"


def test_windows_average_into_sequences():
    p = np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4]])
    ids, mean = aggregate_windows(p, np.array([7, 3, 7, 3]))
    assert ids.tolist() == [3, 7]
    np.testing.assert_allclose(mean, [[0.45, 0.55], [0.55, 0.45]])


def test_metrics_json_is_written_whole(tmp_path):
    y = np.array([0, 1, 2])
    path = write_metrics_json(tmp_path / "metrics.json", classification_metrics(y, _probs(y), NAMES), {"model": "x"})
    content = json.loads(path.read_text())
    assert content["model"] == "x" and content["accuracy"] == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"], "no temporary file left behind"
    with pytest.raises(InvalidInputError, match="repeat"):
        write_metrics_json(tmp_path / "m2.json", {"accuracy": 1.0}, {"accuracy": 0.5})


def _is_png(path, min_bytes=5000):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > min_bytes


def test_confusion_matrix_and_curves_pngs(tmp_path):
    names = [f"class_{i}" for i in range(12)]
    cm = np.random.default_rng(0).integers(0, 20, (12, 12))
    assert _is_png(plot_confusion_matrix(cm, names, tmp_path / "cm.png", title="test"))
    history = {"loss": [1.0, 0.7, 0.5], "val_loss": [1.1, 0.8, 0.7], "accuracy": [0.4, 0.6, 0.8],
               "val_accuracy": [0.3, 0.5, 0.6]}  # fmt: skip
    assert _is_png(plot_training_curves(history, tmp_path / "curves.png"))
    csv_path = tmp_path / "history.csv"
    csv_path.write_text("epoch,accuracy,loss,val_accuracy,val_loss\n0,0.4,1.0,0.3,1.1\n1,0.6,0.7,0.5,0.8\n")
    assert load_history_csv(csv_path)["val_accuracy"] == [0.3, 0.5]
    assert _is_png(plot_training_curves(csv_path, tmp_path / "curves_csv.png"))


def test_report_and_predictions_csv(tmp_path):
    y = np.array([0, 1, 2, 1])
    probs = _probs(np.array([0, 2, 2, 1]))
    assert "fall" in per_class_report(y, probs.argmax(1), NAMES)
    path = write_predictions_csv(tmp_path / "predictions.csv", ["a", "b", "c", "d"], y, probs, NAMES)
    rows = list(csv.reader(path.open()))
    assert rows[0][:4] == ["id", "true", "predicted", "correct"]
    assert len(rows) == 5 and rows[2][1:3] == ["fall", "sit"]
