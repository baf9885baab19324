"""TFLite export with one quantisation switch, run through the LiteRT interpreter (``ai_edge_litert``).

``quantization``:

- ``fp32``: float weights and compute;
- ``fp16``: weights stored as float16 (half the size; dequantised on a CPU);
- ``int8``: dynamic-range quantisation: int8 weights (one scale per output channel), float
  activations. The converter quantises only the weights of ops with a hybrid kernel (fully connected,
  conv, batch matmul); the large float32 constants it leaves (operands of ADD, MUL, GATHER..., e.g. the
  spatial + temporal position embeddings, which it folds into one ``(1, T, J, D)`` constant: a quarter
  of the micro pose model) are stored as int8 too and dequantised once, when the interpreter prepares
  the model (:func:`int8_constants`). The micro pose model's file is 46% of fp32: the rest
  is its graph (ops, tensors, shapes: 46 kB, 18% of the fp32 file, the same in every variant) and the
  per-channel quantisation tables (11 kB); the ``small`` preset's int8 is 34% of fp32 (trained);
- ``int8_full``: full-integer quantisation of weights and activations, calibrated on a
  representative dataset (clips of the training split), with the layers of :data:`FLOAT_SCOPES`
  (and the tensors of :data:`FLOAT_PATTERNS`) kept in float32; the inputs and outputs stay float32 pose /
  float32 probabilities, so callers feed the same arrays as to every other export. Pose and fusion
  models (both signatures); the float layers' tensors get no int8 range at all (:func:`_drop_ranges`),
  which is what keeps the fused answers (see there). The main job's fusion model (EfficientNet-Lite0
  on 16 hand crops a clip): 30% of fp32; the frame encoder runs its backbone once on all crops, so the
  graph holds one int8 copy of its weights (:class:`~har_tf.models.image_encoder.TimeDistributed`).

Built-in ops only (no Flex delegate). One ``.tflite`` file holds the ``serving_default`` signature
(``pose`` plus the ``frames``, ``objects`` and/or ``imu`` the model takes) and, for a fusion model,
``pose_only`` (the fall-back for clips without frames). The batch is
dynamic, or fixed to 1 (``batch_size=1``) for devices. Every export is checked against the Keras
model on held-out clips (:func:`export_tflite`); a ``.json`` file beside the ``.tflite`` holds the
classes, the input shapes and the parity report.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from har_tf.errors import ExportError, InvalidInputError, MissingFileError
from har_tf.export.parity import MIN_AGREEMENT, check_min_agreement, check_parity, signature_parity
from har_tf.export.saved_model import add_endpoints
from har_tf.export.servable import Servable, ServingSpec, in_batches
from har_tf.io import atomic_write

QUANTIZATIONS = ("fp32", "fp16", "int8", "int8_full")
INT8_CONSTANT_MIN_ELEMENTS = 1024  # the converter's threshold for quantising weights (smaller ones stay float)
# Layers that int8_full keeps in float32 (TFLite selective quantisation):
# - the pose normalisation and the crop boxes read the raw pose, whose one tensor holds pixel
#   coordinates (0..1000s) and confidences (0..1): one int8 scale cannot hold both (confidences
#   would round to 0 and joints would read as missing);
# - the same for the object features (raw pixel boxes, class ids and scores; masked with 1e9 sentinels,
#   as the crop boxes are), the object tokens (class ids read back as integers) and the presence tests
#   (``!= 0`` on raw inputs), and the crop coordinates of the frames;
# - layer normalisation: its variance and 1/sqrt(variance) lose almost all precision in int8
#   (measured: top-1 agreement under 50% with them quantised);
# - the pose streams (velocities and bones are differences of nearby joints, a few hundredths of the
#   joints' range), the masked mean that pools the pose embedding and the classifier head: on the
#   main job's pose model (trained at lr 3e-3) top-1 agreement is 96.0% with them in int8, under the
#   97% bar, and 99.0% with them float (200 held-out clips, 100 calibration clips); the same for the fusion
#   model's pose head (``pose_probabilities``, its ``pose_only`` signature): 97.0% in int8, 99.0% float;
# - the inertial branch's presence test (``imu_presence``) and its encoder's per-channel normalisation
#   (:data:`FLOAT_PATTERNS`): both read the raw sensor samples, accelerometer in g (a few units) and
#   gyroscope in deg/s (hundreds) in one tensor: one int8 scale would round the accelerations to 0.
FLOAT_SCOPES = (
    "pose_normalization",
    "crop_boxes",
    "person_crop",
    "object_features",
    "object_tokens",
    "frames_presence",
    "image_presence",
    "objects_presence",
    "norm1",
    "norm2",
    "final_norm",
    "image_embedding",
    "pose_streams",
    "pose_embedding",
    "probabilities",
    "pose_probabilities",
    "imu_presence",
)
# Tensor names kept float as well (the layer name alone, ``normalization``, is too common to be a scope).
FLOAT_PATTERNS = (re.compile(r"/inertial_encoder[^/]*/normalization"),)


def signature_names(spec: ServingSpec) -> tuple[str, ...]:
    return ("serving_default", "pose_only") if spec.kind == "fusion" else ("serving_default",)


def _representative(samples: dict[str, np.ndarray], names: tuple[str, ...] = ("serving_default",)) -> Iterator:
    """One clip at a time, as the converter's calibration expects: the inputs, or for a model with several
    signatures ``(signature, inputs)`` for each (``pose_only`` gets the pose alone)."""
    for i in range(len(samples["pose"])):
        clip = {k: v[i : i + 1] for k, v in samples.items() if k in ("pose", "frames", "objects", "imu")}
        if len(names) == 1:
            yield clip
            continue
        for name in names:
            yield name, (clip if name == "serving_default" else {"pose": clip["pose"]})


def convert_to_tflite(
    servable: Servable, quantization: str = "fp32", representative: dict | None = None, batch_size: int | None = None
) -> bytes:
    """The ``.tflite`` bytes of ``servable`` (built-in ops only)."""
    if quantization not in QUANTIZATIONS:
        raise InvalidInputError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
    if quantization == "int8_full" and not representative:
        raise InvalidInputError("int8_full quantization needs a representative dataset (clips of the training split)")
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
                content = _full_integer(converter, representative, names)
            else:
                content = converter().convert()
        except Exception as err:  # noqa: BLE001 - the converter raises ConverterError and others
            raise ExportError(
                f"TFLite conversion ({quantization}) failed: {type(err).__name__}: "
                f"{str(err).strip().splitlines()[0] if str(err).strip() else ''}"
            ) from err
    return finish_flatbuffer(content, int8=quantization in ("int8", "int8_full"))


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
            raise ExportError(
                f"TFLite conversion ({quantization}) of {model.name} failed: {type(err).__name__}"
            ) from err
    return finish_flatbuffer(content, int8=quantization == "int8")


def _full_integer(converter, representative: dict, names: tuple[str, ...] = ("serving_default",)) -> bytes:
    """int8 weights and activations, calibrated on ``representative`` (every signature of ``names``), for
    every op except those of :data:`FLOAT_SCOPES`, which stay float32 (TFLite's selective quantisation)."""
    from ai_edge_litert.tools import flatbuffer_utils

    float_model = flatbuffer_utils.read_model_from_bytearray(bytearray(converter().convert()))
    tensor_names = sorted(
        {tensor.name.decode() for subgraph in float_model.subgraphs for tensor in subgraph.tensors if tensor.name}
    )  # every signature's subgraph
    keep_float = [
        n
        for n in tensor_names
        if any(f"/{scope}" in n for scope in FLOAT_SCOPES) or any(pattern.search(n) for pattern in FLOAT_PATTERNS)
    ]
    made = converter()
    made.representative_dataset = lambda: _representative(representative, names)
    made.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    first = next(_representative(representative, names))
    first = first if len(names) > 1 else list(first.values())
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=keep_float)
    with warnings.catch_warnings():  # the debugger uses the deprecated tf.lite.Interpreter internally
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=made, debug_dataset=lambda: iter([first]), debug_options=options
        )
        debugger.calibrated_model = _drop_ranges(debugger.calibrated_model, set(keep_float))
        return debugger.get_nondebug_quantized_model()


