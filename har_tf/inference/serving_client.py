"""A TF Serving client for exported HAR-TF models: REST and gRPC, the same answers as HARPredictor.

    client = ServingClient("har", class_names=..., host="127.0.0.1")   # or ServingClient.from_export(dir)
    client.predict_proba(pose, frames)                  # REST, row ("instances") format
    client.topk(pose, frames, k=3, protocol="grpc")     # gRPC PredictRequest on port 8500
    client.predict_proba(pose, objects=objects)         # a model with an object branch
    client.predict_proba(pose, imu=imu)                 # a model with an inertial branch

REST: ``POST http://HOST:8501/v1/models/NAME[/versions/N]:predict`` with either the row format
``{"signature_name": ..., "instances": [{"pose": ..., "frames": ...}, ...]}`` (answered with
``{"predictions": [...]}``) or the columnar format ``{"signature_name": ..., "inputs": {"pose": [...],
"frames": [...]}}`` (answered with ``{"outputs": ...}``). gRPC: ``tensorflow.serving.PredictionService/
Predict`` with a ``PredictRequest`` (``tensorflow-serving-api``). Requests carry ``objects``
(raw detections ``(N, T, K, 6)``) and ``imu`` (raw sensor samples ``(N, S, D)``) when given.

Which signature answers: a client that knows the model (:meth:`ServingClient.from_export`, or
``spec=``) follows :func:`~har_tf.export.servable.serving_feed`, as :class:`HARPredictor` does (the
same answers: missing objects or imu are sent as zeros, missing frames go to ``pose_only``), and
refuses the frames, objects or imu of a branch the model does not have. Without it, clips with only
poses go to ``pose_only`` and others to ``serving_default`` with what was given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from har_tf.data.checks import check_frames_batch, check_pose_batch, positive_int, probability
from har_tf.data.objects import check_objects_batch
from har_tf.errors import HARError, InvalidInputError
from har_tf.export.saved_model import read_export_info, versions
from har_tf.export.servable import ServingSpec, serving_feed
from har_tf.inference.results import ClassScores, above_threshold, top_k
from har_tf.models.inertial_encoder import check_imu_batch

REQUEST_FORMATS = ("instances", "inputs")
PROTOCOLS = ("rest", "grpc")


class ServingError(HARError, RuntimeError):
    """TF Serving could not be reached or answered with an error."""


class ServingClient:
    """Queries a TF Serving model by name (and optionally version) over REST or gRPC.

    ``spec``: the model's :class:`~har_tf.export.servable.ServingSpec` (its inputs), when known; it
    decides the signature and fills in missing inputs (see the module docstring).
    """

    def __init__(
        self,
        model_name: str,
        class_names=None,
        host: str = "127.0.0.1",
        rest_port: int = 8501,
        grpc_port: int = 8500,
        version: int | None = None,
        timeout: float = 10.0,
        spec: ServingSpec | None = None,
    ):
        if not isinstance(model_name, str) or not model_name or "/" in model_name:
            raise InvalidInputError(f"model_name must be a TF Serving model name (no '/'), got {model_name!r}")
        rest_port, grpc_port = _port(rest_port, "rest_port"), _port(grpc_port, "grpc_port")
        if version is not None:
            version = positive_int(version, "version", "a positive model version number (or None for the latest)")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
            raise InvalidInputError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.model_name, self.host, self.rest_port, self.grpc_port = model_name, host, rest_port, grpc_port
        self.version, self.timeout, self.spec = version, float(timeout), spec
        if class_names is None and spec is not None:
            class_names = spec.class_names
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
        return cls(base.name, class_names=info["class_names"], spec=ServingSpec.from_dict(info), **kwargs)

    # --- request bodies ----------------------------------------------------------------------------
    @staticmethod
    def signature_for(frames, objects=None, imu=None) -> str:
        """The signature for a model the client does not know: ``pose_only`` for poses alone."""
        return "pose_only" if frames is None and objects is None and imu is None else "serving_default"

    def _batch(self, pose, frames, objects=None, imu=None) -> tuple[str, dict[str, np.ndarray]]:
        """The signature and the checked input columns of a request."""
        if np.ndim(pose) != 4:
            raise InvalidInputError(f"pose must be a batch (N, T, J, C), got shape {np.shape(pose)}")
        pose, _ = check_pose_batch(
            pose,
            None if self.spec is None else self.spec.pose_shape,
            channels=None if self.spec is None else self.spec.pose_channels,
        )
        if frames is not None:
            if self.spec is not None and self.spec.frames_shape is None:
                raise InvalidInputError(
                    f"model {self.model_name!r} ({' + '.join(self.spec.modalities)}) has no image "
                    "branch: it takes no frames (pass frames=None)"
                )
            frames = check_frames_batch(
                frames, None if self.spec is None else self.spec.frames_shape, len(pose), single=False
            )
        if objects is not None:
            objects = self._objects(objects, pose.shape[1], len(pose))
        if imu is not None:
            imu = self._imu(imu, len(pose))
        if self.spec is not None:
            return serving_feed(self.spec, pose, frames, objects, imu)
        columns = {"pose": pose, "frames": frames, "objects": objects, "imu": imu}
        return self.signature_for(frames, objects, imu), {k: v for k, v in columns.items() if v is not None}

    def _objects(self, objects, num_frames: int, count: int) -> np.ndarray:
        if self.spec is None:
            return check_objects_batch(objects, num_frames, batch=count)
        if self.spec.objects_shape is None:
            raise InvalidInputError(
                f"model {self.model_name!r} ({' + '.join(self.spec.modalities)}) has no object "
                "branch: it takes no objects (pass objects=None)"
            )
        classes = None if self.spec.object_classes is None else len(self.spec.object_classes)
        return check_objects_batch(objects, num_frames, classes, self.spec.objects_shape[1], count)

    def _imu(self, imu, count: int) -> np.ndarray:
        if self.spec is None:
            return check_imu_batch(imu, batch=count)
        if self.spec.imu_shape is None:
            raise InvalidInputError(
                f"model {self.model_name!r} ({' + '.join(self.spec.modalities)}) has no inertial "
                "branch: it takes no imu (pass imu=None)"
            )
        return check_imu_batch(imu, *self.spec.imu_shape, batch=count)

    def rest_url(self) -> str:
        version = f"/versions/{self.version}" if self.version is not None else ""
        return f"http://{self.host}:{self.rest_port}/v1/models/{self.model_name}{version}:predict"

    def rest_body(self, pose, frames=None, request_format: str = "instances", objects=None, imu=None) -> dict:
        """The JSON body of a REST predict request in TF Serving's row or columnar format."""
        if request_format not in REQUEST_FORMATS:
            raise InvalidInputError(f"request_format must be one of {REQUEST_FORMATS}, got {request_format!r}")
        signature, columns = self._batch(pose, frames, objects, imu)
        body = {"signature_name": signature}
        if request_format == "instances":
            body["instances"] = [{k: v[i].tolist() for k, v in columns.items()} for i in range(len(pose))]
        else:
            body["inputs"] = {k: v.tolist() for k, v in columns.items()}
        return body

    def grpc_request(self, pose, frames=None, objects=None, imu=None):
        """A ``tensorflow.serving.PredictRequest`` for the clips."""
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        signature, columns = self._batch(pose, frames, objects, imu)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = self.model_name
        request.model_spec.signature_name = signature
        if self.version is not None:
            request.model_spec.version.value = int(self.version)
        for name, value in columns.items():
            dtype = tf.uint8 if name == "frames" else tf.float32
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value, dtype=dtype))
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
            raise ServingError(
                f"TF Serving answered HTTP {reply.status_code} with no JSON: {reply.text[:200]}"
            ) from None
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
            raise ServingError(
                f"gRPC Predict at {self.host}:{self.grpc_port} failed: {err.code().name}: {err.details()}"
            ) from None
        return tf.make_ndarray(response.outputs["probabilities"])

    def predict_proba(
        self, pose, frames=None, objects=None, protocol: str = "rest", request_format: str = "instances", imu=None
    ) -> np.ndarray:
        """``probabilities`` (N, K) for a batch of raw clips, fused over the frames, objects and imu given
        (missing ones as the module docstring says)."""
        if protocol not in PROTOCOLS:
            raise InvalidInputError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")
        if protocol == "grpc":
            return self._grpc(self.grpc_request(pose, frames, objects, imu))
        return self.parse_rest_response(self.post(self.rest_body(pose, frames, request_format, objects, imu)))

    def _names(self, k: int) -> tuple[str, ...]:
        return self.class_names if self.class_names is not None else tuple(str(i) for i in range(k))

    def topk(self, pose, frames=None, k: int = 5, objects=None, **kwargs) -> list[ClassScores]:
        """The ``k`` most probable classes per clip (``imu=``, ``protocol=``... as :meth:`predict_proba`)."""
        k = positive_int(k, "k", "a positive integer")
        probabilities = self.predict_proba(pose, frames, objects, **kwargs)
        return top_k(probabilities, self._names(probabilities.shape[-1]), k)

    def threshold(self, pose, frames=None, thr: float = 0.1, objects=None, **kwargs) -> list[ClassScores]:
        """Every class whose probability is at least ``thr`` (a number in [0, 1]) per clip, best first."""
        thr = probability(thr, "the threshold")
        probabilities = self.predict_proba(pose, frames, objects, **kwargs)
        return above_threshold(probabilities, self._names(probabilities.shape[-1]), thr)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None


def _port(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= 65535:
        raise InvalidInputError(f"{name} must be a TCP port number in 1..65535, got {value!r}")
    return int(value)
