"""Object detectors: one RGB frame in, :class:`~har_tf.data.detections.Detections` out, and the step to
the raw ``(T, K, 6)`` objects the models take (:mod:`har_tf.data.objects`).

Detectors (all give boxes ``[x1, y1, x2, y2]`` in the frame's pixels, class ids >= 1 in the detector's
label space, scores, best first):

- :class:`SavedModelDetector`: a TF Object Detection API SavedModel (the TF2 Detection Zoo / TF Hub
  signature: uint8 image ``(1, H, W, 3)`` in, ``detection_boxes`` normalised ``[ymin, xmin, ymax, xmax]``,
  ``detection_classes``, ``detection_scores``, ``num_detections`` out), from a local directory or a TF Hub
  / Kaggle handle (resolved and cached by ``tensorflow_hub``: a download the first time, so not offline).
- :class:`TFLiteDetector`: an SSD-style ``.tflite`` with the 4 post-processed outputs (boxes, classes,
  scores, count), run by LiteRT.
- :class:`AnnotationDetector`: detections given by annotations (e.g. a detections JSON folder,
  :mod:`har_tf.data.detections`), returned frame by frame.

Label maps: ``class_names[i]`` names class id ``i``, index 0 is ``"none"``. The models of the TF2
Detection Zoo and TF Hub are trained on COCO with its 90-id label map: pass ``class_names=COCO_LABELS``.
A detector's ids become a dataset's object class ids through a class map (:func:`class_map_by_name`),
applied by :func:`detections_to_objects`.
"""

from __future__ import annotations

import abc
import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np

from har_tf.data.detections import (
    Detections,
    check_class_names,
    detections_to_objects,
    objects_to_detections,
    read_detections_frames,
)
from har_tf.data.video import Letterbox
from har_tf.errors import InvalidInputError, MissingFileError
from har_tf.inference.pose.base import check_frame

__all__ = [
    "COCO_LABELS",
    "SYNONYMS",
    "AnnotationDetector",
    "Detections",
    "ObjectDetector",
    "SavedModelDetector",
    "TFLiteDetector",
    "class_map_by_name",
    "detect_frame",
    "detect_objects",
    "detections_to_objects",
    "frame_objects",
    "letterbox_detections",
    "make_detector",
    "person_box",
    "read_label_map",
]

_COCO = {
    1: "person",
    2: "bicycle",
    3: "car",
    4: "motorcycle",
    5: "airplane",
    6: "bus",
    7: "train",
    8: "truck",
    9: "boat",
    10: "traffic light",
    11: "fire hydrant",
    13: "stop sign",
    14: "parking meter",
    15: "bench",
    16: "bird",
    17: "cat",
    18: "dog",
    19: "horse",
    20: "sheep",
    21: "cow",
    22: "elephant",
    23: "bear",
    24: "zebra",
    25: "giraffe",
    27: "backpack",
    28: "umbrella",
    31: "handbag",
    32: "tie",
    33: "suitcase",
    34: "frisbee",
    35: "skis",
    36: "snowboard",
    37: "sports ball",
    38: "kite",
    39: "baseball bat",
    40: "baseball glove",
    41: "skateboard",
    42: "surfboard",
    43: "tennis racket",
    44: "bottle",
    46: "wine glass",
    47: "cup",
    48: "fork",
    49: "knife",
    50: "spoon",
    51: "bowl",
    52: "banana",
    53: "apple",
    54: "sandwich",
    55: "orange",
    56: "broccoli",
    57: "carrot",
    58: "hot dog",
    59: "pizza",
    60: "donut",
    61: "cake",
    62: "chair",
    63: "couch",
    64: "potted plant",
    65: "bed",
    67: "dining table",
    70: "toilet",
    72: "tv",
    73: "laptop",
    74: "mouse",
    75: "remote",
    76: "keyboard",
    77: "cell phone",
    78: "microwave",
    79: "oven",
    80: "toaster",
    81: "sink",
    82: "refrigerator",
    84: "book",
    85: "clock",
    86: "vase",
    87: "scissors",
    88: "teddy bear",
    89: "hair drier",
    90: "toothbrush",
}
#: the COCO 90-id label map of the TF Object Detection API (``mscoco_label_map``); unused ids are "".
COCO_LABELS: tuple[str, ...] = ("none",) + tuple(_COCO.get(i, "") for i in range(1, 91))