def _drop_ranges(calibrated: bytes, names: set[str]) -> bytes:
    """The calibrated model without the ranges (min/max) recorded for the tensors ``names``.

    Denylisting an op keeps the op float, but the quantiser still gives an int8 scale, from its recorded
    range, to a tensor between it and a "same scale" op (STRIDED_SLICE, SELECT_V2, ...) and puts a
    QUANTIZE/DEQUANTIZE pair on it. In a fusion model the crop boxes and the object features mask with
    +-1e6/1e9 sentinels (``where(valid, x, 1e9)`` before a min/max); their range reaches, through
    SELECT_V2 and STRIDED_SLICE, the slices of the raw pose they read, which got int8 scales of 3.9e3
    (crop boxes) and 3.9e6 (object features): every joint coordinate rounded to 0, so the crops and the
    object features were wrong and the fused answers agreed with Keras on 58% (pose + image) and 36%
    (pose + objects) of the clips. A tensor without a range cannot be quantised: it stays float.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    for subgraph in model.subgraphs:
        for tensor in subgraph.tensors:
            if tensor.quantization is not None and tensor.name and tensor.name.decode() in names:
                tensor.quantization.min = tensor.quantization.max = None
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def finish_flatbuffer(content: bytes, int8: bool = False) -> bytes:
    """The converter's ``.tflite`` made smaller: :func:`strip_tensor_names`, and for an int8 export
    :func:`int8_constants`."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    strip_tensor_names(model)
    if int8:
        int8_constants(model)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def strip_tensor_names(model) -> None:
    """Drop, in place, the names of intermediate tensors (debug strings: a third of a small model's file)
    and their empty quantisation tables (one per float tensor: 2% of it). The signatures and their
    input/output names stay, so the file runs exactly as before. ``model``: a ``flatbuffer_utils`` ModelT."""
    model.description = None
    for subgraph in model.subgraphs:
        keep = set(subgraph.inputs) | set(subgraph.outputs)
        for index, tensor in enumerate(subgraph.tensors):
            if index not in keep:
                tensor.name = None
            params = tensor.quantization
            if (
                params is not None
                and params.scale is None
                and params.zeroPoint is None
                and params.details is None
                and params.min is None
                and params.max is None
            ):
                tensor.quantization = None


