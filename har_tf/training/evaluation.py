"""Evaluation protocols shared by ``scripts/train.py`` and ``scripts/evaluate.py``.

- **window** (or resample) level: one input per sequence, prepared exactly as in validation
  (the centre ``T`` frames with ``sampling="window"``, the whole sequence resampled otherwise).
- **sequence** level, for long sequences (``sampling="window"``): sliding windows of ``T`` frames
  with stride ``T // 2`` over each sequence, probabilities averaged over its windows.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np

from har_tf.data.pipeline import make_pose_dataset
from har_tf.data.preprocessing import sequence_lengths, sliding_windows
from har_tf.skeleton.layouts import JointLayout
from har_tf.training.metrics import aggregate_windows, classification_metrics, group_accuracy, write_metrics_json
from har_tf.training.reports import per_class_report, plot_confusion_matrix, write_predictions_csv


def _pose_only(pose, _label):
    return pose


def predict_sequences(
    model: keras.Model,
    x: np.ndarray,
    layout: JointLayout,
    num_frames: int,
    sampling: str,
    batch_size: int = 64,
    channels: str | None = None,
) -> np.ndarray:
    """Probabilities ``(N, K)``, one input per sequence (``channels``: what the C values of ``x`` are)."""
    data = make_pose_dataset(
        x,
        np.zeros(len(x), np.int64),
        layout,
        num_frames=num_frames,
        batch_size=batch_size,
        sampling=sampling,
        channels=channels,
    )
    return model.predict(data.map(_pose_only), verbose=0)


def predict_sliding_windows(
    model: keras.Model,
    x: np.ndarray,
    layout: JointLayout,
    num_frames: int,
    stride: int | None = None,
    batch_size: int = 64,
    channels: str | None = None,
) -> np.ndarray:
    """Probabilities ``(N, K)`` averaged over each sequence's sliding windows of ``num_frames``."""
    stride = stride or max(num_frames // 2, 1)
    lengths = sequence_lengths(x)
    windows, owners = [], []
    for i, (seq, length) in enumerate(zip(x, lengths)):
        w = sliding_windows(seq, int(length), num_frames, stride, channels)
        windows.append(w)
        owners += [i] * len(w)
    probabilities = predict_sequences(
        model, np.concatenate(windows), layout, num_frames, "resample", batch_size, channels
    )
    _, mean = aggregate_windows(probabilities, np.asarray(owners))
    return mean


def evaluate_classifier(
    model: keras.Model,
    x: np.ndarray,
    y: np.ndarray,
    layout: JointLayout,
    class_names: list[str],
    num_frames: int,
    sampling: str,
    class_group: np.ndarray | None = None,
    group_names: list[str] | None = None,
    channels: str | None = None,
) -> dict:
    """metrics.json content: the window-level metrics at the top, sequence-level ones beside them.

    ``channels`` describes the C values of ``x`` (``None``: ``xy`` for C = 2, ``xyc`` for C = 3).
    """
    probabilities = predict_sequences(model, x, layout, num_frames, sampling, channels=channels)
    metrics = classification_metrics(y, probabilities, class_names)
    metrics["protocol"] = "centre window of T frames" if sampling == "window" else "whole sequence resampled to T"
    if class_group is not None:
        metrics["groups"] = group_accuracy(y, probabilities.argmax(1), class_group, group_names)
    result = {"metrics": metrics, "probabilities": probabilities}
    if sampling == "window":
        seq_probabilities = predict_sliding_windows(model, x, layout, num_frames, channels=channels)
        seq_metrics = classification_metrics(y, seq_probabilities, class_names)
        seq_metrics["protocol"] = f"mean over sliding windows of T frames, stride {max(num_frames // 2, 1)}"
        metrics["sequence_level"] = seq_metrics
        result["sequence_probabilities"] = seq_probabilities
    return result


def write_evaluation(out: Path, result: dict, y: np.ndarray, class_names: list[str], extra: dict, title: str) -> dict:
    """metrics.json, confusion_matrix.png, classification_report.txt and predictions.csv in ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = result["metrics"]
    write_metrics_json(out / "metrics.json", metrics, extra)
    probabilities = result["probabilities"]
    plot_confusion_matrix(
        np.asarray(metrics["confusion_matrix"]),
        class_names,
        out / "confusion_matrix.png",
        title=f"{title}: accuracy {metrics['accuracy']:.1%}",
    )
    report = per_class_report(y, probabilities.argmax(1), class_names)
    if "sequence_probabilities" in result:
        report += "\nSequence level (mean over sliding windows):\n"
        report += per_class_report(y, result["sequence_probabilities"].argmax(1), class_names)
    (out / "classification_report.txt").write_text(report)
    write_predictions_csv(out / "predictions.csv", range(len(y)), y, probabilities, class_names)
    if "sequence_probabilities" in result:
        write_predictions_csv(
            out / "predictions_sequence_level.csv", range(len(y)), y, result["sequence_probabilities"], class_names
        )
    return {**metrics, **extra}