#: the only name synonyms :func:`class_map_by_name` knows: name -> canonical name (both sides are
#: canonicalised, so "cell phone" matches a dataset's "phone" and "mobile phone" alike). Deliberately
#: short: near-misses such as "laptop" / "tablet" or "bottle" / "cup" are different objects and stay apart.
SYNONYMS: dict[str, str] = {
    "cell phone": "phone",
    "cellphone": "phone",
    "mobile phone": "phone",
    "smartphone": "phone",
    "mug": "cup",
    "coffee cup": "cup",
    "tablet computer": "tablet",
    "cardboard box": "box",
    "tv": "television",
    "tvmonitor": "television",
    "tv monitor": "television",
}

OUTPUTS = ("detection_boxes", "detection_classes", "detection_scores")  # num_detections is optional
_BACKGROUND = {"none", "background", "???", ""}


def _label_map(class_names: Sequence[str] | None) -> tuple[str, ...] | None:
    """A detector's label map with index 0 named "none" (it may come as "background" or "???")."""
    if class_names is None:
        return None
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, (Sequence, np.ndarray)):
        raise InvalidInputError(
            f"class_names must be a list of names indexed by class id, got {type(class_names).__name__}"
        )
    names = tuple(str(n) for n in class_names)
    if not names or names[0].strip().lower() not in _BACKGROUND:
        raise InvalidInputError(
            "class_names are indexed by class id and id 0 is the background: the first name must "
            f"be 'none' (or 'background' / '???'), got {list(names[:3])}"
        )
    return ("none",) + names[1:]


class ObjectDetector(abc.ABC):
    """RGB uint8 frame ``(H, W, 3)`` in, :class:`Detections` out (boxes in the frame's pixels, best first)."""

    #: the label map (index = class id, index 0 = "none"); just ("none",) when unknown
    class_names: tuple[str, ...] = ("none",)

    @abc.abstractmethod
    def detect(self, frame: np.ndarray) -> Detections:
        """The detections of a checked RGB uint8 frame."""

    def reset(self) -> None:  # noqa: B027 - an optional hook: stateless detectors keep the no-op
        """Forget any per-video state (call between unrelated videos)."""

    def __call__(self, frame: np.ndarray) -> Detections:
        return self.detect(check_frame(frame))

    @property
    def names(self) -> tuple[str, ...] | None:
        """The label map, or None when unknown."""
        return self.class_names if len(self.class_names) > 1 else None

    def _finish(
        self, boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray, count: int, to_pixels, width: int, height: int
    ) -> Detections:
        """Raw detections (normalised ``[ymin, xmin, ymax, xmax]``) -> checked pixel Detections."""
        count = max(0, min(int(count), len(scores)))
        boxes, classes, scores = boxes[:count].astype(np.float64), classes[:count], scores[:count].astype(np.float64)
        keep = np.isfinite(boxes).all(axis=1) & np.isfinite(classes) & np.isfinite(scores)
        keep &= (scores >= self.min_score) & (np.round(classes) >= 1)
        index = np.flatnonzero(keep)
        index = index[np.argsort(-scores[index], kind="stable")][: self.max_detections]
        pixels = to_pixels(boxes[index]) if len(index) else np.zeros((0, 4))
        x = np.clip(pixels[:, [0, 2]], 0, width)
        y = np.clip(pixels[:, [1, 3]], 0, height)
        boxes_px = np.stack([x.min(axis=1), y.min(axis=1), x.max(axis=1), y.max(axis=1)], axis=1)
        return Detections(boxes_px, np.round(classes[index]), np.clip(scores[index], 0, 1), self.names)


