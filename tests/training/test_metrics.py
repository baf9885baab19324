"""classification_metrics, group_accuracy, aggregate_windows and write_metrics_json on hand-computed cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import top_k_accuracy_score

from har_tf.errors import InvalidInputError
from har_tf.training.metrics import aggregate_windows, classification_metrics, group_accuracy, write_metrics_json

NAMES = ["walk", "fall", "sit", "wave"]
KEYS = [
    "accuracy",
    "balanced_accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "top_k_accuracy",
    "num_test",
    "class_names",
    "per_class",
    "confusion_matrix",
]


def one_hot_probs(pred, k=4, second=None):
    """Rows with 0.7 on ``pred``, 0.2 on ``second`` (or spread) and the rest small."""
    pred = np.asarray(pred)
    p = np.full((len(pred), k), 0.1 / (k - 1))
    p[np.arange(len(pred)), pred] = 0.7
    if second is not None:
        p[np.arange(len(pred)), second] = 0.2
    return p / p.sum(1, keepdims=True)


def test_perfect_predictions():
    y = np.array([0, 1, 2, 3, 0, 1])
    m = classification_metrics(y, one_hot_probs(y), NAMES)
    assert list(m) == KEYS
    for key in ("accuracy", "balanced_accuracy", "macro_precision", "macro_recall", "macro_f1"):
        assert m[key] == 1.0
    assert m["top_k_accuracy"] == {"1": 1.0, "2": 1.0, "3": 1.0, "4": 1.0}
    assert m["num_test"] == 6 and m["class_names"] == NAMES
    assert m["confusion_matrix"] == [[2, 0, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    assert m["per_class"]["walk"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 2}


def test_all_wrong_and_true_class_second():
    y = np.array([0, 1, 2, 3])
    pred = (y + 1) % 4
    m = classification_metrics(y, one_hot_probs(pred, second=y), NAMES)
    assert m["accuracy"] == m["balanced_accuracy"] == m["macro_f1"] == 0.0
    assert m["top_k_accuracy"] == {"1": 0.0, "2": 1.0, "3": 1.0, "4": 1.0}
    assert np.trace(np.array(m["confusion_matrix"])) == 0
    assert m["confusion_matrix"][0][1] == 1  # row = true walk, column = predicted fall


def test_class_missing_from_predictions():
    # true: walk x2, fall x2; predicted: walk x3, fall x1 -> class "fall" half found, "sit"/"wave" absent
    y = np.array([0, 0, 1, 1])
    pred = np.array([0, 0, 0, 1])
    m = classification_metrics(y, one_hot_probs(pred), NAMES)
    assert m["accuracy"] == 0.75
    assert m["per_class"]["walk"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert m["per_class"]["fall"] == pytest.approx({"precision": 1.0, "recall": 0.5, "f1": 2 / 3, "support": 2})
    assert m["per_class"]["sit"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # macro averages run over the classes present in y_true
    assert m["macro_precision"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["macro_recall"] == pytest.approx(0.75) == m["balanced_accuracy"]
    assert m["macro_f1"] == pytest.approx((0.8 + 2 / 3) / 2)


def test_never_predicted_true_class_scores_zero():
    y = np.array([0, 1, 2])
    m = classification_metrics(y, one_hot_probs([0, 1, 1], k=3), NAMES[:3])
    assert m["per_class"]["sit"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert m["macro_recall"] == pytest.approx(2 / 3)


def test_balanced_vs_plain_accuracy_on_imbalanced_data():
    # 8 walk (all right), 2 fall (both predicted walk): accuracy 0.8, balanced (1 + 0) / 2
    y = np.array([0] * 8 + [1] * 2)
    m = classification_metrics(y, one_hot_probs(np.zeros(10, int), k=2), NAMES[:2])
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["balanced_accuracy"] == pytest.approx(0.5)
    assert m["top_k_accuracy"] == {"1": pytest.approx(0.8), "2": 1.0}  # binary works (K = 2)


def test_top_k_matches_sklearn_and_is_capped():
    rng = np.random.default_rng(0)
    k = 7
    p = rng.random((50, k))
    y = rng.integers(0, k, 50)
    m = classification_metrics(y, p, [f"c{i}" for i in range(k)], k_max=5)
    assert list(m["top_k_accuracy"]) == ["1", "2", "3", "4", "5"]
    assert m["top_k_accuracy"]["1"] == m["accuracy"]
    for j in range(1, 6):
        assert m["top_k_accuracy"][str(j)] == pytest.approx(top_k_accuracy_score(y, p, k=j, labels=range(k)))


def test_ties_break_like_argmax():
    p = np.full((3, 3), 1 / 3)  # an untrained model: argmax picks class 0
    m = classification_metrics([0, 1, 2], p, NAMES[:3])
    assert m["accuracy"] == m["top_k_accuracy"]["1"] == pytest.approx(1 / 3)
    assert m["top_k_accuracy"]["2"] == pytest.approx(2 / 3)


def test_values_are_plain_python_and_round_trip(tmp_path):
    y = np.array([0, 1, 2, 3, 3], dtype=np.int32)
    m = classification_metrics(y, one_hot_probs([0, 1, 2, 2, 3]).astype(np.float32), tuple(NAMES))
    text = json.dumps(m)  # no NumPy scalars left
    assert json.loads(text) == m
    assert all(type(m[key]) is float for key in KEYS[:5]) and type(m["num_test"]) is int

    path = write_metrics_json(tmp_path / "run" / "metrics.json", m, {"model": "poseformer", "epochs": np.int64(3)})
    loaded = json.loads(path.read_text())
    assert list(loaded) == KEYS + ["model", "epochs"]  # insertion order kept
    assert loaded["epochs"] == 3 and loaded["confusion_matrix"] == m["confusion_matrix"]
    assert [f.name for f in path.parent.iterdir()] == ["metrics.json"]  # no temp file left


def test_write_metrics_json_replaces_and_refuses_bad_content(tmp_path):
    path = tmp_path / "metrics.json"
    write_metrics_json(path, {"accuracy": 0.5})
    write_metrics_json(path, {"accuracy": 0.75})
    assert json.loads(path.read_text()) == {"accuracy": 0.75}
    with pytest.raises(InvalidInputError, match="finite"):
        write_metrics_json(path, {"accuracy": float("nan")})
    with pytest.raises(InvalidInputError, match="repeat"):
        write_metrics_json(path, {"accuracy": 0.5}, {"accuracy": 0.1})
    assert json.loads(path.read_text()) == {"accuracy": 0.75}  # a failed write leaves the old file
    assert [f.name for f in tmp_path.iterdir()] == ["metrics.json"]


@pytest.mark.parametrize(
    ("y", "p", "names", "match"),
    [
        ([0, 1], np.ones((2, 4, 1)), NAMES, r"shape \(N, K\)"),
        ([0, 1, 2], one_hot_probs([0, 1]), NAMES, "2 entries"),
        ([[0], [1]], one_hot_probs([0, 1]), NAMES, r"shape \(N,\)"),
        ([0, 1], np.where(np.eye(2, 4) > 0, np.nan, 0.1), NAMES, "finite"),
        ([0, 4], one_hot_probs([0, 1]), NAMES, r"\[0, 4\).*\[4\]"),
        ([0, -1], one_hot_probs([0, 1]), NAMES, "out-of-range"),
        ([0.5, 1], one_hot_probs([0, 1]), NAMES, "integer"),
        ([0, 1], one_hot_probs([0, 1]), NAMES[:3], "K = 4.*got 3"),
        ([], np.zeros((0, 4)), NAMES, "N >= 1"),
    ],
)
def test_validation_errors(y, p, names, match):
    with pytest.raises(InvalidInputError, match=match):
        classification_metrics(y, p, names)


def test_group_accuracy_by_hand():
    # classes: 0 walk (no group), 1 drink, 2 phone (group 0), 3 read, 4 tablet (group 1)
    groups = np.array([-1, 0, 0, 1, 1])
    y = np.array([0, 1, 1, 2, 2, 3, 3, 4])
    pred = np.array([0, 1, 2, 2, 0, 3, 4, 1])
    # group 0: samples 1..4 -> right: 1, 3 (2/4); inside group: 1, 2, 3 -> 2/3
    # group 1: samples 5..7 -> right: 5 (1/3); inside group: 5, 6 -> 1/2
    result = group_accuracy(y, pred, groups)
    assert result == {
        "0": {"num": 4, "accuracy": 0.5, "within_group_accuracy": pytest.approx(2 / 3)},
        "1": {"num": 3, "accuracy": pytest.approx(1 / 3), "within_group_accuracy": 0.5},
    }
    named = group_accuracy(y, pred, groups, ["drink/phone", "read/tablet"])
    assert list(named) == ["drink/phone", "read/tablet"] and named["drink/phone"] == result["0"]
    assert group_accuracy(y, pred, groups, []) == result  # empty names: keyed by id


def test_group_accuracy_empty_group_and_errors():
    groups = np.array([0, 0, 1])
    result = group_accuracy([0, 1], [2, 2], groups)
    assert result["0"] == {"num": 2, "accuracy": 0.0, "within_group_accuracy": None}
    assert result["1"] == {"num": 0, "accuracy": None, "within_group_accuracy": None}
    json.dumps(result)
    with pytest.raises(InvalidInputError, match="no name for group id 1"):
        group_accuracy([0], [0], groups, ["only one"])
    with pytest.raises(InvalidInputError, match=r"\[0, 3\)"):
        group_accuracy([0], [3], groups)


def test_aggregate_windows_by_hand():
    windows = np.array([[0.8, 0.2], [0.4, 0.6], [0.1, 0.9], [0.6, 0.4], [0.3, 0.7]], np.float32)
    ids = np.array([7, 3, 3, 7, 7])
    seq_ids, mean = aggregate_windows(windows, ids)
    assert seq_ids.tolist() == [3, 7]
    np.testing.assert_allclose(mean, [[0.25, 0.75], [1.7 / 3, 1.3 / 3]], rtol=1e-6)
    assert mean.dtype == np.float32
    names, _ = aggregate_windows(windows[:2], ["b", "a"])
    assert names.tolist() == ["a", "b"]
    with pytest.raises(InvalidInputError, match="one per window"):
        aggregate_windows(windows, ids[:3])
