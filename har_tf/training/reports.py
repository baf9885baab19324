"""Files people look at after a run: confusion matrix and training-curve PNGs, text and CSV reports.

Plots use :class:`matplotlib.figure.Figure` with the Agg canvas directly (never ``pyplot``), so they
need no display, change no global Matplotlib state and are safe to call from any thread.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import classification_report

from har_tf.errors import InvalidInputError, MissingFileError, expect
from har_tf.io import atomic_write
from har_tf.training.metrics import check_labels, check_predictions

_LR_KEYS = ("learning_rate", "lr")


def _save(fig: Figure, path: str | os.PathLike, dpi: int = 110) -> Path:
    """The figure as a PNG, through a temporary file and a rename (never half a PNG)."""
    path = Path(path)
    FigureCanvasAgg(fig)
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, dpi=dpi, format="png")
    return path


def plot_confusion_matrix(
    cm: Any,
    class_names: Sequence[str],
    path: str | os.PathLike,
    normalize: bool = True,
    title: str | None = None,
    show_counts: bool | None = None,
) -> Path:
    """Write a confusion-matrix PNG (rows = true class, columns = predicted).

    With ``normalize`` cells show row percentages (recall on the diagonal) and colour by them;
    ``show_counts`` adds the raw count under each percentage (default: when K <= 15). Empty cells
    are left blank so the errors stand out. Returns the path.
    """
    cm = np.asarray(cm)
    k = len(class_names)
    expect(cm.shape == (k, k), f"cm must have shape (K, K) = ({k}, {k}) for {k} class names, got {cm.shape}")
    expect(
        k >= 1 and bool(np.all(np.isfinite(cm))) and bool(np.all(cm >= 0)), "cm must hold finite, non-negative counts"
    )
    counts = cm.astype(np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    shown = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0) if normalize else counts
    show_counts = (k <= 15) if show_counts is None else show_counts

    side = max(6.0, 0.42 * k + 3.0)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1 if normalize else max(float(shown.max()), 1), aspect="equal")
    colorbar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02)
    colorbar.set_label("fraction of true class" if normalize else "count")
    if normalize:
        colorbar.ax.yaxis.set_major_formatter(lambda v, _: f"{100 * v:.0f}%")

    cell_pt = 72 * 0.75 * side / k  # about how many points one cell spans
    font = float(np.clip(0.3 * cell_pt, 6, 10))
    high = 0.5 * (1 if normalize else max(float(shown.max()), 1))
    for i in range(k):
        for j in range(k):
            if counts[i, j] == 0:
                continue
            text = f"{100 * shown[i, j]:.0f}%" if normalize else f"{counts[i, j]:.0f}"
            if normalize and show_counts:
                text += f"\n{counts[i, j]:.0f}"
            ax.text(
                j, i, text, ha="center", va="center", fontsize=font, color="white" if shown[i, j] > high else "black"
            )

    names = [str(c) for c in class_names]
    label_font = float(np.clip(0.4 * cell_pt, 7, 11))
    ax.set_xticks(
        range(k),
        names,
        rotation=45 if k > 4 else 0,
        ha="right" if k > 4 else "center",
        rotation_mode="anchor",
        fontsize=label_font,
    )
    ax.set_yticks(range(k), names, fontsize=label_font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    total = counts.sum()
    accuracy = np.trace(counts) / total if total else float("nan")
    ax.set_title(title or f"Confusion matrix: accuracy {100 * accuracy:.1f}% on {total:.0f} samples")
    return _save(fig, path)


def load_history_csv(path: str | os.PathLike) -> dict[str, list[float]]:
    """Read a ``keras.callbacks.CSVLogger`` file into a ``History.history``-like dict.

    Every column becomes a list of floats (``epoch`` too, as written: 0-based); empty and ``NA``
    cells become NaN.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"training log CSV {path} does not exist")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields = reader.fieldnames or []
        history: dict[str, list[float]] = {name: [] for name in fields}
        for line, row in enumerate(reader, start=2):
            for name in fields:
                cell = (row.get(name) or "").strip()
                try:
                    history[name].append(float("nan") if cell in ("", "NA") else float(cell))
                except ValueError:
                    raise InvalidInputError(f"{path}:{line}: column {name!r} must be a number, got {cell!r}") from None
    expect(bool(fields) and all(history.values()), f"{path} must be a CSVLogger file with a header and >= 1 epoch row")
    return history


def plot_history_if_readable(csv_path: str | os.PathLike, path: str | os.PathLike) -> Path | None:
    """:func:`plot_training_curves` of a CSVLogger file; a damaged log (e.g. rows of two runs mixed) is a
    warning and no plot, not a failed run."""
    try:
        return plot_training_curves(csv_path, path)
    except (InvalidInputError, MissingFileError) as err:
        print(f"warning: no training curves: {err}", flush=True)
        return None