class AnnotationDetector(ObjectDetector):
    """Detections given in advance (annotations), one :class:`Detections` per frame, returned in order:
    each call gives the next frame's (the frame itself, when given, is only checked); :meth:`reset`
    starts again from frame 0."""

    def __init__(self, per_frame: Sequence[Detections | None], class_names: Sequence[str] | None = None):
        self.per_frame = list(per_frame)
        if any(d is not None and not isinstance(d, Detections) for d in self.per_frame):
            raise InvalidInputError("AnnotationDetector takes one Detections (or None) per frame")
        given = class_names
        if given is None:  # the label map the annotations carry, if any
            given = next((d.names for d in self.per_frame if d is not None and d.names), None)
        self.class_names = _label_map(given) or ("none",)
        self._next = 0

    @classmethod
    def from_objects(cls, objects, class_names: Sequence[str] | None = None) -> AnnotationDetector:
        """From raw objects ``(T, K, 6)`` (e.g. a dataset's annotations)."""
        names = None if class_names is None else check_class_names(class_names)
        return cls(objects_to_detections(objects, names), names)

    @classmethod
    def from_folder(
        cls,
        folder: str | os.PathLike,
        class_names: Sequence[str],
        num_frames: int | None = None,
        stem: str | None = None,
    ) -> AnnotationDetector:
        """From a detections JSON folder (:func:`har_tf.data.detections.read_detections_frames`)."""
        return cls(read_detections_frames(folder, class_names, num_frames, stem), class_names)

    def __len__(self) -> int:
        return len(self.per_frame)

    def reset(self) -> None:
        self._next = 0

    def __call__(self, frame: np.ndarray | None = None) -> Detections:
        return self.detect(None if frame is None else check_frame(frame))

    def detect(self, frame: np.ndarray | None = None) -> Detections:
        if self._next >= len(self.per_frame):
            raise InvalidInputError(
                f"the annotations hold {len(self.per_frame)} frames and all were used: call "
                "reset() before the next video"
            )
        found = self.per_frame[self._next]
        self._next += 1
        return Detections.empty(self.names) if found is None else found


def is_hub_handle(spec: str) -> bool:
    """A TF Hub / Kaggle Models handle (an http(s) address, or one naming tfhub.dev or kaggle.com)."""
    return spec.startswith(("http://", "https://")) or "tfhub.dev" in spec or "kaggle.com" in spec


class SavedModelDetector(ObjectDetector):
    """A TF Object Detection API SavedModel (see the module docstring), from a directory or a hub handle.

    Args:
        path_or_handle: the SavedModel directory, or a TF Hub / Kaggle handle such as
            ``https://tfhub.dev/tensorflow/ssd_mobilenet_v2/2`` (resolved by ``tensorflow_hub.resolve``,
            which downloads into its cache the first time).
        class_names: the label map (e.g. :data:`COCO_LABELS`); None when unknown.
        min_score: detections scoring less are dropped.
        max_detections: at most this many detections per frame (the best).
    """

    def __init__(
        self,
        path_or_handle: str | os.PathLike,
        class_names: Sequence[str] | None = None,
        min_score: float = 0.3,
        max_detections: int = 20,
    ):
        self.class_names = _label_map(class_names) or ("none",)
        self.min_score, self.max_detections = _check_limits(min_score, max_detections)
        self.path = resolve_saved_model(path_or_handle)
        import tensorflow as tf

        try:
            self.model = tf.saved_model.load(str(self.path))
        except Exception as err:  # noqa: BLE001 - TF raises many kinds; the user gets one clear error
            raise InvalidInputError(
                f"{self.path}: cannot load the SavedModel ({type(err).__name__}: "
                f"{str(err).splitlines()[0] if str(err) else ''})"
            ) from None
        self._tf = tf
        self._function, self._input_name, self._input_spec = self._find_function()

    def _find_function(self):
        signatures = getattr(self.model, "signatures", {})
        function = signatures.get("serving_default") if len(signatures) else None
        if function is None and len(signatures) == 1:
            function = next(iter(signatures.values()))
        if function is None:
            if callable(self.model):  # e.g. a hub model with a __call__ but no signature: outputs checked per call
                return self.model, None, None
            raise InvalidInputError(
                f"{self.path} is a SavedModel without a serving signature; expected the TF "
                f"Object Detection API signature with outputs {', '.join(OUTPUTS)}, "
                "num_detections"
            )
        args, kwargs = function.structured_input_signature
        specs = list(kwargs.items())
        if args or len(specs) != 1 or specs[0][1].shape.rank not in (None, 4):
            raise InvalidInputError(
                f"{self.path}: expected one image input (1, H, W, 3), got the signature inputs {args or dict(specs)}"
            )
        outputs = function.structured_outputs
        names = sorted(outputs) if isinstance(outputs, dict) else []
        missing = [name for name in OUTPUTS if name not in names]
        if missing:
            raise InvalidInputError(
                f"{self.path} is not an object detection SavedModel: expected the outputs "
                f"{', '.join(OUTPUTS)} (and num_detections), got {names}"
            )
        return function, specs[0][0], specs[0][1]

    def detect(self, frame: np.ndarray) -> Detections:
        tf = self._tf
        height, width = frame.shape[:2]
        image = frame
        spec = self._input_spec
        if spec is not None and spec.shape.rank == 4 and spec.shape[1] is not None and spec.shape[2] is not None:
            image = cv2.resize(frame, (int(spec.shape[2]), int(spec.shape[1])), interpolation=cv2.INTER_LINEAR)
        dtype = spec.dtype if spec is not None else tf.uint8
        tensor = tf.cast(tf.constant(image[None]), dtype)
        out = self._function(**{self._input_name: tensor}) if self._input_name else self._function(tensor)
        if not isinstance(out, dict) or any(name not in out for name in OUTPUTS):
            got = sorted(out) if isinstance(out, dict) else type(out).__name__
            raise InvalidInputError(f"{self.path}: expected the outputs {', '.join(OUTPUTS)}, got {got}")
        boxes = np.asarray(out["detection_boxes"], np.float64).reshape(-1, 4)
        classes = np.asarray(out["detection_classes"], np.float64).reshape(-1)
        scores = np.asarray(out["detection_scores"], np.float64).reshape(-1)
        if not len(boxes) == len(classes) == len(scores):
            raise InvalidInputError(f"{self.path}: {len(boxes)} boxes, {len(classes)} classes and {len(scores)} scores")
        count = len(scores)
        if "num_detections" in out:
            count = int(np.asarray(out["num_detections"]).reshape(-1)[0])

        def to_pixels(b):  # normalised [ymin, xmin, ymax, xmax] -> pixels [x1, y1, x2, y2]
            return np.stack([b[:, 1] * width, b[:, 0] * height, b[:, 3] * width, b[:, 2] * height], axis=1)

        return self._finish(boxes, classes, scores, count, to_pixels, width, height)


