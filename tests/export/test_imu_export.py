"""Exports and the predictor for a model with an inertial branch (pose + imu): named signatures with an
``imu`` input, the Keras answers in every format (SavedModel, TFLite fp32 / int8 / int8_full, built-in
ops only), "no sensor" = the pose branch, the TF Serving client, and the parity samples' imu."""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from har_tf.data.pose_npz import PoseDataset
from har_tf.errors import InvalidInputError
from har_tf.export import TFLiteRunner, export_samples, export_saved_model, export_tflite, make_servable
from har_tf.export.parity import keras_probabilities
from har_tf.inference import HARPredictor, ServingClient
from tests.helpers import EXPORT_CLASSES, EXPORT_T, FLEX_OR_CUSTOM, export_inputs, operator_codes
from tests.helpers import sharpen as _sharpen

# one worker builds this module's exports (pytest -n 2 --dist loadgroup): they are its slowest part
pytestmark = pytest.mark.xdist_group("test_imu_export")

S, D = 16, 6
IMU_CHANNELS = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")


def imu_for(n: int, seed: int = 0) -> np.ndarray:
    """Raw wrist-sensor clips (n, S, 6): acceleration in g around gravity, angular velocity in deg/s."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, S)[None, :, None]
    freqs, phases = rng.uniform(0.5, 3, (2, n, 1, D))
    waves = np.sin(2 * np.pi * freqs * t + phases * 6)
    scales = np.array([0.8, 0.8, 0.8, 120, 120, 120])
    offsets = np.array([0, 0, 1, 0, 0, 0]) + rng.normal(0, 0.3, (n, 1, D)) * scales / 4
    return (scales * waves + offsets + rng.normal(0, 0.02, (n, S, D)) * scales).astype(np.float32)


def inputs_for(n: int, seed: int) -> dict:
    return {**export_inputs(n=n, seed=seed, frames=False), "imu": imu_for(n, seed)}


def _model():
    """A residual pose + imu fusion model (micro presets) with decided answers, its sensor
    normalisation adapted to the sensor's clips."""
    from har_tf.models import MultiModalFusionModel, PoseFormerFactorized
    from har_tf.models.inertial_encoder import InertialEncoder

    keras.utils.set_random_seed(4)
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=EXPORT_T)
    encoder = InertialEncoder.from_preset("micro", S, D, channel_names=IMU_CHANNELS)
    encoder.adapt(imu_for(64, 100))
    model = MultiModalFusionModel(
        backbone, None, len(EXPORT_CLASSES), class_names=EXPORT_CLASSES, fusion="residual", inertial_encoder=encoder
    )
    _sharpen(model.head.get_layer("pose_logits"), 5.0)
    _sharpen(model.head.get_layer("imu_correction"), 10.0)  # the sensor moves the answer away from the pose branch's
    return model


