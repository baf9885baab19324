"""Exports and the predictor for models with an object branch (pose + objects, pose + image + objects):
named signatures, the Keras answers, "no detections" = the pose branch, one API over every format."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from har_tf.data.pose_npz import PoseDataset
from har_tf.errors import InvalidInputError
from har_tf.export import TFLiteRunner, export_samples, export_saved_model, export_tflite, make_servable
from har_tf.export.parity import keras_probabilities
from har_tf.inference import HARPredictor, ServingClient
from tests.helpers import (
    EXPORT_CLASSES,
    EXPORT_T,
    FLEX_OR_CUSTOM,
    OBJECT_CLASSES,
    export_inputs,
    operator_codes,
)
from tests.helpers import OBJECT_SLOTS as SLOTS
from tests.helpers import objects_export_inputs as inputs_for
from tests.helpers import objects_fusion_model as _model

# one worker builds this module's exports (pytest -n 2 --dist loadgroup): they are its slowest part
pytestmark = pytest.mark.xdist_group("test_objects_export")

# the pose + image + objects export (its image branch makes it the slowest to build) runs with the slow tests
MODELS = ("pose_objects", pytest.param("pose_image_objects", marks=pytest.mark.slow))


def _export(image: bool, folder) -> dict:
    model = _model(image)
    servable = make_servable(model)
    files = {"servable": servable, "spec": servable.spec}
    if not image:  # the .keras file, parity in the SavedModel export and int8: for the cheaper model
        model.save(folder / "model.keras")
        files["keras"] = folder / "model.keras"
        files["int8"] = export_tflite(
            servable, folder / "model_int8.tflite", quantization="int8", samples=inputs_for(servable.spec, 8, 1)
        )
    samples = None if image else inputs_for(servable.spec, 8, 1)
    files["savedmodel"] = export_saved_model(servable, folder / "serving", samples=samples)
    files["loaded"] = tf.saved_model.load(str(files["savedmodel"]))
    files["info"] = export_tflite(servable, folder / "model_fp32.tflite", samples=inputs_for(servable.spec, 4, 1))
    files["tflite"] = folder / "model_fp32.tflite"
    return files


@pytest.fixture(scope="module")
def pose_objects(tmp_path_factory):
    return _export(False, tmp_path_factory.mktemp("pose_objects"))


@pytest.fixture(scope="module")
def pose_image_objects(tmp_path_factory):
    return _export(True, tmp_path_factory.mktemp("pose_image_objects"))


@pytest.mark.parametrize("name", MODELS)
def test_signatures_take_the_models_inputs(name, request):
    files = request.getfixturevalue(name)
    spec = files["spec"]
    expected = {"pose", "objects"} | ({"frames"} if name == "pose_image_objects" else set())
    assert spec.objects_shape == (EXPORT_T, SLOTS, 6) and spec.object_classes == OBJECT_CLASSES
    assert set(spec.input_names) == expected
    signatures = files["loaded"].signatures
    assert set(signatures) == {"serving_default", "pose_only", "topk"}
    for signature in ("serving_default", "topk"):
        inputs = signatures[signature].structured_input_signature[1]
        assert set(inputs) == expected
        assert inputs["objects"].shape.as_list() == [None, EXPORT_T, SLOTS, 6] and inputs["objects"].dtype == tf.float32
    assert set(signatures["pose_only"].structured_input_signature[1]) == {"pose"}
    assert signatures["serving_default"].structured_outputs["probabilities"].shape.as_list() == [None, 4]
    runner = TFLiteRunner(files["tflite"])
    assert set(runner.input_details("serving_default")) == expected
    assert set(runner.input_details("pose_only")) == {"pose"}
    assert files["info"]["objects_shape"] == [EXPORT_T, SLOTS, 6] and files["info"]["fusion"] == "residual"
    assert FLEX_OR_CUSTOM not in operator_codes(files["tflite"].read_bytes())


@pytest.mark.parametrize("name", MODELS)
def test_exports_equal_keras_and_no_detections_is_the_pose_branch(name, request):
    files = request.getfixturevalue(name)
    servable = files["servable"]
    inputs = inputs_for(files["spec"], n=5, seed=3)
    reference, pose_only = keras_probabilities(servable.full, inputs), keras_probabilities(servable.pose_only, inputs)
    assert np.abs(reference - pose_only).max() > 0.05  # the objects (and frames) change the answer
    nothing = {key: (value if key == "pose" else np.zeros_like(value)) for key, value in inputs.items()}
    signature = files["loaded"].signatures["serving_default"]
    runner = TFLiteRunner(files["tflite"])
    for run in (
        lambda feed: signature(**{k: tf.constant(v) for k, v in feed.items()})["probabilities"].numpy(),
        runner,
    ):
        np.testing.assert_allclose(run(inputs), reference, atol=1e-5, rtol=0)
        np.testing.assert_allclose(run(nothing), pose_only, atol=1e-5, rtol=0)
    topk = files["loaded"].signatures["topk"](**{k: tf.constant(v) for k, v in inputs.items()})
    np.testing.assert_array_equal(topk["class_ids"].numpy()[:, 0], reference.argmax(1))
    for report in files["info"]["parity"].values():
        assert report["passed"] and report["max_abs_diff"] < 1e-5
    if "int8" in files:
        assert files["int8"]["parity"]["serving_default"]["passed"]
        assert files["int8"]["size_bytes"] < files["info"]["size_bytes"]
        assert FLEX_OR_CUSTOM not in operator_codes((files["tflite"].parent / "model_int8.tflite").read_bytes())


@pytest.mark.slow  # builds the pose + image + objects export
def test_the_predictor_gives_the_same_top_k_in_every_format(pose_objects, pose_image_objects):
    cases = ((pose_objects, ("keras", "savedmodel", "tflite")), (pose_image_objects, ("tflite",)))
    for files, formats in cases:
        servable = files["servable"]
        inputs = inputs_for(files["spec"], n=4, seed=6)
        frames = inputs.get("frames")
        reference = keras_probabilities(servable.full, inputs)
        no_objects = keras_probabilities(servable.full, {**inputs, "objects": np.zeros_like(inputs["objects"])})
        for fmt in formats:
            predictor = HARPredictor.load(files[fmt], device="cpu")
            assert predictor.takes_objects and predictor.modalities == files["spec"].modalities
            top = predictor.topk(inputs["pose"], frames, k=2, objects=inputs["objects"])
            assert [row.class_ids for row in top] == [tuple(np.argsort(-p)[:2].tolist()) for p in reference]
            np.testing.assert_allclose([row.scores for row in top], -np.sort(-reference, 1)[:, :2], atol=1e-5)
            np.testing.assert_allclose(predictor.predict_proba(inputs["pose"], frames), no_objects, atol=1e-5)
            one = predictor.predict_proba(
                inputs["pose"][0], None if frames is None else frames[0], inputs["objects"][0]
            )
            np.testing.assert_allclose(one, reference[0], atol=1e-5)
    # residual: objects without frames = the objects with all-zero frames; neither = the pose branch
    predictor = HARPredictor.load(pose_image_objects["tflite"])
    inputs = inputs_for(pose_image_objects["spec"], n=3, seed=7)
    no_frames = {**inputs, "frames": np.zeros_like(inputs["frames"])}
    np.testing.assert_allclose(
        predictor.predict_proba(inputs["pose"], objects=inputs["objects"]),
        keras_probabilities(pose_image_objects["servable"].full, no_frames),
        atol=1e-5,
    )
    np.testing.assert_allclose(
        predictor.predict_proba(inputs["pose"]),
        keras_probabilities(pose_image_objects["servable"].pose_only, inputs),
        atol=1e-5,
    )


def test_objects_are_checked_with_clear_errors(pose_objects, tiny_pose_classifier, tmp_path):
    predictor = HARPredictor.load(pose_objects["tflite"])
    inputs = inputs_for(pose_objects["spec"], n=2, seed=2)
    pose, objects = inputs["pose"], inputs["objects"]
    with pytest.raises(InvalidInputError, match="K = 2 detection slots per frame but the model takes K = 3"):
        predictor.predict_proba(pose, objects=objects[:, :, :2])
    with pytest.raises(InvalidInputError, match="has T = 5 frames but the poses have T = 8"):
        predictor.predict_proba(pose, objects=objects[:, :5])
    with pytest.raises(InvalidInputError, match=r"class ids must be whole numbers in \[0, 4\)"):
        predictor.predict_proba(pose, objects=np.where(objects == 3, 7, objects))
    with pytest.raises(InvalidInputError, match="has 1 clips but the poses have 2"):
        predictor.predict_proba(pose, objects=objects[:1])
    with pytest.raises(InvalidInputError, match=r"fuses pose \+ objects and has no image branch"):
        predictor.predict_proba(pose, export_inputs(n=2)["frames"])
    tiny_pose_classifier.save(tmp_path / "pose.keras")
    with pytest.raises(InvalidInputError, match=r"this model \(pose\) has no object branch: it takes no objects"):
        HARPredictor.load(tmp_path / "pose.keras").predict_proba(pose, objects=objects)


@pytest.mark.parametrize("name", MODELS)
def test_the_serving_client_sends_objects(name, request):
    spec = request.getfixturevalue(name)["spec"]
    inputs = inputs_for(spec, n=2, seed=4)
    client = ServingClient("har", spec=spec)
    body = client.rest_body(inputs["pose"], objects=inputs["objects"], request_format="inputs")
    assert body["signature_name"] == "serving_default" and body["inputs"]["objects"] == inputs["objects"].tolist()
    if "frames" in inputs:  # residual: all-zero frames stand for "no frames"
        assert np.array_equal(body["inputs"]["frames"], np.zeros_like(inputs["frames"]))
        assert client.rest_body(inputs["pose"])["signature_name"] == "pose_only"
    rows = client.rest_body(inputs["pose"], inputs.get("frames"))
    assert rows["signature_name"] == "serving_default"
    assert rows["instances"][1]["objects"] == np.zeros((EXPORT_T, SLOTS, 6)).tolist()  # no detections
    request = ServingClient("har").grpc_request(inputs["pose"], objects=inputs["objects"])
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["objects"]), inputs["objects"])
    no_objects = dataclasses.replace(spec, objects_shape=None, object_classes=None)
    with pytest.raises(InvalidInputError, match="model 'har' .* has no object branch: it takes no objects"):
        ServingClient("har", spec=no_objects).rest_body(inputs["pose"], inputs.get("frames"), objects=inputs["objects"])
    with pytest.raises(InvalidInputError, match="K = 1 detection slots"):
        client.grpc_request(inputs["pose"], objects=inputs["objects"][:, :, :1])


def test_samples_carry_the_datas_objects_or_zeros(pose_objects):
    spec = pose_objects["spec"]
    inputs = inputs_for(spec, n=6, seed=8)
    labels = [i % 4 for i in range(6)]
    data = PoseDataset(
        inputs["pose"][:3],
        labels[:3],
        EXPORT_CLASSES,
        "coco17",
        x_test=inputs["pose"][3:],
        y_test=labels[3:],
        extras={"objects_test": inputs["objects"][3:]},
    )
    np.testing.assert_array_equal(export_samples(data, "test", spec)["objects"], inputs["objects"][3:])
    data.extras.clear()
    np.testing.assert_array_equal(export_samples(data, "test", spec)["objects"], np.zeros((3, EXPORT_T, SLOTS, 6)))


def test_through_tf_serving_the_client_answers_as_the_predictor(pose_objects):
    from tests.inference.tf_serving_emulator import EmulatedServing

    emulator = EmulatedServing(pose_objects["savedmodel"], "serving", version=1)
    try:
        rest_port, grpc_port = emulator.start_rest(), emulator.start_grpc()
        client = ServingClient.from_export(pose_objects["savedmodel"].parent, rest_port=rest_port, grpc_port=grpc_port)
        predictor = HARPredictor.load(pose_objects["tflite"])
        inputs = inputs_for(pose_objects["spec"], n=3, seed=9)
        for protocol in ("rest", "grpc"):
            np.testing.assert_allclose(
                client.predict_proba(inputs["pose"], objects=inputs["objects"], protocol=protocol),
                predictor.predict_proba(inputs["pose"], objects=inputs["objects"]),
                atol=1e-5,
            )
            np.testing.assert_allclose(
                client.predict_proba(inputs["pose"], protocol=protocol),
                predictor.predict_proba(inputs["pose"]),
                atol=1e-5,
            )
        assert (
            client.topk(inputs["pose"], k=2, objects=inputs["objects"])[0].class_names
            == predictor.topk(inputs["pose"], k=2, objects=inputs["objects"])[0].class_names
        )
    finally:
        emulator.stop()