def resolve_saved_model(spec: str | os.PathLike) -> Path:
    """A local SavedModel directory, or a hub handle resolved by ``tensorflow_hub`` (download the first time)."""
    text = str(spec)
    path = Path(text)
    if not path.exists() and is_hub_handle(text):
        import tensorflow_hub as hub

        path = Path(hub.resolve(text))
    if not path.exists():
        raise MissingFileError(f"no such SavedModel directory: {path}")
    if not path.is_dir() or not ((path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file()):
        raise InvalidInputError(
            f"{path} is not a SavedModel: expected a directory holding saved_model.pb "
            "(e.g. the saved_model/ folder of a TF2 Detection Zoo archive)"
        )
    return path


class TFLiteDetector(ObjectDetector):
    """An SSD-style ``.tflite`` detector with the 4 post-processed outputs: boxes ``(1, N, 4)`` normalised
    ``[ymin, xmin, ymax, xmax]``, classes ``(1, N)``, scores ``(1, N)``, count ``(1,)``.

    The frame is resized to the model's input (``letterbox=True``: scaled into a square with grey bars,
    for models trained that way), as uint8 pixels or float32 scaled to [-1, 1] depending on the input's
    dtype, and the boxes are mapped back to the frame's pixels. Outputs are found by shape (boxes: last
    axis 4; count: one value), classes and scores by name (``class`` / ``score`` in it, or the
    ``TFLite_Detection_PostProcess:1`` / ``:2`` convention), else by order (classes first), corrected
    at the first frame where only one of the two holds whole numbers.

    Args:
        path: the ``.tflite`` file (or a folder holding one, or a hub handle).
        class_names: the label map, index = class id after ``class_offset``; None: the labels file
            packed in the model's metadata when there is one (0-based, as TFLite Model Maker and the
            TF OD API write it), else unknown.
        min_score, max_detections: as :class:`SavedModelDetector`.
        class_offset: added to the raw class outputs; TFLite SSD models give 0-based ids (0 = the first
            real class, e.g. COCO's person), so 1 makes them this module's 1-based ids (use with
            :data:`COCO_LABELS` for the COCO models); 0 for a model whose ids are already 1-based.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        class_names: Sequence[str] | None = None,
        min_score: float = 0.3,
        max_detections: int = 20,
        class_offset: int = 1,
        letterbox: bool = False,
        num_threads: int | None = None,
    ):
        from har_tf.inference.pose.movenet import load_interpreter, resolve_model_file

        self.min_score, self.max_detections = _check_limits(min_score, max_detections)
        self.class_offset, self.letterbox = int(class_offset), bool(letterbox)
        self.path = resolve_model_file(path)
        self.interpreter = load_interpreter(self.path, num_threads)
        inputs = self.interpreter.get_input_details()
        shape = inputs[0]["shape"].tolist() if len(inputs) == 1 else []
        if len(shape) != 4 or shape[3] != 3 or inputs[0]["dtype"] not in (np.uint8, np.float32):
            got = [(d["shape"].tolist(), np.dtype(d["dtype"]).name) for d in inputs]
            raise InvalidInputError(f"{self.path}: expected one uint8 or float32 image input (1, H, W, 3), got {got}")
        self.input_index, self.input_dtype = inputs[0]["index"], np.dtype(inputs[0]["dtype"])
        self.input_height, self.input_width = int(shape[1]), int(shape[2])
        if self.letterbox and self.input_height != self.input_width:
            raise InvalidInputError(
                f"letterbox needs a square model input, {self.path} takes {self.input_height}x{self.input_width}"
            )
        self._outputs, self._confirmed = self._find_outputs()
        names = class_names if class_names is not None else _metadata_labels(self.path, self.class_offset)
        self.class_names = _label_map(names) or ("none",)

    def _find_outputs(self) -> tuple[dict[str, int], bool]:
        details = self.interpreter.get_output_details()
        names = {d["index"]: d["name"] for d in details}
        try:  # signature output names (e.g. "detection_scores") where the model has exactly one signature
            if len(self.interpreter.get_signature_list()) == 1:
                runner = self.interpreter.get_signature_runner()
                for name, d in runner.get_output_details().items():
                    names[d["index"]] = f"{name} {names.get(d['index'], '')}"
        except (ValueError, KeyError, AttributeError, RuntimeError):
            pass
        shapes = [d["shape"].tolist() for d in details]
        boxes = [d["index"] for d in details if len(d["shape"]) == 3 and d["shape"][-1] == 4]
        count = [d["index"] for d in details if d["shape"].size <= 1]
        pair = [d["index"] for d in details if len(d["shape"]) == 2]
        if len(details) != 4 or len(boxes) != 1 or len(count) != 1 or len(pair) != 2:
            raise InvalidInputError(
                f"{self.path} is not an SSD-style detector: expected 4 outputs boxes (1, N, 4), "
                f"classes (1, N), scores (1, N), count (1,), got shapes {shapes}"
            )
        low = [names[i].lower() for i in pair]
        confirmed = True
        if "score" in low[0] or "class" in low[1]:
            pair.reverse()
        elif not ("class" in low[0] or "score" in low[1]):
            suffix = [re.search(r"postprocess:(\d+)$", n) for n in low]
            if all(suffix):
                pair.sort(key=lambda i: int(re.search(r"(\d+)$", names[i]).group(1)))
            else:
                confirmed = False  # by order, checked on the outputs
        return {"boxes": boxes[0], "classes": pair[0], "scores": pair[1], "count": count[0]}, confirmed

    def detect(self, frame: np.ndarray) -> Detections:
        height, width = frame.shape[:2]
        box = Letterbox.for_frame(frame, self.input_width) if self.letterbox else None
        if box is not None:
            image = box.apply(frame)
        else:
            image = cv2.resize(frame, (self.input_width, self.input_height), interpolation=cv2.INTER_LINEAR)
        x = image[None].astype(np.float32) / 127.5 - 1.0 if self.input_dtype == np.float32 else image[None]
        self.interpreter.set_tensor(self.input_index, x.astype(self.input_dtype))
        self.interpreter.invoke()
        get = {role: self.interpreter.get_tensor(index) for role, index in self._outputs.items()}
        boxes = np.asarray(get["boxes"], np.float64).reshape(-1, 4)
        classes = np.asarray(get["classes"], np.float64).reshape(-1)
        scores = np.asarray(get["scores"], np.float64).reshape(-1)
        count = int(np.asarray(get["count"]).reshape(-1)[0]) if np.asarray(get["count"]).size else len(scores)
        if not self._confirmed:
            classes, scores = self._check_order(classes, scores)

        def to_pixels(b):  # normalised [ymin, xmin, ymax, xmax] -> frame pixels [x1, y1, x2, y2]
            if box is None:
                return np.stack([b[:, 1] * width, b[:, 0] * height, b[:, 3] * width, b[:, 2] * height], axis=1)
            size = self.input_width
            corners = np.stack([b[:, [1, 0]] * size, b[:, [3, 2]] * size], axis=1)  # (n, 2, 2) square pixels
            corners = np.concatenate([corners, np.ones(corners.shape[:2] + (1,))], axis=-1)
            return box.to_video(corners)[..., :2].reshape(-1, 4)

        return self._finish(boxes, classes + self.class_offset, scores, count, to_pixels, width, height)

    def _check_order(self, classes: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Swap classes and scores once the outputs show it (only one of the two holds whole numbers)."""
        whole_c, whole_s = bool(np.all(classes == np.round(classes))), bool(np.all(scores == np.round(scores)))
        if whole_c != whole_s:
            self._confirmed = True
            if whole_s:
                self._outputs["classes"], self._outputs["scores"] = self._outputs["scores"], self._outputs["classes"]
                return scores, classes
        return classes, scores


def _metadata_labels(path: Path, class_offset: int) -> tuple[str, ...] | None:
    """The 0-based labels file packed in a ``.tflite``'s metadata, as a label map; None without one."""
    if class_offset != 1:
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            texts = [n for n in archive.namelist() if n.lower().endswith(".txt")]
            texts.sort(key=lambda n: "label" not in n.lower())
            if not texts:
                return None
            lines = archive.read(texts[0]).decode("utf-8").splitlines()
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, KeyError):
        return None
    lines = [line.strip() for line in lines]
    while lines and not lines[-1]:
        lines.pop()
    if lines and lines[0].lower() in _BACKGROUND:  # a labels file that already lists the background first
        lines = lines[1:]
    return ("none",) + tuple("" if line == "???" else line for line in lines) if lines else None


