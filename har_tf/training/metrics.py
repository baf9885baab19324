"""Classification metrics from predicted probabilities: the single source of every ``metrics.json``.

Predictions are ``argmax`` of the probabilities (lowest class index on ties); top-k uses the same
tie rule, so ``top_k_accuracy["1"] == accuracy`` always. Every value returned is a plain Python
``int`` / ``float`` / ``str`` / ``list`` / ``dict``, ready for :func:`json.dump`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)

from har_tf.errors import InvalidInputError, expect
from har_tf.io import atomic_write


def check_labels(y: Any, num_classes: int, name: str, length: int | None = None) -> np.ndarray:
    """Integer labels (N,) in [0, num_classes), else a clear error."""
    y = np.asarray(y)
    expect(
        y.ndim == 1,
        f"{name} must be integer class ids of shape (N,), got shape {y.shape}"
        + (" (one-hot? pass argmax(axis=1))" if y.ndim == 2 else ""),
    )
    expect(length is None or len(y) == length, f"{name} must have {length} entries (one per sample), got {len(y)}")
    if y.size == 0:
        return y.astype(np.int64)
    numeric = np.issubdtype(y.dtype, np.integer) or (
        np.issubdtype(y.dtype, np.floating) and bool(np.all(np.isfinite(y))) and bool(np.all(y == np.round(y)))
    )
    expect(numeric, f"{name} must hold integer class ids, got dtype {y.dtype} with values like {y[:3].tolist()}")
    y = y.astype(np.int64)
    bad = y[(y < 0) | (y >= num_classes)]
    expect(
        bad.size == 0,
        f"{name} must be class ids in [0, {num_classes}), got out-of-range values {np.unique(bad)[:5].tolist()}",
    )
    return y


def check_predictions(
    y_true: Any, probabilities: Any, class_names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validate and return ``(y_true int64 (N,), probabilities float64 (N, K), class_names list)``."""
    p = np.asarray(probabilities)
    expect(p.ndim == 2, f"probabilities must have shape (N, K), got shape {p.shape}")
    real = np.issubdtype(p.dtype, np.number) and not np.iscomplexobj(p)
    expect(real, f"probabilities must be real numbers, got dtype {p.dtype}")
    n, k = p.shape
    expect(n >= 1, "probabilities must hold at least one sample (N >= 1), got N = 0")
    expect(k >= 2, f"probabilities must have at least 2 classes (K >= 2), got K = {k}")
    p = p.astype(np.float64)
    bad_rows = np.flatnonzero(~np.all(np.isfinite(p), axis=1))
    expect(
        bad_rows.size == 0,
        f"probabilities must be finite, got NaN/Inf in {bad_rows.size} rows (first: {bad_rows[:5].tolist()})",
    )
    names = [str(c) for c in class_names]
    expect(len(names) == k, f"class_names must name the K = {k} columns of probabilities, got {len(names)} names")
    return check_labels(y_true, k, "y_true", n), p, names