@pytest.fixture(scope="module")
def pose_imu(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pose_imu")
    model = _model()
    servable = make_servable(model)
    model.save(folder / "model.keras")
    files = {"model": model, "servable": servable, "spec": servable.spec, "keras": folder / "model.keras"}
    files["savedmodel"] = export_saved_model(servable, folder / "serving", samples=inputs_for(8, 1))
    files["loaded"] = tf.saved_model.load(str(files["savedmodel"]))
    files["info"] = export_tflite(servable, folder / "model_fp32.tflite", samples=inputs_for(8, 1))
    files["tflite"] = folder / "model_fp32.tflite"
    files["int8"] = export_tflite(
        servable, folder / "model_int8.tflite", quantization="int8", samples=inputs_for(32, 1)
    )
    return files


def test_signatures_take_the_models_inputs(pose_imu):
    spec = pose_imu["spec"]
    assert spec.imu_shape == (S, D) and spec.imu_channels == IMU_CHANNELS and spec.modalities == ("pose", "imu")
    assert spec.input_names == ("pose", "imu")
    signatures = pose_imu["loaded"].signatures
    assert set(signatures) == {"serving_default", "pose_only", "topk"}
    for signature in ("serving_default", "topk"):
        inputs = signatures[signature].structured_input_signature[1]
        assert set(inputs) == {"pose", "imu"}
        assert inputs["imu"].shape.as_list() == [None, S, D] and inputs["imu"].dtype == tf.float32
    assert set(signatures["pose_only"].structured_input_signature[1]) == {"pose"}
    runner = TFLiteRunner(pose_imu["tflite"])
    assert set(runner.input_details("serving_default")) == {"pose", "imu"}
    assert set(runner.input_details("pose_only")) == {"pose"}
    info = pose_imu["info"]
    assert info["imu_shape"] == [S, D] and info["imu_channels"] == list(IMU_CHANNELS) and info["fusion"] == "residual"
    for name in ("model_fp32.tflite", "model_int8.tflite"):
        assert FLEX_OR_CUSTOM not in operator_codes((pose_imu["tflite"].parent / name).read_bytes())


def test_exports_equal_keras_and_no_sensor_is_the_pose_branch(pose_imu):
    servable = pose_imu["servable"]
    inputs = inputs_for(n=6, seed=3)
    reference, pose_only = keras_probabilities(servable.full, inputs), keras_probabilities(servable.pose_only, inputs)
    assert np.abs(reference - pose_only).max() > 0.05  # the sensor changes the answer
    no_sensor = {**inputs, "imu": np.zeros_like(inputs["imu"])}
    signature = pose_imu["loaded"].signatures["serving_default"]
    runner = TFLiteRunner(pose_imu["tflite"])
    for run in (
        lambda feed: signature(**{k: tf.constant(v) for k, v in feed.items()})["probabilities"].numpy(),
        runner,
    ):
        np.testing.assert_allclose(run(inputs), reference, atol=1e-5, rtol=0)
        np.testing.assert_allclose(run(no_sensor), pose_only, atol=1e-5, rtol=0)
    topk = pose_imu["loaded"].signatures["topk"](**{k: tf.constant(v) for k, v in inputs.items()})
    np.testing.assert_array_equal(topk["class_ids"].numpy()[:, 0], reference.argmax(1))
    for report in pose_imu["info"]["parity"].values():
        assert report["passed"] and report["max_abs_diff"] < 1e-5
    int8 = pose_imu["int8"]
    assert int8["parity"]["serving_default"]["passed"] and int8["parity"]["pose_only"]["passed"]
    assert int8["size_bytes"] < pose_imu["info"]["size_bytes"]
    quantized = TFLiteRunner(pose_imu["tflite"].parent / "model_int8.tflite")(inputs)
    assert (quantized.argmax(1) == reference.argmax(1)).mean() >= 5 / 6


def test_the_predictor_gives_the_same_answers_in_every_format(pose_imu):
    inputs = inputs_for(n=4, seed=6)
    pose, imu = inputs["pose"], inputs["imu"]
    reference = keras_probabilities(pose_imu["servable"].full, inputs)
    np.testing.assert_allclose(pose_imu["model"].predict_proba(pose, imu=imu), reference, atol=1e-5)
    pose_only = keras_probabilities(pose_imu["servable"].pose_only, inputs)
    for fmt in ("keras", "savedmodel", "tflite"):
        predictor = HARPredictor.load(pose_imu[fmt], device="cpu")
        assert predictor.takes_imu and not predictor.takes_frames and predictor.modalities == ("pose", "imu")
        top = predictor.topk(pose, k=2, imu=imu)
        assert [row.class_ids for row in top] == [tuple(np.argsort(-p)[:2].tolist()) for p in reference]
        np.testing.assert_allclose([row.scores for row in top], -np.sort(-reference, 1)[:, :2], atol=1e-5)
        np.testing.assert_allclose(predictor.predict_proba(pose), pose_only, atol=1e-5)  # no sensor
        np.testing.assert_allclose(predictor.predict_proba(pose[0], imu=imu[0]), reference[0], atol=1e-5)
        assert [c.class_names for c in predictor.threshold(pose, thr=0.5, imu=imu)] == [
            tuple(EXPORT_CLASSES[i] for i in np.argsort(-p) if p[i] >= 0.5) for p in reference
        ]
    assert "imu (16, 6)" in repr(predictor)


def test_the_serving_client_sends_imu(pose_imu):
    spec = pose_imu["spec"]
    inputs = inputs_for(n=2, seed=4)
    client = ServingClient("har", spec=spec)
    body = client.rest_body(inputs["pose"], imu=inputs["imu"], request_format="inputs")
    assert body["signature_name"] == "serving_default"
    np.testing.assert_allclose(body["inputs"]["imu"], inputs["imu"])
    rows = client.rest_body(inputs["pose"])  # no sensor: zeros, the same signature (the model's own rule)
    assert rows["signature_name"] == "serving_default" and rows["instances"][1]["imu"] == np.zeros((S, D)).tolist()
    request = ServingClient("har").grpc_request(inputs["pose"], imu=inputs["imu"])  # a client that knows nothing
    assert request.model_spec.signature_name == "serving_default"
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["imu"]), inputs["imu"])
    no_imu = dataclasses.replace(spec, imu_shape=None, imu_channels=None, fusion=None)
    with pytest.raises(InvalidInputError, match="model 'har' .* has no inertial branch: it takes no imu"):
        ServingClient("har", spec=no_imu).rest_body(inputs["pose"], imu=inputs["imu"])
    with pytest.raises(InvalidInputError, match="D = 3 channels but the model takes D = 6"):
        client.grpc_request(inputs["pose"], imu=inputs["imu"][..., :3])


