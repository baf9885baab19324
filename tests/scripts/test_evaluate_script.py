"""scripts/evaluate.py: metrics for a saved model, both protocols, and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from har_tf.data.pose_npz import PoseDataset
from har_tf.models import PoseClassifier, PoseFormerFactorized
from tests.helpers import run_script


def _run(*args: str):
    return run_script("evaluate.py", *args)


def _long_sequences(tmp_path, layout="body25", joints=25) -> Path:
    rng = np.random.default_rng(0)
    x = rng.uniform(50, 400, (9, 130, joints, 3)).astype(np.float32)  # long recordings: 130 >= 4 T frames
    x[..., 2] = 1.0
    x[0, 70:] = 0.0  # one shorter sequence, zero-padded
    y = np.array([0, 1, 2] * 3)
    return PoseDataset(x[:3], y[:3], ["a", "b", "c"], layout, x_test=x, y_test=y).save(tmp_path / "long.npz")


def _model(tmp_path, joints=25, layout="body25") -> Path:
    backbone = PoseFormerFactorized.from_preset("micro", layout)
    path = tmp_path / "model.keras"
    PoseClassifier(backbone, 3, class_names=["a", "b", "c"]).save(path)
    assert backbone.input_shape == (None, 30, joints, 3)
    return path


def test_window_and_sequence_level_metrics(tmp_path):
    out = tmp_path / "eval"
    result = _run("--model", str(_model(tmp_path)), "--data", str(_long_sequences(tmp_path)), "--out", str(out))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_test"] == 9 and metrics["sampling"] == "window"
    assert metrics["sequence_level"]["num_test"] == 9
    assert "sliding windows" in metrics["sequence_level"]["protocol"]
    rows = (out / "predictions_sequence_level.csv").read_text().strip().splitlines()
    assert len(rows) == 10
    assert (out / "confusion_matrix.png").stat().st_size > 5000


def test_layout_mismatch_and_non_model_files_are_one_line_errors(tmp_path):
    data = _long_sequences(tmp_path)
    coco_model = tmp_path / "coco"
    coco_model.mkdir()
    mismatch = _run("--model", str(_model(coco_model, 17, "coco17")), "--data", str(data), "--out", str(tmp_path / "o"))
    assert mismatch.returncode == 2
    assert "J=17 joints" in mismatch.stderr.strip().splitlines()[-1]
    junk = tmp_path / "junk.keras"
    junk.write_text("not a model")
    broken = _run("--model", str(junk), "--data", str(data), "--out", str(tmp_path / "o"))
    assert broken.returncode == 2 and "not a readable Keras model" in broken.stderr.strip().splitlines()[-1]
    assert "Traceback" not in broken.stderr + mismatch.stderr
