"""TFLite export with one quantisation switch, run through the LiteRT interpreter (``ai_edge_litert``).

``quantization``:

- ``fp32``: float weights and compute;
- ``fp16``: weights stored as float16 (half the size; dequantised on a CPU);
- ``int8``: dynamic-range quantisation, int8 weights, float activations;
- ``int8_full``: full-integer quantisation of weights and activations, calibrated on a
  representative dataset (clips of the training split), with the layers of :data:`FLOAT_SCOPES`
  kept in float32; the inputs and outputs stay float32 pose / float32 probabilities, so callers
  feed the same arrays as to every other export. Pose models only, for now (see
  :func:`convert_to_tflite`).

Built-in ops only (no Flex delegate). One ``.tflite`` file holds the ``serving_default`` signature
(``pose`` plus the ``frames`` and/or ``objects`` the model takes) and, for a fusion model,
``pose_only`` (the fall-back for clips without frames). The batch is
dynamic, or fixed to 1 (``batch_size=1``) for devices. Every export is checked against the Keras
model on held-out clips (:func:`export_tflite`); a ``.json`` file beside the ``.tflite`` holds the
classes, the input shapes and the parity report.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from har_tf.errors import ExportError, InvalidInputError, MissingFileError
from har_tf.export.parity import MIN_AGREEMENT, check_parity, signature_parity
from har_tf.export.saved_model import add_endpoints
from har_tf.export.servable import Servable, ServingSpec
from har_tf.io import atomic_write

QUANTIZATIONS = ("fp32", "fp16", "int8", "int8_full")
# Layers that int8_full keeps in float32 (TFLite selective quantisation):
# - the pose normalisation and the crop boxes read the raw pose, whose one tensor holds pixel
#   coordinates (0..1000s) and confidences (0..1): one int8 scale cannot hold both (confidences
#   would round to 0 and joints would read as missing);
# - layer normalisation: its variance and 1/sqrt(variance) lose almost all precision in int8
#   (measured: top-1 agreement under 50% with them quantised).
FLOAT_SCOPES = ("pose_normalization", "crop_boxes", "norm1", "norm2", "final_norm", "image_embedding")


def signature_names(spec: ServingSpec) -> tuple[str, ...]:
    return ("serving_default", "pose_only") if spec.kind == "fusion" else ("serving_default",)


def _representative(samples: dict[str, np.ndarray]) -> Iterator[dict[str, np.ndarray]]:
    """One clip at a time, as the converter's calibration expects."""
    for i in range(len(samples["pose"])):
        yield {k: v[i:i + 1] for k, v in samples.items() if k in ("pose", "frames", "objects")}


def convert_to_tflite(servable: Servable, quantization: str = "fp32", representative: dict | None = None,
                      batch_size: int | None = None) -> bytes:  # fmt: skip
    """The ``.tflite`` bytes of ``servable`` (built-in ops only)."""
    if quantization not in QUANTIZATIONS:
        raise InvalidInputError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
    if quantization == "int8_full" and not representative:
        raise InvalidInputError("int8_full quantization needs a representative dataset (clips of the training split)")
    if quantization == "int8_full" and servable.spec.frames_shape is not None:
        raise ExportError("int8_full is not available for fusion models yet: the full-integer conversion of the "
                          "image branch crashes the LiteRT interpreter or loses its answers (measured 35% top-1 "
                          "agreement); export the fusion model with int8 (int8 weights, 29% of the fp32 size), "
                          "or the pose model with int8_full")  # fmt: skip
    if quantization == "int8_full" and servable.spec.kind == "fusion":
        raise ExportError(f"int8_full is not available for fusion models yet (this one fuses "
                          f"{' + '.join(servable.spec.modalities)}): its full-integer conversion has not been "
                          "calibrated or measured; export it with int8 (int8 weights), or the pose model with "
                          "int8_full")  # fmt: skip
    if batch_size not in (None, 1):
        raise InvalidInputError(f"batch_size must be None (dynamic) or 1 (fixed, for devices), got {batch_size}")
    names = signature_names(servable.spec)
    with tempfile.TemporaryDirectory(prefix="har_tf_tflite_") as tmp:
        archive = keras.export.ExportArchive()
        archive.track(servable.full)
        if servable.pose_only is not servable.full:
            archive.track(servable.pose_only)
        add_endpoints(archive, servable, names, batch_size=batch_size)
        archive.write_out(tmp, verbose=False)
        def converter():
            made = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=list(names))
            made.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
            if quantization != "fp32":
                made.optimizations = [tf.lite.Optimize.DEFAULT]
            if quantization == "fp16":
                made.target_spec.supported_types = [tf.float16]
            return made

        try:
            if quantization == "int8_full":
                content = _full_integer(converter, representative)
            else:
                content = converter().convert()
        except Exception as err:  # noqa: BLE001 - the converter raises ConverterError and others
            raise ExportError(f"TFLite conversion ({quantization}) failed: {type(err).__name__}: "
                              f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}") from err  # fmt: skip
    return strip_tensor_names(content)