def int8_constants(model, min_elements: int = INT8_CONSTANT_MIN_ELEMENTS) -> int:
    """Store, in place, every float32 constant of at least ``min_elements`` values as int8 (one symmetric
    scale per tensor) behind a DEQUANTIZE op, as the converter stores fp16 weights; returns how many.

    Dynamic-range quantisation leaves in float32 the constants of ops without a hybrid kernel (ADD, MUL,
    GATHER...), e.g. the position embeddings of :class:`~har_tf.models.layers.FactorizedPositionEmbedding`,
    which the converter folds into one ``(1, T, J, D)`` constant (65 kB of the micro pose model's 175 kB).
    A DEQUANTIZE op whose input is constant runs once, when the interpreter prepares the model; the ops
    that read the constant still compute in float32. ``min_elements`` is the converter's own threshold for
    quantising weights. ``model``: a ``flatbuffer_utils`` ModelT.
    """
    from ai_edge_litert import schema_py_generated as schema

    dequantize = next(
        (
            i
            for i, code in enumerate(model.operatorCodes)
            if max(code.builtinCode, code.deprecatedBuiltinCode) == schema.BuiltinOperator.DEQUANTIZE
        ),
        None,
    )
    stored: dict[int, tuple[int, float]] = {}  # float buffer -> (its int8 buffer, scale): buffers shared by signatures
    count = 0
    for subgraph in model.subgraphs:
        inputs, added = set(subgraph.inputs), []
        for index, tensor in enumerate(list(subgraph.tensors)):
            data = model.buffers[tensor.buffer].data
            if (
                tensor.type != schema.TensorType.FLOAT32
                or data is None
                or index in inputs
                or tensor.isVariable
                or len(data) < 4 * min_elements
            ):
                continue
            if tensor.buffer not in stored:
                values = np.frombuffer(np.asarray(data, np.uint8).tobytes(), "<f4")
                scale = float(np.abs(values).max()) / 127.0 or 1.0
                buffer = schema.BufferT()
                buffer.data = np.clip(np.round(values / scale), -127, 127).astype(np.int8).view(np.uint8)
                model.buffers.append(buffer)
                stored[tensor.buffer] = (len(model.buffers) - 1, scale)
            quantized = schema.TensorT()
            quantized.shape, quantized.type, quantized.hasRank = list(tensor.shape), schema.TensorType.INT8, True
            quantized.buffer, scale = stored[tensor.buffer]
            quantized.quantization = schema.QuantizationParametersT()
            quantized.quantization.scale, quantized.quantization.zeroPoint = [scale], [0]
            subgraph.tensors.append(quantized)
            model.buffers.append(schema.BufferT())  # the float tensor becomes the DEQUANTIZE op's output
            tensor.buffer = len(model.buffers) - 1
            if dequantize is None:
                code = schema.OperatorCodeT()
                code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.DEQUANTIZE
                model.operatorCodes.append(code)
                dequantize = len(model.operatorCodes) - 1
            model.operatorCodes[dequantize].version = max(model.operatorCodes[dequantize].version, 2)  # int8 input
            op = schema.OperatorT()
            op.opcodeIndex, op.inputs, op.outputs = dequantize, [len(subgraph.tensors) - 1], [index]
            op.builtinOptionsType = schema.BuiltinOptions.DequantizeOptions
            op.builtinOptions = schema.DequantizeOptionsT()
            added.append(op)
            count += 1
        subgraph.operators = added + list(subgraph.operators)  # constants first: the order stays topological
    used = {tensor.buffer for subgraph in model.subgraphs for tensor in subgraph.tensors}
    used |= {entry.buffer for entry in model.metadata or ()}
    for old in set(stored) - used:
        model.buffers[old].data = None
    return count


