"""Models saved by earlier code load with safe_mode=True and give identical outputs (files in tests/models/data,
written by tests/models/data/make_saved_before.py)."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from har_tf.models import MultiModalFusionModel, PoseClassifier
from tests.helpers import weight_layout

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def saved():
    return dict(np.load(DATA / "saved_before.npz"))


@pytest.mark.parametrize("name", ["pose_classifier", "ddnet_classifier"])
def test_saved_pose_classifiers_load_with_identical_outputs(saved, name):
    model = keras.saving.load_model(DATA / f"{name}.keras", safe_mode=True)
    assert isinstance(model, PoseClassifier) and model.class_names == ["walk", "fall", "drink", "wave"]
    np.testing.assert_array_equal(model.predict(saved["pose"], verbose=0), saved[name])


def test_saved_fusion_model_loads_with_identical_outputs(saved):
    model = keras.saving.load_model(DATA / "fusion_objects_imu.keras", safe_mode=True)
    assert isinstance(model, MultiModalFusionModel) and model.modalities == ("pose", "objects", "imu")
    assert model.pose_dropout == 0.2
    out = model.predict({key: saved[key] for key in ("pose", "objects", "imu")}, verbose=0)
    np.testing.assert_array_equal(out["probabilities"], saved["fusion_probabilities"])
    np.testing.assert_array_equal(out["pose_probabilities"], saved["fusion_pose_probabilities"])


def test_saved_image_fusion_config_builds_the_same_model_and_weight_file():
    reference = json.loads((DATA / "fusion_image_config.json").read_text())
    model = keras.saving.deserialize_keras_object(reference["config"], safe_mode=True)
    assert isinstance(model, MultiModalFusionModel) and model.modalities == ("pose", "image")
    expected = reference["config"]
    expected["config"]["frame_encoder"]["config"]["weights"] = None  # a loaded encoder reads no weights file
    assert json.loads(json.dumps(keras.saving.serialize_keras_object(model))) == expected
    assert weight_layout(model) == reference["weights"]