def test_samples_carry_the_datas_imu_or_zeros(pose_imu):
    spec = pose_imu["spec"]
    inputs = inputs_for(n=6, seed=8)
    labels = [i % 4 for i in range(6)]
    data = PoseDataset(
        inputs["pose"][:3],
        labels[:3],
        EXPORT_CLASSES,
        "coco17",
        x_test=inputs["pose"][3:],
        y_test=labels[3:],
        extras={"imu_test": inputs["imu"][3:]},
    )
    np.testing.assert_array_equal(export_samples(data, "test", spec)["imu"], inputs["imu"][3:])
    data.extras["imu_test"] = inputs["imu"][3:, :10]
    with pytest.raises(InvalidInputError, match="imu_test has S = 10 samples per clip but the model takes S = 16"):
        export_samples(data, "test", spec)
    data.extras.clear()
    np.testing.assert_array_equal(export_samples(data, "test", spec)["imu"], np.zeros((3, S, D)))


def test_through_tf_serving_the_client_answers_as_the_predictor(pose_imu):
    from tests.inference.tf_serving_emulator import EmulatedServing

    emulator = EmulatedServing(pose_imu["savedmodel"], "serving", version=1)
    try:
        rest_port, grpc_port = emulator.start_rest(), emulator.start_grpc()
        client = ServingClient.from_export(pose_imu["savedmodel"].parent, rest_port=rest_port, grpc_port=grpc_port)
        predictor = HARPredictor.load(pose_imu["tflite"])
        inputs = inputs_for(n=3, seed=9)
        for protocol in ("rest", "grpc"):
            np.testing.assert_allclose(
                client.predict_proba(inputs["pose"], imu=inputs["imu"], protocol=protocol),
                predictor.predict_proba(inputs["pose"], imu=inputs["imu"]),
                atol=1e-5,
            )
            np.testing.assert_allclose(
                client.predict_proba(inputs["pose"], protocol=protocol),
                predictor.predict_proba(inputs["pose"]),
                atol=1e-5,
            )
        assert (
            client.topk(inputs["pose"], k=2, imu=inputs["imu"])[0].class_names
            == predictor.topk(inputs["pose"], k=2, imu=inputs["imu"])[0].class_names
        )
    finally:
        emulator.stop()


@pytest.mark.slow  # one int8_full conversion with calibration: about a minute
def test_int8_full_keeps_the_raw_sensor_tensors_in_float(pose_imu, tmp_path):
    """Calibrated on training clips with their sensor samples (export_samples' imu); the sensor normalisation
    and the presence test read raw g and deg/s in one tensor, so they stay float (FLOAT_PATTERNS)."""
    servable = pose_imu["servable"]
    train = inputs_for(24, 11)
    data = PoseDataset(
        train["pose"], [i % 4 for i in range(24)], EXPORT_CLASSES, "coco17", extras={"imu_train": train["imu"]}
    )
    representative = export_samples(data, "train", servable.spec, limit=16, seed=1)
    assert representative["imu"].shape == (16, S, D) and np.abs(representative["imu"]).max() > 50
    info = export_tflite(
        servable,
        tmp_path / "model_int8_full.tflite",
        quantization="int8_full",
        samples=inputs_for(64, 12),
        representative=representative,
    )
    assert info["parity"]["serving_default"]["passed"] and info["parity"]["pose_only"]["passed"]
    assert FLEX_OR_CUSTOM not in operator_codes((tmp_path / "model_int8_full.tflite").read_bytes())
    inputs = inputs_for(6, 3)
    runner = TFLiteRunner(tmp_path / "model_int8_full.tflite")
    no_sensor = runner({**inputs, "imu": np.zeros_like(inputs["imu"])})
    np.testing.assert_allclose(no_sensor, runner(inputs, signature="pose_only"), atol=0.05)
