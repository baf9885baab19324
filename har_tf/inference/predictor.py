"""HARPredictor: one API over a ``.keras`` model, an exported SavedModel and a ``.tflite`` file.

    predictor = HARPredictor.load("saved_models/har/1")          # or model.keras, or model.tflite
    probabilities = predictor.predict_proba(pose, frames)         # (N, K), or (K,) for one clip
    best = predictor.topk(pose, frames, k=3)                      # ClassScores per clip
    likely = predictor.threshold(pose, thr=0.2)                   # every class >= 0.2, no frames
    fused = predictor.predict_proba(pose, objects=objects)        # a model with an object branch
    fused = predictor.predict_proba(pose, imu=imu)                # a model with an inertial branch

Poses are raw pixels from a pose estimator, float32 ``(N, T, J, C)`` or one clip ``(T, J, C)``;
frames are uint8 RGB ``(N, F, H, W, 3)`` or ``(F, H, W, 3)``; objects are raw detections float32
``(N, T, K, 6)`` or ``(T, K, 6)``, rows ``[class_id, x1, y1, x2, y2, score]`` (see
:mod:`har_tf.data.objects`); imu is raw wearable-sensor samples float32 ``(N, S, D)`` or ``(S, D)``,
S samples evenly spaced from the clip's first pose frame to its last (for a 6-axis sensor the
accelerometer in g, then the gyroscope in deg/s; NaN marks a missing sample; resample a recording
with :mod:`har_tf.inference.imu_buffer`). Missing modalities
(:func:`~har_tf.export.servable.serving_feed`): a model with an image branch given no frames answers
from its pose branch (or, with ``fusion="residual"`` and objects or imu given, from the pose and
those); a model with an object branch given no objects sees all-zero objects, i.e. no detections; one
with an inertial branch given no imu sees all-zero samples, i.e. no sensor. A model refuses the
frames, objects or imu of a branch it does not have.
Keras and SavedModel run on a GPU when TensorFlow sees one (``device="auto"``), else on the CPU;
``device="cpu"``/``"gpu"``/``"/GPU:1"`` chooses. TFLite runs on the CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from har_tf.data.checks import check_frames_batch, check_pose_batch, positive_int, probability
from har_tf.data.objects import check_objects_batch
from har_tf.data.preprocessing import NORMALIZE_MODES
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from har_tf.export.saved_model import read_export_info, run_signature, versions
from har_tf.export.servable import ServingSpec, in_batches, make_servable, serving_feed
from har_tf.export.tflite import TFLiteRunner, read_tflite_info
from har_tf.inference.results import ClassScores, above_threshold, top_k
from har_tf.models.inertial_encoder import check_imu_batch
from har_tf.skeleton.layouts import get_layout


def resolve_device(device: str = "auto") -> str:
    """A TensorFlow device name for ``auto`` (GPU if one is visible), ``cpu``, ``gpu`` or an explicit name."""
    gpus = tf.config.list_physical_devices("GPU")
    name = str(device).lower()
    if name == "auto":
        return "/GPU:0" if gpus else "/CPU:0"
    if name == "cpu":
        return "/CPU:0"
    if name == "gpu":
        name = "/gpu:0"
    if name.startswith("/gpu:"):
        index = int(name.split(":")[1]) if name.split(":")[1].isdigit() else -1
        if not 0 <= index < len(gpus):
            raise InvalidInputError(f"device {device!r} asked for, but TensorFlow sees {len(gpus)} GPU(s)")
        return f"/GPU:{index}"
    if name.startswith("/cpu:"):
        return "/CPU:0"
    raise InvalidInputError(f"device must be 'auto', 'cpu', 'gpu' or a name like '/GPU:0', got {device!r}")


class _KerasBackend:
    def __init__(self, path: Path, layout, normalize_mode: str):
        from har_tf.models.saving import load_keras_model

        self.servable = make_servable(load_keras_model(path), layout, normalize_mode)
        self.spec = self.servable.spec
        # One traced graph per function (any batch size): an eager Keras call per request is 10-20x slower.
        self._calls = {
            fused: tf.function(lambda inputs, m=model: m(inputs, training=False), reduce_retracing=True)
            for fused, model in ((True, self.servable.full), (False, self.servable.pose_only))
        }

    def __call__(self, feed: dict, signature: str) -> np.ndarray:
        fused = signature == "serving_default"
        model = self.servable.full if fused else self.servable.pose_only
        inputs = {k: feed[k] for k in model.input} if isinstance(model.input, dict) else feed["pose"]
        return np.asarray(self._calls[fused](inputs))


class _SavedModelBackend:
    def __init__(self, path: Path):
        try:
            self.loaded = tf.saved_model.load(str(path))
        except Exception as err:  # noqa: BLE001
            raise DataFormatError(f"{path} is not a readable SavedModel ({type(err).__name__})") from None
        missing = {"serving_default", "pose_only"} - set(self.loaded.signatures)
        if missing:
            raise DataFormatError(
                f"{path} has signatures {sorted(self.loaded.signatures)}; an export of "
                f"scripts/export.py also has {sorted(missing)}"
            )
        info = read_export_info(path)
        self.spec = ServingSpec.from_dict(info) if info else self._spec_from_signature()

    def _spec_from_signature(self) -> ServingSpec:
        inputs = self.loaded.signatures["serving_default"].structured_input_signature[1]
        outputs = self.loaded.signatures["serving_default"].structured_outputs["probabilities"]
        frames = tuple(inputs["frames"].shape[1:]) if "frames" in inputs else None
        objects = tuple(inputs["objects"].shape[1:]) if "objects" in inputs else None
        imu = tuple(inputs["imu"].shape[1:]) if "imu" in inputs else None
        k = int(outputs.shape[-1])
        return ServingSpec(
            "fusion" if frames or objects or imu else "pose",
            tuple(inputs["pose"].shape[1:]),
            frames,
            tuple(str(i) for i in range(k)),
            "",
            objects_shape=objects,
            imu_shape=imu,
        )

    def __call__(self, feed: dict, signature: str) -> np.ndarray:
        return run_signature(self.loaded.signatures[signature], feed)


class _TFLiteBackend:
    def __init__(self, path: Path, num_threads: int | None):
        self.runner = TFLiteRunner(path, num_threads=num_threads)
        info = read_tflite_info(path)
        self.spec = ServingSpec.from_dict(info) if info else self._spec_from_details()

    def _spec_from_details(self) -> ServingSpec:
        details = self.runner.input_details("serving_default")
        outputs = self.runner.output_details("serving_default")["probabilities"]
        frames = tuple(int(v) for v in details["frames"]["shape"][1:]) if "frames" in details else None
        objects = tuple(int(v) for v in details["objects"]["shape"][1:]) if "objects" in details else None
        imu = tuple(int(v) for v in details["imu"]["shape"][1:]) if "imu" in details else None
        k = int(outputs["shape"][-1])
        return ServingSpec(
            "fusion" if frames or objects or imu else "pose",
            tuple(int(v) for v in details["pose"]["shape"][1:]),
            frames,
            tuple(str(i) for i in range(k)),
            "",
            objects_shape=objects,
            imu_shape=imu,
        )

    def __call__(self, feed: dict, signature: str) -> np.ndarray:
        if signature == "pose_only" and "pose_only" not in self.runner.signatures:
            signature = "serving_default"  # a pose model's file: the same function
        return self.runner(feed, signature)


class HARPredictor:
    """Class probabilities, top-k and thresholded classes from any export of a HAR-TF model.

    Many clips are run ``batch_size`` (32) at a time, as ``keras.Model.predict`` does; set the attribute
    to change it.
    """

    batch_size: int = 32

    def __init__(self, backend, device: str, source: str, fmt: str):
        self._backend, self.device, self.source, self.format = backend, device, source, fmt
        self.spec: ServingSpec = backend.spec

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        device: str = "auto",
        *,
        layout=None,
        normalize_mode: str = "sequence",
        num_threads: int | None = None,
    ) -> HARPredictor:
        """Open ``path``: a ``.keras`` file, a ``.tflite`` file, a SavedModel version folder, or a TF
        Serving base folder (its latest version). ``layout``/``normalize_mode`` only matter for a
        ``.keras`` pose classifier whose layout is custom. Every argument is checked before the model is
        read."""
        if normalize_mode not in NORMALIZE_MODES:
            raise InvalidInputError(f"normalize_mode must be one of {NORMALIZE_MODES}, got {normalize_mode!r}")
        if layout is not None:
            layout = get_layout(layout)
        if num_threads is not None:
            num_threads = positive_int(num_threads, "num_threads", "a positive number of CPU threads (or None)")
        resolved = resolve_device(device)
        path = Path(path)
        if not path.exists():
            raise MissingFileError(f"no model at {path}")
        if path.is_dir() and not (path / "saved_model.pb").is_file():
            found = versions(path)
            if not found:
                raise DataFormatError(
                    f"{path} is neither a SavedModel (no saved_model.pb) nor a TF Serving folder with numbered versions"
                )
            path = path / str(found[-1])
        if path.is_dir():
            return cls(_SavedModelBackend(path), resolved, str(path), "savedmodel")
        if path.suffix == ".tflite":
            if resolved.startswith("/GPU") and str(device).lower() != "auto":
                raise InvalidInputError("TFLite models run on the CPU here (no GPU delegate); use device='cpu'")
            return cls(_TFLiteBackend(path, num_threads), "/CPU:0", str(path), "tflite")
        if path.suffix == ".keras":
            return cls(_KerasBackend(path, layout, normalize_mode), resolved, str(path), "keras")
        raise DataFormatError(f"{path}: expected a .keras file, a .tflite file or a SavedModel folder")

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names

    @property
    def takes_frames(self) -> bool:
        return self.spec.frames_shape is not None

    @property
    def takes_objects(self) -> bool:
        return self.spec.objects_shape is not None

    @property
    def takes_imu(self) -> bool:
        return self.spec.imu_shape is not None

    @property
    def modalities(self) -> tuple[str, ...]:
        """The branches of the model, pose first: e.g. ``("pose", "objects")``."""
        return self.spec.modalities

    def _inputs(self, pose, frames, objects, imu=None) -> tuple[str, dict, bool]:
        """The signature that answers, its checked feed, and whether one clip was given."""
        pose, single = check_pose_batch(pose, self.spec.pose_shape, channels=self.spec.pose_channels)
        if frames is not None:
            if not self.takes_frames:
                raise InvalidInputError(
                    "this is a pose-only model: it takes no frames (pass frames=None)"
                    if self.spec.kind == "pose"
                    else f"this model fuses {' + '.join(self.modalities)} and has no image branch: "
                    "it takes no frames (pass frames=None)"
                )
            frames = check_frames_batch(frames, self.spec.frames_shape, len(pose), single)
        if objects is not None:
            objects = self._objects(objects, len(pose))
        if imu is not None:
            imu = self._imu(imu, len(pose))
        signature, feed = serving_feed(self.spec, pose, frames, objects, imu)
        return signature, feed, single

    def _objects(self, objects, count: int) -> np.ndarray:
        if not self.takes_objects:
            raise InvalidInputError(
                f"this model ({' + '.join(self.modalities)}) has no object branch: it takes no "
                "objects (pass objects=None)"
            )
        num_frames, slots, _ = self.spec.objects_shape
        classes = None if self.spec.object_classes is None else len(self.spec.object_classes)
        return check_objects_batch(objects, num_frames, classes, slots, count)

    def _imu(self, imu, count: int) -> np.ndarray:
        if not self.takes_imu:
            raise InvalidInputError(
                f"this model ({' + '.join(self.modalities)}) has no inertial branch: it takes no imu (pass imu=None)"
            )
        return check_imu_batch(imu, *self.spec.imu_shape, batch=count)

    def predict_proba(self, pose, frames=None, objects=None, imu=None) -> np.ndarray:
        """Class probabilities ``(N, K)``, or ``(K,)`` for one clip: fused over the modalities given,
        with missing ones as the module docstring says (no frames: the pose branch; no objects: no
        detections; no imu: no sensor)."""
        signature, feed, single = self._inputs(pose, frames, objects, imu)
        with tf.device(self.device):
            probabilities = in_batches(lambda chunk: self._backend(chunk, signature), feed, self.batch_size)
        return probabilities[0] if single else probabilities

    def topk(self, pose, frames=None, k: int = 5, objects=None, imu=None) -> list[ClassScores] | ClassScores:
        """The ``k`` most probable classes (ids, names, probabilities), per clip (``k`` >= 1; more than
        the model's classes gives them all)."""
        k = positive_int(k, "k", "a positive integer")
        probabilities = self.predict_proba(pose, frames, objects, imu)
        result = top_k(np.atleast_2d(probabilities), self.class_names, k)
        return result[0] if probabilities.ndim == 1 else result

    def threshold(self, pose, frames=None, thr: float = 0.1, objects=None, imu=None) -> list[ClassScores] | ClassScores:
        """Every class whose probability is at least ``thr`` (a number in [0, 1]), best first, per clip
        (possibly none)."""
        thr = probability(thr, "the threshold")
        probabilities = self.predict_proba(pose, frames, objects, imu)
        result = above_threshold(np.atleast_2d(probabilities), self.class_names, thr)
        return result[0] if probabilities.ndim == 1 else result

    def __repr__(self) -> str:
        objects = f", objects {self.spec.objects_shape}" if self.takes_objects else ""
        objects += f", imu {self.spec.imu_shape}" if self.takes_imu else ""
        return (
            f"HARPredictor({self.format} {self.spec.kind} model, {self.spec.num_classes} classes, "
            f"pose {self.spec.pose_shape}, frames {self.spec.frames_shape}{objects}, device {self.device}, "
            f"{self.source})"
        )
