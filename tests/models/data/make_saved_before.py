"""Writes the reference models that tests/models/test_saved_before.py loads (run once, with the code whose
files must keep loading): ``python tests/models/data/make_saved_before.py``.

- ``pose_classifier.keras``: PoseClassifier on PoseFormerFactorized micro (COCO-17, T = 8, C = 3, all five
  streams, mean_max pooling, temporal kernel 5, stream normalisation, frame token, one temporal pooling).
- ``ddnet_classifier.keras``: PoseClassifier on DDNet micro (COCO-17, T = 8).
- ``fusion_objects_imu.keras``: MultiModalFusionModel (pose + objects + imu, residual, pose dropout).
- ``fusion_image_config.json``: the config and the weight file's layout of the image fusion model of
  ``tests/conftest.py`` (``tiny_fusion_model``; its EfficientNet-Lite0 is 13 MB, too large to keep).
- ``saved_before.npz``: the inputs and each model's outputs.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from har_tf.models import (  # noqa: E402
    DDNet,
    FrameEncoder,
    InertialEncoder,
    MultiModalFusionModel,
    ObjectEncoder,
    PoseClassifier,
    PoseFormerFactorized,
)
from tests.helpers import weight_layout  # noqa: E402

T, F, SIZE, CLASSES = 8, 3, 48, ("walk", "fall", "drink", "wave")
STREAMS = ("joints", "velocities", "velocities2", "bones", "distances")


def main() -> None:
    rng = np.random.default_rng(0)
    pose = rng.uniform(4, SIZE - 4, (3, T, 17, 3)).astype(np.float32)
    pose[..., 2] = rng.uniform(0.3, 1.0, (3, T, 17))
    pose[rng.uniform(size=(3, T, 17)) < 0.1] = 0.0
    objects = np.zeros((3, T, 2, 6), np.float32)
    objects[:2, :, 0] = [1, 10, 10, 30, 30, 0.9]
    objects[0, :, 1] = [2, 5, 20, 15, 40, 0.7]
    imu = rng.normal(size=(3, 16, 6)).astype(np.float32)
    imu[2] = 0.0
    arrays = {"pose": pose, "objects": objects, "imu": imu}

    keras.utils.set_random_seed(0)
    backbone = PoseFormerFactorized.from_preset(
        "micro",
        "coco17",
        num_frames=T,
        num_channels=3,
        streams=STREAMS,
        pooling="mean_max",
        temporal_kernel=5,
        stream_norm=True,
        frame_token=True,
        temporal_pooling=1,
    )
    classifier = PoseClassifier(backbone, len(CLASSES), class_names=CLASSES)
    classifier.save(HERE / "pose_classifier.keras")
    arrays["pose_classifier"] = classifier.predict(pose, verbose=0)

    keras.utils.set_random_seed(1)
    ddnet = PoseClassifier(DDNet.from_preset("micro", "coco17", num_frames=T), len(CLASSES), class_names=CLASSES)
    ddnet.save(HERE / "ddnet_classifier.keras")
    arrays["ddnet_classifier"] = ddnet.predict(pose, verbose=0)

    keras.utils.set_random_seed(2)
    inertial = InertialEncoder.from_preset("micro", num_samples=16, num_channels=6)
    inertial.adapt(imu[:2])
    fusion = MultiModalFusionModel(
        PoseFormerFactorized.from_preset("micro", "coco17", num_frames=T, streams=("joints", "bones")),
        None,
        len(CLASSES),
        class_names=CLASSES,
        fusion="residual",
        object_encoder=ObjectEncoder.from_preset("micro", num_frames=T, class_names=("none", "cup", "phone")),
        inertial_encoder=inertial,
        pose_dropout=0.2,
    )
    fusion.save(HERE / "fusion_objects_imu.keras")
    out = fusion.predict({"pose": pose, "objects": objects, "imu": imu}, verbose=0)
    arrays["fusion_probabilities"] = out["probabilities"]
    arrays["fusion_pose_probabilities"] = out["pose_probabilities"]

    keras.utils.set_random_seed(1)  # tests/conftest.py: tiny_fusion_model
    image = MultiModalFusionModel(
        PoseFormerFactorized.from_preset("micro", "coco17", num_frames=T),
        FrameEncoder(num_frames=F, frame_size=SIZE, image_size=SIZE, crop="hands"),
        len(CLASSES),
        class_names=CLASSES,
    )
    config = keras.saving.serialize_keras_object(image)
    (HERE / "fusion_image_config.json").write_text(
        json.dumps({"config": config, "weights": weight_layout(image)}, indent=1, sort_keys=True) + "\n"
    )
    np.savez_compressed(HERE / "saved_before.npz", **arrays)


if __name__ == "__main__":
    main()
