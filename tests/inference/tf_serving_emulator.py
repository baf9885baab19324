"""A stand-in for ``tensorflow_model_server`` in tests: REST and gRPC predict over a SavedModel.

It follows TF Serving's documented API (https://www.tensorflow.org/tfx/serving/api_rest): the row
format (``instances``, answered with ``predictions``) and the columnar format (``inputs``, answered
with ``outputs``; a single output is given bare, several as a mapping), ``signature_name``
defaulting to ``serving_default``, errors as ``{"error": ...}`` with HTTP 400; gRPC
``PredictionService/Predict`` with ``PredictRequest`` / ``PredictResponse`` tensor protos.
"""

from __future__ import annotations

import json
import re
import threading
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf

URL = re.compile(r"^/v1/models/(?P<name>[^/:]+)(/versions/(?P<version>\d+))?:predict$")


class EmulatedServing:
    """Serves one SavedModel as model ``name`` (version ``version``) on 127.0.0.1."""

    def __init__(self, saved_model_dir, name: str, version: int = 1):
        self.loaded = tf.saved_model.load(str(saved_model_dir))
        self.name, self.version = name, int(version)
        self.requests: list = []

    def run(self, signature_name: str, inputs: dict) -> dict:
        signature = self.loaded.signatures[signature_name]
        specs = signature.structured_input_signature[1]
        if set(inputs) != set(specs):
            raise ValueError(f"signature {signature_name} takes inputs {sorted(specs)}, got {sorted(inputs)}")
        feed = {k: tf.constant(np.asarray(v), dtype=specs[k].dtype) for k, v in inputs.items()}
        return {k: v.numpy() for k, v in signature(**feed).items()}

    # --- REST ---------------------------------------------------------------------------------------
    def rest_predict(self, path: str, body: dict) -> tuple[int, dict]:
        match = URL.match(path)
        if not match or match["name"] != self.name:
            return 404, {"error": f"Servable not found for request: {path}"}
        if match["version"] is not None and int(match["version"]) != self.version:
            return 404, {"error": f"Servable not found for version {match['version']}"}
        signature_name = body.get("signature_name", "serving_default")
        if ("instances" in body) == ("inputs" in body):
            return 400, {"error": "JSON Value: must have exactly one of 'instances' or 'inputs'"}
        try:
            if "instances" in body:
                rows = body["instances"]
                names = list(rows[0]) if isinstance(rows[0], dict) else ["pose"]
                inputs = {n: [r[n] if isinstance(r, dict) else r for r in rows] for n in names}
                out = self.run(signature_name, inputs)
                if len(out) == 1:
                    return 200, {"predictions": next(iter(out.values())).tolist()}
                return 200, {"predictions": [{k: v[i].tolist() for k, v in out.items()} for i in range(len(rows))]}
            columns = body["inputs"] if isinstance(body["inputs"], dict) else {"pose": body["inputs"]}
            out = self.run(signature_name, columns)
            return 200, {
                "outputs": next(iter(out.values())).tolist()
                if len(out) == 1
                else {k: v.tolist() for k, v in out.items()}
            }
        except (KeyError, ValueError, TypeError, tf.errors.InvalidArgumentError) as err:
            return 400, {"error": str(err)}

    def start_rest(self) -> int:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server API
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                emulator.requests.append(("rest", self.path, body))
                status, answer = emulator.rest_predict(self.path, body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._http.serve_forever, daemon=True).start()
        return self._http.server_address[1]

    # --- gRPC ---------------------------------------------------------------------------------------
    def start_grpc(self) -> int:
        import grpc
        from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

        emulator = self

        class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
            def Predict(self, request, context):  # noqa: N802 - the gRPC API
                emulator.requests.append(("grpc", request))
                if request.model_spec.name != emulator.name:
                    context.abort(grpc.StatusCode.NOT_FOUND, f"Servable not found: {request.model_spec.name}")
                inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
                try:
                    out = emulator.run(request.model_spec.signature_name or "serving_default", inputs)
                except (KeyError, ValueError) as err:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(err))
                response = predict_pb2.PredictResponse()
                response.model_spec.name = emulator.name
                response.model_spec.version.value = emulator.version
                for key, value in out.items():
                    response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
                return response

        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), self._grpc)
        port = self._grpc.add_insecure_port("127.0.0.1:0")
        self._grpc.start()
        return port

    def stop(self) -> None:
        if getattr(self, "_http", None) is not None:
            self._http.shutdown()
        if getattr(self, "_grpc", None) is not None:
            self._grpc.stop(None)