def _check_limits(min_score: float, max_detections: int) -> tuple[float, int]:
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not 0 <= min_score <= 1:
        raise InvalidInputError(f"min_score must be a number in [0, 1], got {min_score!r}")
    if isinstance(max_detections, bool) or not isinstance(max_detections, (int, np.integer)) or max_detections < 1:
        raise InvalidInputError(f"max_detections must be a whole number >= 1, got {max_detections!r}")
    return float(min_score), int(max_detections)


def _canonical(name: str) -> str:
    key = " ".join(re.sub(r"[_\-]+", " ", str(name)).lower().split())
    return SYNONYMS.get(key, key)


def class_map_by_name(detector_names: Sequence[str], dataset_names: Sequence[str]) -> dict[int, int]:
    """Detector class id -> dataset object class id, for the names that match (case, spaces, ``_``/``-``
    ignored, and the :data:`SYNONYMS`). Both lists are label maps (index = id, index 0 = ``"none"``).
    Detector classes with no match are left out (their detections are dropped); no match at all is an error."""
    detector = _label_map(detector_names)
    dataset = check_class_names(dataset_names, "dataset object class names")
    if detector is None or len(detector) < 2:
        raise InvalidInputError(
            "the detector's label names are unknown: pass its class_names (COCO_LABELS for the "
            "TF2 Detection Zoo / TF Hub models)"
        )
    wanted: dict[str, int] = {}
    for i, name in enumerate(dataset[1:], start=1):
        wanted.setdefault(_canonical(name), i)
    mapping = {
        i: wanted[_canonical(name)]
        for i, name in enumerate(detector)
        if i >= 1 and name.strip() and name.strip() != "???" and _canonical(name) in wanted
    }
    if not mapping:
        raise InvalidInputError(
            f"none of the detector's {len(detector) - 1} classes matches the dataset's object "
            f"classes {list(dataset[1:])}; build the class map by hand"
        )
    return mapping


