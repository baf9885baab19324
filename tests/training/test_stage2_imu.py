"""Stage 2 with the inertial branch: trains from the data's sensor samples (2D and padded 3D poses), writes
the run folder with the inertial-only baseline, and the saved model falls back to the pose branch
without a sensor."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from har_tf.data.pose_npz import PoseDataset
from har_tf.data.synthetic import SyntheticConfig, generate_dataset
from har_tf.errors import InvalidInputError
from har_tf.training.config import TrainConfig
from har_tf.training.stage1 import build_classifier
from har_tf.training.stage2 import train_stage2

S, D = 32, 6


def _imu(n: int, seed: int) -> np.ndarray:
    imu = np.random.default_rng(seed).normal(0.0, 1.0, (n, S, D)).astype(np.float32)
    imu[::4] = 0.0  # some clips without a sensor
    return imu


def _with_imu(dataset: PoseDataset) -> PoseDataset:
    extras = {
        **dataset.extras,
        **{f"imu_{s}": _imu(len(dataset.split(s)[1]), i) for i, s in enumerate(dataset.splits)},
        "imu_channels": np.asarray(["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"]),
        "imu_rate_hz": np.float32(50.0),
    }
    return type(dataset)(**{**dataset.__dict__, "extras": extras})


@pytest.fixture(scope="module")
def dataset():
    # no frames: the inertial branch needs only poses and sensor samples
    return _with_imu(
        generate_dataset(
            SyntheticConfig(seed=3, clips_per_class=(6, 2, 2), subjects=(3, 1, 1), render=False), progress=False
        )
    )


def _xyz_dataset() -> PoseDataset:
    """Kinect-like 3D skeletons (metres), sequences of 12 to 20 frames zero-padded to 20, train and test only."""
    rng = np.random.default_rng(5)

    def split(n):
        x = (rng.normal(0.0, 0.3, (n, 20, 20, 3)) + [0.0, 0.0, 2.5]).astype(np.float32)
        for i, length in enumerate(rng.integers(12, 21, n)):
            x[i, length:] = 0.0
        return x, np.arange(n) % 3

    (x_train, y_train), (x_test, y_test) = split(12), split(6)
    return _with_imu(
        PoseDataset(x_train, y_train, ["a", "b", "c"], "kinect_v1", x_test=x_test, y_test=y_test, channels="xyz")
    )


def _config(**overrides) -> TrainConfig:
    return TrainConfig(
        **{
            "fusion_epochs": 2,
            "fusion_freeze_epochs": 1,
            "batch_size": 16,
            "modalities": ["imu"],
            "fusion": "residual",
            "imu_only_epochs": 2,
            **overrides,
        }
    )


@pytest.mark.slow
def test_imu_stage2_writes_the_run_and_falls_back_without_a_sensor(dataset, tmp_path):
    config = _config()
    pose_model = build_classifier(config, dataset)
    summary = train_stage2(config, tmp_path, dataset, pose_model, verbose=0)
    assert summary["modalities"] == ["pose", "imu"] and summary["imu_preset"] == "micro"
    assert set(summary["models"]) == {"pose branch (after stage 2)", "imu_only", "fused"}
    metrics = json.loads((tmp_path / "fusion" / "metrics.json").read_text())
    assert metrics["num_test"] == len(dataset.y_test) and metrics["modalities"] == ["pose", "imu"]
    assert (tmp_path / "imu_only" / "metrics.json").is_file() and not (tmp_path / "image_only").exists()

    model = keras.saving.load_model(tmp_path / "fusion_model.keras", safe_mode=True)
    assert set(model.input) == {"pose", "imu"}
    assert model.inertial_encoder.channel_names[0] == "acc_x"
    train_imu = dataset.extras["imu_train"]
    present = train_imu[(train_imu != 0).any(-1)]
    np.testing.assert_allclose(
        model.inertial_encoder.get_layer("imu_normalization").mean.numpy(), present.mean(0), atol=1e-5
    )  # adapted on the training split
    pose, imu = dataset.x_test, dataset.extras["imu_test"]
    fused = model.predict_proba(pose, imu=imu)
    assert fused.shape == (len(pose), dataset.num_classes)
    pose_only = model.pose_only_model().predict(pose, verbose=0)
    np.testing.assert_allclose(model.predict_proba(pose, imu=np.zeros_like(imu)), pose_only, atol=1e-6)
    with_sensor = (imu != 0).any(axis=(1, 2))
    assert not np.allclose(fused[with_sensor], pose_only[with_sensor])


def test_imu_stage2_on_padded_3d_poses_without_a_val_split(tmp_path):
    dataset = _xyz_dataset()
    # the UTD-MHAD recipe's fusion: sum, with pose dropout, the inertial branch started from the baseline
    config = _config(
        fusion="sum", fusion_pose_dropout=0.5, num_frames=16, sampling="resample", fusion_epochs=1, imu_only_epochs=1
    )
    summary = train_stage2(config, tmp_path, dataset, build_classifier(config, dataset), verbose=0)
    assert summary["modalities"] == ["pose", "imu"] and "imu_only" in summary["models"]
    model = keras.saving.load_model(tmp_path / "fusion_model.keras", safe_mode=True)
    assert model.input["pose"].shape[1:] == (16, 20, 3) and model.normalization.channels == "xyz"
    assert model.fusion == "sum" and model.pose_dropout == 0.5
    x, imu = dataset.x_test[:, :16], dataset.extras["imu_test"]
    np.testing.assert_allclose(
        model.predict_proba(x, imu=np.zeros_like(imu)), model.pose_only_model().predict(x, verbose=0), atol=1e-6
    )  # no sensor: the pose branch


def test_image_crops_need_pixel_poses(tmp_path):
    dataset = _xyz_dataset()
    config = _config(modalities=["image", "imu"], image_crop="each_hand", num_frames=16)
    with pytest.raises(InvalidInputError, match="this data's poses are 3D .* use image_crop none"):
        train_stage2(config, tmp_path, dataset, build_classifier(config, dataset), verbose=0)


def test_imu_modality_needs_sensor_samples_in_every_split(dataset, tmp_path):
    stripped = type(dataset)(
        **{**dataset.__dict__, "extras": {k: v for k, v in dataset.extras.items() if k != "imu_val"}}
    )
    config = _config()
    with pytest.raises(InvalidInputError, match=r"imu modality needs the sensor samples of every split \(imu_val"):
        train_stage2(config, tmp_path, stripped, build_classifier(config, dataset), verbose=0)
    wrong = type(dataset)(
        **{**dataset.__dict__, "extras": {**dataset.extras, "imu_test": dataset.extras["imu_test"][:, :, :3]}}
    )
    with pytest.raises(InvalidInputError, match="imu_test has D = 3 channels"):
        train_stage2(config, tmp_path, wrong, build_classifier(config, dataset), verbose=0)


def test_config_takes_imu_and_refuses_unknown_modalities():
    assert TrainConfig(modalities=["imu", "image"]).modalities == ("imu", "image")
    for bad in (["audio"], [], ["imu", "imu"]):
        with pytest.raises(InvalidInputError, match="modalities must be a non-empty list"):
            TrainConfig(modalities=bad)
    with pytest.raises(InvalidInputError, match="imu_preset must be micro or small"):
        TrainConfig(imu_preset="huge")


def test_sum_fusion_starts_as_the_product_of_the_pose_and_inertial_experts():
    from har_tf.models.fusion import MultiModalFusionModel, imu_only_classifier, pose_head_layers
    from har_tf.models.inertial_encoder import InertialEncoder
    from har_tf.models.pose_former import PoseFormerFactorized
    from har_tf.training.stage2 import start_from_imu_only

    keras.utils.set_random_seed(0)
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=8)
    fusion = MultiModalFusionModel(
        backbone, None, 4, fusion="sum", pose_dropout=0.5, inertial_encoder=InertialEncoder.from_preset("micro", S, D)
    )
    trained = InertialEncoder.from_preset("micro", S, D)
    trained.adapt(_imu(16, 1) * 3.0 + 1.0)
    imu_model = imu_only_classifier(trained, 4)
    imu_model.get_layer("probabilities").set_weights(
        [np.random.default_rng(2).normal(size=(trained.embedding_dim, 4)), np.arange(4.0)]
    )
    start_from_imu_only(fusion, imu_model)
    pose = np.random.default_rng(3).uniform(100, 400, (3, 8, 17, 3)).astype(np.float32)
    pose[..., 2] = 0.9
    imu = _imu(3, 4) + 1.0
    expert = fusion.pose_only_model().predict(pose, verbose=0) * imu_model.predict(imu, verbose=0)
    np.testing.assert_allclose(
        fusion.predict_proba(pose, imu=imu), expert / expert.sum(axis=1, keepdims=True), atol=1e-5
    )
    assert pose_head_layers(fusion.head)[0].name == "pose_logits"