def convert_keras_model(model: keras.Model, quantization: str = "fp32") -> bytes:
    """The ``.tflite`` bytes (batch 1, built-in ops, one ``serving_default`` signature) of any functional
    Keras model, e.g. a stream's per-frame image embedder. ``fp32``, ``fp16`` or ``int8`` (dynamic range)."""
    if quantization not in ("fp32", "fp16", "int8"):
        raise InvalidInputError(f"quantization must be fp32, fp16 or int8 here, got {quantization!r}")
    specs = [tf.TensorSpec((1, *x.shape[1:]), x.dtype, name=x.name.split(":")[0]) for x in model.inputs]
    with tempfile.TemporaryDirectory(prefix="har_tf_tflite_") as tmp:
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", lambda *args: model(list(args), training=False), input_signature=specs)
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantization != "fp32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "fp16":
            converter.target_spec.supported_types = [tf.float16]
        try:
            content = converter.convert()
        except Exception as err:  # noqa: BLE001 - the converter raises ConverterError and others
            raise ExportError(f"TFLite conversion ({quantization}) of {model.name} failed: {type(err).__name__}") from err
    return strip_tensor_names(content)


def _full_integer(converter, representative: dict) -> bytes:
    """int8 weights and activations, calibrated on ``representative``, for every op except those of
    :data:`FLOAT_SCOPES`, which stay float32 (TFLite's selective quantisation)."""
    float_model = converter().convert()
    from ai_edge_litert.interpreter import Interpreter

    tensor_names = [d["name"] for d in Interpreter(model_content=float_model).get_tensor_details()]
    keep_float = [n for n in tensor_names if any(f"/{scope}" in n for scope in FLOAT_SCOPES)]
    made = converter()
    made.representative_dataset = lambda: _representative(representative)
    made.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    first = next(_representative(representative))
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=keep_float)
    with warnings.catch_warnings():  # the debugger uses the deprecated tf.lite.Interpreter internally
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=made, debug_dataset=lambda: iter([list(first.values())]),
            debug_options=options)  # fmt: skip
        return debugger.get_nondebug_quantized_model()