def _true_class_rank(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """0-based rank of the true class in each row (descending score, lower index first on ties)."""
    s = p[np.arange(len(y)), y][:, None]
    before = np.arange(p.shape[1])[None, :] < y[:, None]
    return (p > s).sum(axis=1) + ((p == s) & before).sum(axis=1)


def classification_metrics(
    y_true: Any, probabilities: Any, class_names: Sequence[str], k_max: int = 5
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro P/R/F1, top-k accuracy, per-class scores and confusion matrix.

    Macro averages run over the classes present in ``y_true`` (so ``macro_recall ==
    balanced_accuracy``); a class never seen in the test set cannot be scored. ``top_k_accuracy`` has
    keys ``"1"`` .. ``str(min(k_max, K))``. ``confusion_matrix[i][j]`` counts true ``i`` predicted ``j``.
    """
    y, p, names = check_predictions(y_true, probabilities, class_names)
    expect(isinstance(k_max, (int, np.integer)) and k_max >= 1, f"k_max must be an int >= 1, got {k_max!r}")
    k = p.shape[1]
    labels = list(range(k))
    pred = p.argmax(axis=1)
    prec, rec, f1, support = precision_recall_fscore_support(y, pred, labels=labels, average=None, zero_division=0)
    seen = support > 0
    with warnings.catch_warnings():  # "y_pred contains classes not in y_true": expected, not news
        warnings.simplefilter("ignore")
        balanced = balanced_accuracy_score(y, pred)
    rank = _true_class_rank(y, p)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(balanced),
        "macro_precision": float(prec[seen].mean()),
        "macro_recall": float(rec[seen].mean()),
        "macro_f1": float(f1[seen].mean()),
        "top_k_accuracy": {str(j): float(np.mean(rank < j)) for j in range(1, min(int(k_max), k) + 1)},
        "num_test": int(len(y)),
        "class_names": names,
        "per_class": {
            name: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, name in enumerate(names)
        },
        "confusion_matrix": confusion_matrix(y, pred, labels=labels).astype(int).tolist(),
    }


def group_accuracy(
    y_true: Any,
    y_pred: Any,
    class_group: Any,
    group_names: Sequence[str] | Mapping[int, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Accuracy on the samples of each class group (e.g. drink / phone_call), keyed by group name or id.

    ``class_group[c]`` is the group id of class ``c`` (``-1``: no group). Per group: ``num`` samples
    whose true class is in the group, ``accuracy`` on them, and ``within_group_accuracy``: accuracy
    on those of them predicted as *some* class of the group (how well the group's members are told
    apart once the group is found). A value with no samples to average over is ``None``.
    """
    groups = np.asarray(class_group)
    expect(groups.ndim == 1 and groups.size >= 1, f"class_group must have shape (K,), got shape {groups.shape}")
    expect(np.issubdtype(groups.dtype, np.integer), f"class_group must hold integer group ids, got {groups.dtype}")
    expect(bool(np.all(groups >= -1)), f"class_group ids must be >= 0 or -1 (none), got {np.unique(groups).tolist()}")
    k = len(groups)
    y = check_labels(y_true, k, "y_true")
    pred = check_labels(y_pred, k, "y_pred", len(y))
    result: dict[str, dict[str, Any]] = {}
    ids = np.unique(groups[groups >= 0]).tolist()
    for g in ids:
        if group_names is not None and len(group_names) > 0:  # an empty list means: no names
            try:
                key = str(group_names[g])
            except (IndexError, KeyError):
                raise InvalidInputError(f"group_names has no name for group id {g} (group ids: {ids})") from None
        else:
            key = str(g)
        member = groups[y] == g
        inside = member & (groups[pred] == g)
        correct = pred == y
        result[key] = {
            "num": int(member.sum()),
            "accuracy": float(correct[member].mean()) if member.any() else None,
            "within_group_accuracy": float(correct[inside].mean()) if inside.any() else None,
        }
    return result


def aggregate_windows(window_probabilities: Any, sequence_ids: Any) -> tuple[np.ndarray, np.ndarray]:
    """Sequence-level probabilities: the mean over the windows of each sequence.

    Returns ``(ids, probabilities)``: the sorted unique ids (S,) and their mean rows (S, K).
    """
    p = np.asarray(window_probabilities)
    ids = np.asarray(sequence_ids)
    expect(p.ndim == 2 and len(p) >= 1, f"window_probabilities must have shape (W, K), W >= 1, got shape {p.shape}")
    expect(ids.shape == (len(p),), f"sequence_ids must have shape ({len(p)},) (one per window), got shape {ids.shape}")
    expect(bool(np.all(np.isfinite(p))), "window_probabilities must be finite, got NaN/Inf")
    unique, inverse = np.unique(ids, return_inverse=True)
    sums = np.zeros((len(unique), p.shape[1]), np.float64)
    np.add.at(sums, inverse.reshape(-1), p.astype(np.float64))
    means = sums / np.bincount(inverse.reshape(-1), minlength=len(unique))[:, None]
    return unique, means.astype(p.dtype if np.issubdtype(p.dtype, np.floating) else np.float64)


def _plain(value: Any) -> Any:
    """``json.dump`` fallback for NumPy scalars / arrays and paths."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_metrics_json(
    path: str | os.PathLike, metrics: Mapping[str, Any], extra: Mapping[str, Any] | None = None
) -> Path:
    """Write ``metrics`` then ``extra`` (top level, insertion order kept) to ``path`` atomically.

    A key in both is an error (nothing silently overwritten); NaN/Inf are refused (strict JSON).
    """
    clash = sorted(set(metrics) & set(extra or {}))
    expect(not clash, f"extra must not repeat metrics keys, got {clash}")
    content = {**metrics, **(extra or {})}
    try:
        text = json.dumps(content, indent=2, allow_nan=False, default=_plain)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"metrics must be JSON-serialisable with finite numbers: {e}") from e
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    return Path(path)


__all__ = [
    "aggregate_windows",
    "check_labels",
    "check_predictions",
    "classification_metrics",
    "group_accuracy",
    "write_metrics_json",
]
