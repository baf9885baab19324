"""scripts/export.py as a user runs it: SavedModel + TFLite from a .keras file, checked on held-out clips."""

from __future__ import annotations

import json

import pytest

from har_tf.data.pose_npz import PoseDataset
from tests.helpers import EXPORT_CLASSES, export_inputs, run_script


@pytest.fixture(scope="module")
def model_and_data(tiny_pose_classifier, tmp_path_factory):
    folder = tmp_path_factory.mktemp("export_script")
    clips = export_inputs(n=16, seed=11, frames=False)["pose"]
    labels = [i % len(EXPORT_CLASSES) for i in range(16)]
    data = PoseDataset(clips[:8], labels[:8], EXPORT_CLASSES, "coco17", x_test=clips[8:], y_test=labels[8:])
    tiny_pose_classifier.save(folder / "pose_model.keras")
    return folder / "pose_model.keras", data.save(folder / "data.npz"), folder


def test_export_writes_a_serving_version_and_tflite_files(model_and_data):
    model, data, folder = model_and_data
    out = folder / "har_pose"
    result = run_script(
        "export.py",
        "--model",
        str(model),
        "--data",
        str(data),
        "--out",
        str(out),
        "--format",
        "savedmodel",
        "tflite",
        "--quantization",
        "fp32",
        "int8",
        "--batch-one",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "1" / "saved_model.pb").is_file() and (out / "models.config").is_file()
    info = json.loads((out / "1" / "assets.extra" / "export_info.json").read_text())
    assert info["parity"]["serving_default"]["num_samples"] == 8 and info["source_model"] == str(model)
    for quantization in ("fp32", "int8"):
        tflite = out / "tflite" / f"pose_model_{quantization}_b1.tflite"
        side = json.loads(tflite.with_suffix(".json").read_text())
        assert side["batch_size"] == 1 and side["size_bytes"] == tflite.stat().st_size
    assert "| TFLite int8 |" in result.stdout and "| SavedModel |" in result.stdout
    sizes = {q: (out / "tflite" / f"pose_model_{q}_b1.tflite").stat().st_size for q in ("fp32", "int8")}
    int8_row = next(line for line in result.stdout.splitlines() if line.startswith("| TFLite int8 |"))
    assert int8_row.split(" | ")[2] == f"{sizes['int8'] / sizes['fp32']:.1%}", int8_row  # its share of fp32

    again = run_script("export.py", "--model", str(model), "--data", str(data), "--out", str(out), "--version", "1")
    assert again.returncode == 2
    assert again.stderr.strip().splitlines()[-1].startswith("error: ") and "--force" in again.stderr


def test_a_missing_model_is_a_one_line_error(tmp_path):
    result = run_script("export.py", "--model", str(tmp_path / "nope.keras"), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == f"error: no such model file: {tmp_path / 'nope.keras'}"