def strip_tensor_names(content: bytes) -> bytes:
    """Drop the names of intermediate tensors (debug strings: a third of a small model's file). The
    signatures and their input/output names stay, so the file runs exactly as before."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    model.description = None
    for subgraph in model.subgraphs:
        keep = set(subgraph.inputs) | set(subgraph.outputs)
        for index, tensor in enumerate(subgraph.tensors):
            if index not in keep:
                tensor.name = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


class TFLiteRunner:
    """Runs a ``.tflite`` file's signatures on NumPy batches with the LiteRT interpreter.

    A file with a fixed batch of 1 is run one clip at a time; a dynamic-batch file gets its
    inputs resized to the batch.
    """

    def __init__(self, model: str | os.PathLike | bytes, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        if isinstance(model, (bytes, bytearray)):
            self.interpreter = Interpreter(model_content=bytes(model), num_threads=num_threads)
        else:
            if not Path(model).is_file():
                raise MissingFileError(f"no such TFLite file: {model}")
            try:
                self.interpreter = Interpreter(model_path=str(model), num_threads=num_threads)
            except (ValueError, RuntimeError) as err:
                raise InvalidInputError(f"{model} is not a readable TFLite model ({err})") from None
        self.signatures = tuple(self.interpreter.get_signature_list())
        self._runners = {}

    def _runner(self, signature: str):
        if signature not in self.signatures:
            raise InvalidInputError(f"this TFLite model has signatures {list(self.signatures)}, not {signature!r}")
        if signature not in self._runners:
            self._runners[signature] = self.interpreter.get_signature_runner(signature)
        return self._runners[signature]

    def input_details(self, signature: str = "serving_default") -> dict:
        return self._runner(signature).get_input_details()

    def output_details(self, signature: str = "serving_default") -> dict:
        return self._runner(signature).get_output_details()

    def fixed_batch(self, signature: str = "serving_default") -> bool:
        details = self.input_details(signature)["pose"]
        return int(details["shape_signature"][0]) == 1

    def __call__(self, inputs: dict[str, np.ndarray], signature: str = "serving_default",
                 output: str = "probabilities") -> np.ndarray:  # fmt: skip
        runner = self._runner(signature)
        details = runner.get_input_details()
        feed = {name: np.asarray(inputs[name], details[name]["dtype"]) for name in details}
        n = len(next(iter(feed.values())))
        if self.fixed_batch(signature):
            return np.concatenate([runner(**{k: v[i:i + 1] for k, v in feed.items()})[output] for i in range(n)])
        return runner(**feed)[output]


def tflite_parity(servable: Servable, runner: TFLiteRunner, samples: dict[str, np.ndarray],
                  min_agreement: float) -> dict:  # fmt: skip
    """Parity of each signature of a TFLite model against the Keras model."""
    return signature_parity(servable, runner, signature_names(servable.spec), samples, min_agreement)


def export_tflite(servable: Servable, path: str | os.PathLike, *, quantization: str = "fp32",
                  samples: dict[str, np.ndarray], representative: dict[str, np.ndarray] | None = None,
                  batch_size: int | None = None, min_agreement: float | None = None,
                  extra_info: dict | None = None) -> dict:  # fmt: skip
    """Convert, check parity on ``samples`` (held-out clips), and only then write ``path`` and
    ``path.with_suffix(".json")`` (classes, shapes, parity, size). Raises :class:`ExportError`, writing
    nothing, when top-1 agreement is under ``min_agreement`` (default 99% for fp32/fp16, 97% for int8).
    Returns the info written to the ``.json`` file."""
    path = Path(path)
    if path.suffix != ".tflite":
        raise InvalidInputError(f"the TFLite file name must end in .tflite, got {path.name}")
    min_agreement = MIN_AGREEMENT[quantization] if min_agreement is None else float(min_agreement)
    content = convert_to_tflite(servable, quantization, representative, batch_size)
    parity = tflite_parity(servable, TFLiteRunner(content), samples, min_agreement)
    for name, report in parity.items():
        check_parity(report, f"TFLite {quantization} signature {name!r}")
    info = {"format": "tflite", "quantization": quantization, "batch_size": batch_size,
            "signatures": list(signature_names(servable.spec)), "size_bytes": len(content),
            **servable.spec.to_dict(), "parity": parity, **(extra_info or {})}  # fmt: skip
    with atomic_write(path) as handle:
        handle.write(content)
    with atomic_write(path.with_suffix(".json"), "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)
    return info


def read_tflite_info(path: str | os.PathLike) -> dict | None:
    """The ``.json`` written beside a ``.tflite`` by :func:`export_tflite`, or None."""
    side = Path(path).with_suffix(".json")
    return json.loads(side.read_text()) if side.is_file() else None
