"""The TF Serving client: request bodies as TF Serving's API specifies, answers equal to HARPredictor's."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from har_tf.errors import InvalidInputError
from har_tf.export import export_saved_model, make_servable
from har_tf.inference import HARPredictor, ServingClient, ServingError
from tests.helpers import EXPORT_CLASSES, export_inputs
from tests.inference.tf_serving_emulator import EmulatedServing

pytestmark = pytest.mark.xdist_group("test_serving_client")  # one worker builds the module's exports once


@pytest.fixture(scope="module")
def exported(tiny_fusion_model, tmp_path_factory):
    base = tmp_path_factory.mktemp("serving") / "har"
    export_saved_model(make_servable(tiny_fusion_model), base)
    return base


@pytest.fixture(scope="module")
def server(exported):
    emulator = EmulatedServing(exported / "1", "har", version=1)
    ports = emulator.start_rest(), emulator.start_grpc()
    yield emulator, ports
    emulator.stop()


def test_rest_bodies_follow_the_tf_serving_formats():
    inputs = export_inputs(n=2, seed=1)
    client = ServingClient("har")
    rows = client.rest_body(inputs["pose"], inputs["frames"], request_format="instances")
    assert rows == {
        "signature_name": "serving_default",
        "instances": [{"pose": inputs["pose"][i].tolist(), "frames": inputs["frames"][i].tolist()} for i in range(2)],
    }
    columns = client.rest_body(inputs["pose"], request_format="inputs")
    assert columns == {"signature_name": "pose_only", "inputs": {"pose": inputs["pose"].tolist()}}
    assert client.rest_url() == "http://127.0.0.1:8501/v1/models/har:predict"
    assert (
        ServingClient("har", version=3, host="srv", rest_port=9000).rest_url()
        == "http://srv:9000/v1/models/har/versions/3:predict"
    )
    with pytest.raises(InvalidInputError, match="request_format must be one of"):
        client.rest_body(inputs["pose"], request_format="rows")
    with pytest.raises(InvalidInputError, match=r"pose must be a batch \(N, T, J, C\)"):
        client.rest_body(inputs["pose"][0])


def test_grpc_request_is_a_predict_request_with_typed_tensors():
    inputs = export_inputs(n=2, seed=1)
    request = ServingClient("har", version=2).grpc_request(inputs["pose"], inputs["frames"])
    assert request.model_spec.name == "har" and request.model_spec.version.value == 2
    assert request.model_spec.signature_name == "serving_default"
    assert request.inputs["pose"].dtype == tf.float32.as_datatype_enum
    assert request.inputs["frames"].dtype == tf.uint8.as_datatype_enum
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["pose"]), inputs["pose"])
    np.testing.assert_array_equal(tf.make_ndarray(request.inputs["frames"]), inputs["frames"])


@pytest.mark.parametrize(("protocol", "request_format"), [("rest", "instances"), ("rest", "inputs"), ("grpc", None)])
def test_answers_through_tf_serving_equal_the_predictors(server, exported, protocol, request_format):
    emulator, (rest_port, grpc_port) = server
    client = ServingClient.from_export(exported, rest_port=rest_port, grpc_port=grpc_port)
    predictor = HARPredictor.load(exported)
    inputs = export_inputs(n=3, seed=2)
    kwargs = (
        {"protocol": protocol} if request_format is None else {"protocol": protocol, "request_format": request_format}
    )
    np.testing.assert_allclose(
        client.predict_proba(inputs["pose"], inputs["frames"], **kwargs),
        predictor.predict_proba(inputs["pose"], inputs["frames"]),
        atol=1e-6,
    )
    np.testing.assert_allclose(
        client.predict_proba(inputs["pose"], **kwargs), predictor.predict_proba(inputs["pose"]), atol=1e-6
    )
    assert client.topk(inputs["pose"], inputs["frames"], k=2, **kwargs) == predictor.topk(
        inputs["pose"], inputs["frames"], k=2
    )
    assert client.threshold(inputs["pose"], thr=0.1, **kwargs) == predictor.threshold(inputs["pose"], thr=0.1)
    assert client.class_names == EXPORT_CLASSES
    client.close()


def test_unreachable_or_failing_servers_raise_serving_errors(server):
    _, (rest_port, _) = server
    pose = export_inputs(n=1, frames=False)["pose"]
    with pytest.raises(ServingError, match="HTTP 404"):
        ServingClient("other", rest_port=rest_port).predict_proba(pose)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    with pytest.raises(ServingError, match="cannot reach TF Serving"):
        ServingClient("har", rest_port=free, timeout=2).predict_proba(pose)
    with pytest.raises(ServingError, match="gRPC Predict .* failed: UNAVAILABLE"):
        ServingClient("har", grpc_port=free, timeout=2).predict_proba(pose, protocol="grpc")


@pytest.mark.skipif(
    shutil.which("tensorflow_model_server") is None,
    reason="tensorflow_model_server is not on PATH (it is not on PyPI; install it from "
    "TF Serving's apt repository or use the tensorflow/serving Docker image)",
)
def test_a_real_tensorflow_model_server(exported, tmp_path):
    ports = []
    for _ in range(2):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    process = subprocess.Popen(
        [
            "tensorflow_model_server",
            f"--port={ports[0]}",
            f"--rest_api_port={ports[1]}",
            "--model_name=har",
            f"--model_base_path={exported}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = ServingClient.from_export(exported, grpc_port=ports[0], rest_port=ports[1], timeout=5)
        inputs = export_inputs(n=2, seed=3)
        deadline = time.time() + 60
        while True:
            try:
                answer = client.predict_proba(inputs["pose"], inputs["frames"])
                break
            except ServingError:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        expected = HARPredictor.load(exported).predict_proba(inputs["pose"], inputs["frames"])
        np.testing.assert_allclose(answer, expected, atol=1e-5)
        np.testing.assert_allclose(
            client.predict_proba(inputs["pose"], protocol="grpc"),
            HARPredictor.load(exported).predict_proba(inputs["pose"]),
            atol=1e-5,
        )
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_request_with_the_wrong_input_names_gets_the_servers_message(server):
    _, (rest_port, _) = server
    client = ServingClient("har", rest_port=rest_port)
    pose = export_inputs(n=1, seed=2)["pose"]
    with pytest.raises(ServingError, match=r"HTTP 400: .*takes inputs \['pose'\], got \['keypoints'\]"):
        client.post({"signature_name": "pose_only", "instances": [{"keypoints": pose[0].tolist()}]})
    assert "predictions" in client.post(client.rest_body(pose))
