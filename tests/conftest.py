"""Shared fixtures and hooks: the real data in ../shared (tests that need it skip with a reason when absent) and
the tiny models of the export and inference tests. What tests import lives in tests/helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import EXPORT_CLASSES, EXPORT_F, EXPORT_SIZE, EXPORT_T, SHARED_DIR, sharpen


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` (minutes each) run only with HAR_TF_SLOW_TESTS=1, to keep the suite under 15 minutes."""
    if os.environ.get("HAR_TF_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(
        reason="slow end-to-end test (up to a few minutes, see the README): set HAR_TF_SLOW_TESTS=1 to run it"
    )
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder of real data and models, or skip when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"real data folder {SHARED_DIR} is absent (set HAR_TF_SHARED_DIR to point at it)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def tiny_pose_classifier():
    """A PoseClassifier (PoseFormerFactorized micro with stage 1's default streams, pooling, temporal
    convolution and stream normalisation, COCO-17, T = 8, 4 classes)."""
    import keras

    from har_tf.models import PoseClassifier, PoseFormerFactorized
    from har_tf.training.config import TrainConfig

    keras.utils.set_random_seed(0)  # the same weights in every test process
    defaults = TrainConfig()
    backbone = PoseFormerFactorized.from_preset(
        "micro",
        "coco17",
        num_frames=EXPORT_T,
        streams=defaults.streams,
        pooling=defaults.pooling,
        temporal_kernel=defaults.temporal_kernel,
        stream_norm=defaults.stream_norm,
    )
    model = PoseClassifier(backbone, len(EXPORT_CLASSES), class_names=EXPORT_CLASSES)
    sharpen(model.get_layer("probabilities"))
    return model


@pytest.fixture(scope="session")
def tiny_fusion_model():
    """A MultiModalFusionModel: the micro pose backbone + EfficientNet-Lite0 on 48 px hand crops, F = 3."""
    import keras

    from har_tf.models import FrameEncoder, MultiModalFusionModel, PoseFormerFactorized

    keras.utils.set_random_seed(1)
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=EXPORT_T)
    encoder = FrameEncoder(num_frames=EXPORT_F, frame_size=EXPORT_SIZE, image_size=EXPORT_SIZE, crop="hands")
    model = MultiModalFusionModel(backbone, encoder, len(EXPORT_CLASSES), class_names=EXPORT_CLASSES)
    sharpen(model.head.get_layer("probabilities"))
    sharpen(model.head.get_layer("pose_probabilities"))
    return model
