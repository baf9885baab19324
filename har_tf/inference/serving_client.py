"""A TF Serving client for exported HAR-TF models: REST and gRPC, the same answers as HARPredictor.

    client = ServingClient("har", class_names=..., host="127.0.0.1")   # or ServingClient.from_export(dir)
    client.predict_proba(pose, frames)                  # REST, row ("instances") format
    client.topk(pose, frames, k=3, protocol="grpc")     # gRPC PredictRequest on port 8500

REST: ``POST http://HOST:8501/v1/models/NAME[/versions/N]:predict`` with either the row format
``{"signature_name": ..., "instances": [{"pose": ..., "frames": ...}, ...]}`` (answered with
``{"predictions": [...]}``) or the columnar format ``{"signature_name": ..., "inputs": {"pose": [...],
"frames": [...]}}`` (answered with ``{"outputs": ...}``). gRPC: ``tensorflow.serving.PredictionService/
Predict`` with a ``PredictRequest`` (``tensorflow-serving-api``). Clips without frames go to the
``pose_only`` signature.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from har_tf.data.checks import check_pose_batch
from har_tf.errors import HARError, InvalidInputError
from har_tf.export.saved_model import read_export_info, versions
from har_tf.inference.results import ClassScores, above_threshold, top_k

REQUEST_FORMATS = ("instances", "inputs")
PROTOCOLS = ("rest", "grpc")


class ServingError(HARError, RuntimeError):
    """TF Serving could not be reached or answered with an error."""


class ServingClient:
    """Queries a TF Serving model by name (and optionally version) over REST or gRPC."""

    def __init__(self, model_name: str, class_names=None, host: str = "127.0.0.1", rest_port: int = 8501,
                 grpc_port: int = 8500, version: int | None = None, timeout: float = 10.0):  # fmt: skip
        self.model_name, self.host, self.rest_port, self.grpc_port = model_name, host, int(rest_port), int(grpc_port)
        self.version, self.timeout = version, float(timeout)
        self.class_names = None if class_names is None else tuple(str(c) for c in class_names)
        self._channel = None

    @classmethod
    def from_export(cls, base: str | os.PathLike, **kwargs) -> ServingClient:
        """A client for the model exported to ``base`` (its name and class names from the latest version)."""
        base = Path(base)
        found = versions(base)
        info = read_export_info(base / str(found[-1])) if found else None
        if info is None:
            raise InvalidInputError(f"{base} holds no exported version with assets.extra/export_info.json")
        return cls(base.name, class_names=info["class_names"], **kwargs)

    # --- request bodies ----------------------------------------------------------------------------
    @staticmethod
    def signature_for(frames) -> str:
        return "pose_only" if frames is None else "serving_default"

    @staticmethod
    def _batch(pose, frames) -> tuple[np.ndarray, np.ndarray | None]:
        if np.ndim(pose) != 4:
            raise InvalidInputError(f"pose must be a batch (N, T, J, C), got shape {np.shape(pose)}")
        pose, _ = check_pose_batch(pose)
        if frames is not None:
            frames = np.asarray(frames)
            if frames.ndim != 5 or len(frames) != len(pose):
                raise InvalidInputError(f"frames must be uint8 (N, F, H, W, 3) with N = {len(pose)}, got {frames.shape}")
            frames = frames.astype(np.uint8)
        return pose, frames

    def rest_url(self) -> str:
        version = f"/versions/{self.version}" if self.version is not None else ""
        return f"http://{self.host}:{self.rest_port}/v1/models/{self.model_name}{version}:predict"

    def rest_body(self, pose, frames=None, request_format: str = "instances") -> dict:
        """The JSON body of a REST predict request in TF Serving's row or columnar format."""
        if request_format not in REQUEST_FORMATS:
            raise InvalidInputError(f"request_format must be one of {REQUEST_FORMATS}, got {request_format!r}")
        pose, frames = self._batch(pose, frames)
        body = {"signature_name": self.signature_for(frames)}
        columns = {"pose": pose} if frames is None else {"pose": pose, "frames": frames}
        if request_format == "instances":
            body["instances"] = [{k: v[i].tolist() for k, v in columns.items()} for i in range(len(pose))]
        else:
            body["inputs"] = {k: v.tolist() for k, v in columns.items()}
        return body

    def grpc_request(self, pose, frames=None):
        """A ``tensorflow.serving.PredictRequest`` for the clips."""
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        pose, frames = self._batch(pose, frames)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = self.signature_for(frames)
        if self.version is not None:
            request.model_spec.version.value = int(self.version)
        request.inputs["pose"].CopyFrom(tf.make_tensor_proto(pose, dtype=tf.float32))
        if frames is not None:
            request.inputs["frames"].CopyFrom(tf.make_tensor_proto(frames, dtype=tf.uint8))
        return request

    # --- answers -----------------------------------------------------------------------------------
    @staticmethod
    def parse_rest_response(response: dict) -> np.ndarray:
        """``probabilities`` (N, K) from a REST predict response in either format."""
        if "error" in response:
            raise ServingError(f"TF Serving answered: {response['error']}")
        if "predictions" in response:
            rows = response["predictions"]
            rows = [r["probabilities"] if isinstance(r, dict) else r for r in rows]
            return np.asarray(rows, np.float32)
        if "outputs" in response:
            out = response["outputs"]
            return np.asarray(out["probabilities"] if isinstance(out, dict) else out, np.float32)
        raise ServingError(f"unexpected REST response (no 'predictions' or 'outputs'): {str(response)[:200]}")

    def post(self, body: dict) -> dict:
        """Send a REST request body (your own, or :meth:`rest_body`'s) and return TF Serving's JSON answer;
        :class:`ServingError` with TF Serving's own message when it refuses the request (e.g. wrong input
        names) or cannot be reached."""
        import requests

        try:
            reply = requests.post(self.rest_url(), data=json.dumps(body), timeout=self.timeout)
        except requests.RequestException as err:
            raise ServingError(f"cannot reach TF Serving at {self.rest_url()}: {err}") from None
        try:
            content = reply.json()
        except ValueError:
            raise ServingError(f"TF Serving answered HTTP {reply.status_code} with no JSON: {reply.text[:200]}") from None
        if reply.status_code != 200:
            raise ServingError(f"TF Serving answered HTTP {reply.status_code}: {content.get('error', content)}")
        return content

    def _grpc(self, request):
        import grpc
        import tensorflow as tf
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        if self._channel is None:
            self._channel = grpc.insecure_channel(f"{self.host}:{self.grpc_port}")
        stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        try:
            response = stub.Predict(request, timeout=self.timeout)
        except grpc.RpcError as err:
            raise ServingError(f"gRPC Predict at {self.host}:{self.grpc_port} failed: {err.code().name}: "
                               f"{err.details()}") from None  # fmt: skip
        return tf.make_ndarray(response.outputs["probabilities"])

    def predict_proba(self, pose, frames=None, protocol: str = "rest", request_format: str = "instances") -> np.ndarray:
        """``probabilities`` (N, K) for a batch of raw clips (fused with frames, pose branch without)."""
        if protocol not in PROTOCOLS:
            raise InvalidInputError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        if protocol == "grpc":
            return self._grpc(self.grpc_request(pose, frames))
        return self.parse_rest_response(self.post(self.rest_body(pose, frames, request_format)))

    def _names(self, k: int) -> tuple[str, ...]:
        return self.class_names if self.class_names is not None else tuple(str(i) for i in range(k))

    def topk(self, pose, frames=None, k: int = 5, **kwargs) -> list[ClassScores]:
        probabilities = self.predict_proba(pose, frames, **kwargs)
        return top_k(probabilities, self._names(probabilities.shape[-1]), k)

    def threshold(self, pose, frames=None, thr: float = 0.1, **kwargs) -> list[ClassScores]:
        probabilities = self.predict_proba(pose, frames, **kwargs)
        return above_threshold(probabilities, self._names(probabilities.shape[-1]), thr)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