class TFLiteRunner:
    """Runs a ``.tflite`` file's signatures on NumPy batches with the LiteRT interpreter.

    A file with a fixed batch of 1 is run one clip at a time; a dynamic-batch file ``batch_size`` clips
    at a time (its inputs resized to each batch): the interpreter plans memory for every tensor of the
    batch at once, and a fusion model's batch is every crop of every clip.
    """

    def __init__(self, model: str | os.PathLike | bytes, num_threads: int | None = None, batch_size: int = 8):
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
        self.batch_size = int(batch_size)

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

    def __call__(
        self, inputs: dict[str, np.ndarray], signature: str = "serving_default", output: str = "probabilities"
    ) -> np.ndarray:
        runner = self._runner(signature)
        details = runner.get_input_details()
        feed = {name: np.asarray(inputs[name], details[name]["dtype"]) for name in details}
        batch_size = 1 if self.fixed_batch(signature) else self.batch_size
        return in_batches(lambda chunk: runner(**chunk)[output], feed, batch_size)


def tflite_parity(
    servable: Servable, runner: TFLiteRunner, samples: dict[str, np.ndarray], min_agreement: float
) -> dict:
    """Parity of each signature of a TFLite model against the Keras model."""
    return signature_parity(servable, runner, signature_names(servable.spec), samples, min_agreement)


def export_tflite(
    servable: Servable,
    path: str | os.PathLike,
    *,
    quantization: str = "fp32",
    samples: dict[str, np.ndarray],
    representative: dict[str, np.ndarray] | None = None,
    batch_size: int | None = None,
    min_agreement: float | None = None,
    extra_info: dict | None = None,
) -> dict:
    """Convert, check parity on ``samples`` (held-out clips), and only then write ``path`` and
    ``path.with_suffix(".json")`` (classes, shapes, parity, size). Raises :class:`ExportError`, writing
    nothing, when top-1 agreement is under ``min_agreement`` (default 99% for fp32/fp16, 97% for int8).
    Returns the info written to the ``.json`` file."""
    path = Path(path)
    if path.suffix != ".tflite":
        raise InvalidInputError(f"the TFLite file name must end in .tflite, got {path.name}")
    if quantization not in QUANTIZATIONS:
        raise InvalidInputError(f"quantization must be one of {QUANTIZATIONS}, got {quantization!r}")
    min_agreement = MIN_AGREEMENT[quantization] if min_agreement is None else check_min_agreement(min_agreement)
    content = convert_to_tflite(servable, quantization, representative, batch_size)
    parity = tflite_parity(servable, TFLiteRunner(content), samples, min_agreement)
    for name, report in parity.items():
        check_parity(report, f"TFLite {quantization} signature {name!r}")
    info = {
        "format": "tflite",
        "quantization": quantization,
        "batch_size": batch_size,
        "signatures": list(signature_names(servable.spec)),
        "size_bytes": len(content),
        **servable.spec.to_dict(),
        "parity": parity,
        **(extra_info or {}),
    }
    with atomic_write(path) as handle:
        handle.write(content)
    with atomic_write(path.with_suffix(".json"), "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2)
    return info


def read_tflite_info(path: str | os.PathLike) -> dict | None:
    """The ``.json`` written beside a ``.tflite`` by :func:`export_tflite`, or None."""
    side = Path(path).with_suffix(".json")
    return json.loads(side.read_text()) if side.is_file() else None