def plot_training_curves(history: Mapping[str, Sequence[float]] | str | os.PathLike, path: str | os.PathLike) -> Path:
    """Write a PNG of every logged quantity vs epoch: one panel per metric (loss first), train and
    ``val_`` together, the best validation epoch marked, and the learning rate (log scale) last.

    ``history`` is a Keras ``History.history`` dict, a :func:`load_history_csv` dict or a CSV path.
    Epochs are shown 1-based, as Keras prints them.
    """
    if isinstance(history, (str, os.PathLike)):
        history = load_history_csv(history)
    series = {str(k): np.asarray(v, np.float64).reshape(-1) for k, v in history.items()}
    lengths = {k: len(v) for k, v in series.items()}
    expect(
        bool(series) and len(set(lengths.values())) == 1 and min(lengths.values()) >= 1,
        f"history must map names to equally long, non-empty lists, got lengths {lengths}",
    )
    epochs = series.pop("epoch", None)
    x = epochs + 1 if epochs is not None else np.arange(1, next(iter(lengths.values())) + 1)
    n = len(x)
    series = {k: v for k, v in series.items() if np.isfinite(v).any()}  # CSVLogger's all-"NA" val_ columns
    expect(bool(series), f"history has no finite values to plot (columns: {sorted(lengths)})")

    lr_key = next((k for k in _LR_KEYS if k in series), None)
    bases = [b for b in dict.fromkeys(k.removeprefix("val_") for k in series) if b not in _LR_KEYS]
    bases.sort(key=lambda b: b != "loss")  # stable: loss first, then the order logged
    panels: list[str | None] = [*bases, *([None] if lr_key else [])]
    cols = min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(5.2 * cols, 3.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).reshape(-1)
    for ax, base in zip(axes, panels):
        if base is None:
            ax.plot(x, series[lr_key], color="tab:green", drawstyle="steps-post")
            if np.all(series[lr_key][np.isfinite(series[lr_key])] > 0):
                ax.set_yscale("log")
            ax.set_title("learning rate")
        else:
            for key, style in ((base, "-"), (f"val_{base}", "--")):
                if key in series:
                    ax.plot(
                        x,
                        series[key],
                        style,
                        marker="." if n < 40 else None,
                        label="validation" if key.startswith("val_") else "train",
                    )
            val = series.get(f"val_{base}")
            if val is not None and np.isfinite(val).any():
                best = int(np.nanargmin(val) if "loss" in base or "error" in base else np.nanargmax(val))
                ax.plot(x[best], val[best], "o", color="tab:red", label=f"best val: {val[best]:.4g} @ {x[best]:.0f}")
            ax.set_title(base.replace("_", " "))
            ax.legend(fontsize=8)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    return _save(fig, path)


def per_class_report(y_true: Any, y_pred: Any, class_names: Sequence[str]) -> str:
    """scikit-learn's ``classification_report`` text for every class (absent ones score 0)."""
    names = [str(c) for c in class_names]
    expect(len(names) >= 1, "class_names must not be empty")
    y = check_labels(y_true, len(names), "y_true")
    pred = check_labels(y_pred, len(names), "y_pred", len(y))
    expect(len(y) >= 1, "y_true must hold at least one sample")
    return classification_report(y, pred, labels=list(range(len(names))), target_names=names, digits=3, zero_division=0)


def write_predictions_csv(
    path: str | os.PathLike,
    ids: Sequence[Any],
    y_true: Any,
    probabilities: Any,
    class_names: Sequence[str],
    top_k: int = 3,
) -> Path:
    """One row per sequence: ``id, true, predicted, correct, p_true, top1, top1_p, ... topk, topk_p``.

    ``p_true`` is the probability given to the true class (sort by it to find confident mistakes).
    ``top_k`` is capped at K; probabilities are written with 4 decimals.
    """
    y, p, names = check_predictions(y_true, probabilities, class_names)
    ids = list(ids)
    expect(len(ids) == len(y), f"ids must have one entry per sample ({len(y)}), got {len(ids)}")
    expect(isinstance(top_k, (int, np.integer)) and top_k >= 1, f"top_k must be an int >= 1, got {top_k!r}")
    top_k = min(int(top_k), p.shape[1])
    order = np.argsort(-p, axis=1, kind="stable")[:, :top_k]  # ties: lower index first, as argmax
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "id",
                "true",
                "predicted",
                "correct",
                "p_true",
                *[c for r in range(1, top_k + 1) for c in (f"top{r}", f"top{r}_p")],
            ]
        )
        for i, sample_id in enumerate(ids):
            top = order[i]
            writer.writerow(
                [
                    sample_id,
                    names[y[i]],
                    names[top[0]],
                    int(top[0] == y[i]),
                    f"{p[i, y[i]]:.4f}",
                    *[v for c in top for v in (names[c], f"{p[i, c]:.4f}")],
                ]
            )
    return path


__all__ = [
    "load_history_csv",
    "per_class_report",
    "plot_confusion_matrix",
    "plot_history_if_readable",
    "plot_training_curves",
    "write_predictions_csv",
]
