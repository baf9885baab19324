"""Stage 2 with the object stream: trains from the data's detections, writes the run folder, and the
saved model falls back to the pose branch for clips without detections."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from har_tf.data.synthetic import SyntheticConfig, generate_dataset
from har_tf.errors import InvalidInputError
from har_tf.training.config import TrainConfig
from har_tf.training.stage1 import build_classifier
from har_tf.training.stage2 import train_stage2


@pytest.fixture(scope="module")
def dataset():
    # no frames: the objects branch needs only poses and detections
    return generate_dataset(
        SyntheticConfig(seed=3, clips_per_class=(6, 2, 2), subjects=(3, 1, 1), render=False), progress=False
    )


def _config(**overrides) -> TrainConfig:
    return TrainConfig(
        **{
            "fusion_epochs": 2,
            "fusion_freeze_epochs": 1,
            "batch_size": 16,
            "modalities": ["objects"],
            "fusion": "residual",
            **overrides,
        }
    )


def test_objects_only_stage2_writes_the_run_and_falls_back_without_detections(dataset, tmp_path):
    config = _config()
    pose_model = build_classifier(config, dataset)
    summary = train_stage2(config, tmp_path, dataset, pose_model, verbose=0)
    assert summary["modalities"] == ["pose", "objects"]
    assert set(summary["models"]) == {"pose branch (after stage 2)", "fused"}  # no image-only baseline without frames
    metrics = json.loads((tmp_path / "fusion" / "metrics.json").read_text())
    assert metrics["num_test"] == len(dataset.y_test) and metrics["modalities"] == ["pose", "objects"]
    assert not (tmp_path / "image_only").exists()

    model = keras.saving.load_model(tmp_path / "fusion_model.keras", safe_mode=True)
    assert set(model.input) == {"pose", "objects"}
    pose, objects = dataset.x_test, dataset.extras["objects_test"]
    fused = model.predict_proba(pose, objects=objects)
    assert fused.shape == (len(pose), dataset.num_classes)
    np.testing.assert_allclose(
        model.predict_proba(pose, objects=np.zeros_like(objects)),
        model.pose_only_model().predict(pose, verbose=0),
        atol=1e-6,
    )
    with_objects = (objects[..., 0] > 0).any(axis=(1, 2))
    assert not np.allclose(fused[with_objects], model.pose_only_model().predict(pose[with_objects], verbose=0))


def test_objects_modality_needs_detections_in_the_data(dataset, tmp_path):
    stripped = type(dataset)(
        **{**dataset.__dict__, "extras": {k: v for k, v in dataset.extras.items() if not k.startswith("objects_")}}
    )
    config = _config()
    with pytest.raises(InvalidInputError, match="objects modality needs the detections of every split"):
        train_stage2(config, tmp_path, stripped, build_classifier(config, dataset), verbose=0)


def test_config_refuses_unknown_modalities():
    with pytest.raises(InvalidInputError, match="modalities must be a non-empty list"):
        TrainConfig(modalities=["audio"])
    with pytest.raises(InvalidInputError, match="modalities must be a non-empty list"):
        TrainConfig(modalities=[])
