"""A 3D (xyz) pose classifier keeps its channels through the servable and the predictor: a depth in metres
is never checked as a confidence, and the export normalises all three coordinates."""

from __future__ import annotations

import numpy as np

from har_tf.export.servable import ServingSpec, make_servable
from har_tf.inference import HARPredictor
from har_tf.io import save_keras_atomic
from har_tf.models.classifier import PoseClassifier
from har_tf.models.layers import PoseNormalization
from har_tf.models.pose_former import PoseFormerFactorized


def test_xyz_pose_classifier_serves_3d_poses(tmp_path):
    backbone = PoseFormerFactorized.from_preset("micro", "kinect_v1", num_frames=8, channels="xyz")
    model = PoseClassifier(backbone, 3, class_names=["a", "b", "c"])
    servable = make_servable(model)
    assert servable.spec.pose_channels == "xyz"
    assert ServingSpec.from_dict(servable.spec.to_dict()) == servable.spec
    rng = np.random.default_rng(0)
    pose = rng.uniform(-0.5, 0.5, (2, 8, 20, 3)).astype(np.float32)
    pose[..., 2] += 2.5  # metres from the camera: far outside a confidence's [0, 1]
    expected = model(PoseNormalization("kinect_v1", channels="xyz")(pose)).numpy()
    np.testing.assert_allclose(servable.full(pose).numpy(), expected, atol=1e-5)
    path = save_keras_atomic(model, tmp_path / "pose_model.keras")
    predictor = HARPredictor.load(path)
    np.testing.assert_allclose(predictor.predict_proba(pose), expected, atol=1e-5)