def detect_objects(
    detector: ObjectDetector,
    frames: Iterable[np.ndarray],
    max_objects: int,
    class_map: dict[int, int] | None = None,
    person_box=None,
) -> np.ndarray:
    """Run ``detector`` on every frame of a clip: raw objects float32 ``(T, K, 6)`` (:func:`detections_to_objects`)."""
    return detections_to_objects([detector(frame) for frame in frames], max_objects, class_map, person_box)


def make_detector(spec: str | os.PathLike | ObjectDetector, **kwargs) -> ObjectDetector:
    """A detector from a spec: a ``.tflite`` file (or a hub handle naming ``tflite``) -> :class:`TFLiteDetector`;
    a SavedModel directory or another hub handle -> :class:`SavedModelDetector` (``kwargs`` go to it);
    a detector is returned as it is."""
    if isinstance(spec, ObjectDetector):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise InvalidInputError(f"expected a detector model path or hub handle, got {type(spec).__name__}")
    text = str(spec)
    path = Path(text)
    if path.exists():
        if path.is_file() and path.suffix.lower() == ".tflite":
            return TFLiteDetector(path, **kwargs)
        if path.is_dir() and not (path / "saved_model.pb").is_file() and len(list(path.glob("*.tflite"))) == 1:
            return TFLiteDetector(path, **kwargs)
        return SavedModelDetector(path, **kwargs)
    if is_hub_handle(text):
        return (TFLiteDetector if "tflite" in text.lower() else SavedModelDetector)(text, **kwargs)
    if path.suffix.lower() == ".tflite":
        raise MissingFileError(f"no such model file: {path}")
    raise MissingFileError(
        f"no such detector model: {text} (expected a .tflite file, a SavedModel directory or a TF Hub / Kaggle handle)"
    )


def read_label_map(spec: str | os.PathLike) -> tuple[str, ...]:
    """A detector's label map from ``"coco"`` (:data:`COCO_LABELS`) or a text file of one name per line,
    line 1 = class id 1 (a first line ``none`` / ``background`` / ``???`` is taken as id 0 instead)."""
    if str(spec).lower() == "coco":
        return COCO_LABELS
    path = Path(spec)
    if not path.is_file():
        raise MissingFileError(f"no such label file: {path} (expected 'coco' or a text file of one class name a line)")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise InvalidInputError(f"{path}: the label file is empty; expected one class name per line")
    return _label_map(lines if lines[0].lower() in _BACKGROUND else ["none", *lines])


def detect_frame(detector, frame: np.ndarray, index: int) -> Detections:
    """``detector(frame)`` for frame number ``index`` of a video; an :class:`AnnotationDetector` gives no
    detections past its last annotated frame (a detections folder has no files for trailing empty frames)."""
    if isinstance(detector, AnnotationDetector) and index >= len(detector):
        return Detections.empty(detector.names)
    found = detector(frame)
    if not isinstance(found, Detections):
        raise InvalidInputError(f"a detector must return Detections for each frame, got {type(found).__name__}")
    return found


def person_box(pose: np.ndarray) -> np.ndarray:
    """``[x1, y1, x2, y2]`` around the valid joints of poses ``(..., J, C)`` (confidence > 0, or not all
    zeros when C = 2); all zeros where nobody is seen (:func:`detections_to_objects` then orders by score)."""
    pose = np.asarray(pose, np.float32)
    xy = pose[..., :2]
    valid = np.isfinite(pose).all(axis=-1)
    valid &= pose[..., 2] > 0 if pose.shape[-1] >= 3 else (xy != 0).any(axis=-1)
    big = np.float32(1e9)
    low = np.where(valid[..., None], xy, big).min(axis=-2)
    high = np.where(valid[..., None], xy, -big).max(axis=-2)
    box = np.concatenate([low, high], axis=-1)
    return np.where(valid.any(axis=-1)[..., None], box, 0.0).astype(np.float32)


def letterbox_detections(detections: Detections, letterbox: Letterbox) -> Detections:
    """The detections with their boxes mapped from the frame's pixels into the letterbox square's (as
    :meth:`Letterbox.to_square` maps keypoints), clipped to the square."""
    (sx, sy), (ox, oy) = letterbox.scale, letterbox.offset
    boxes = detections.boxes * np.float32([sx, sy, sx, sy]) + np.float32([ox, oy, ox, oy])
    boxes = np.clip(boxes, 0.0, float(letterbox.size))
    return Detections(boxes, detections.classes, detections.scores, detections.names)


def frame_objects(
    detections: Detections | None,
    max_objects: int,
    class_map: dict[int, int] | None = None,
    pose: np.ndarray | None = None,
) -> np.ndarray:
    """One frame's raw objects float32 ``(K, 6)``: the detections mapped through ``class_map``, nearest the
    person of ``pose`` ``(J, C)`` (same pixels) first, the best K kept (:func:`detections_to_objects`)."""
    box = None if pose is None else person_box(pose)[None]
    return detections_to_objects([detections], max_objects, class_map, box)[0]
