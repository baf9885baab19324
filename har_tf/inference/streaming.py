"""Recognition on a stream: a ring buffer of the last T frames, a prediction every ``stride`` frames.

    model = WindowModel.load("saved_models/run/fusion_model.keras")
    recogniser = StreamingRecognizer(model, MoveNetEstimator("movenet.tflite"), stride=5)
    for window in recogniser.run("video.mp4"):            # a file, a webcam index or an rtsp:// URL
        print(window.start_frame, window.end_frame, window.top(3).class_names)
    print(recogniser.latency.report())

Each frame is letterboxed into the model's square (:class:`~har_tf.data.video.Letterbox`), its main
person's pose estimated once (converted to the model's joint layout, in the square's pixels) and, when a
future window will show that frame to the image branch, its embedding computed once and kept
(:meth:`WindowModel.embed`): never again for the next window. The first window ends at frame T - 1,
then one every ``stride`` frames; window ``[s, s + T)`` gives the same probabilities as the model run
offline on those T poses and frames. Options: ``smoothing`` (an exponential moving average of the
probabilities over windows, 0 = none) and ``embed_every`` (embed only every k-th frame and let a window
use the latest embedded frame at or before each position it needs: k times fewer backbone runs, an
approximation). A stream shorter than T frames gets one window from :meth:`StreamingRecognizer.flush`,
its poses padded with missing frames and its last frame repeated for the image branch. A window in
which nobody was found in any frame is not classified: its start frame goes to ``empty_windows``.
Memory stays bounded on an endless stream: T poses, the embeddings still needed, and the last
``history`` windows (``windows``) and latency records; :meth:`StreamingRecognizer.frames` yields every
window as it comes for callers who keep the whole timeline.

Objects: for a fusion model with an object branch, each frame's detections come from ``detector`` (a
callable RGB frame -> :class:`~har_tf.data.detections.Detections`, e.g. an
:class:`~har_tf.inference.detection.ObjectDetector`; an :class:`~har_tf.inference.detection.AnnotationDetector`
gives no detections past its last frame) or from the caller (``push(frame, objects=...)``, e.g.
annotations). They are mapped to the model's object classes (by name,
:func:`~har_tf.inference.detection.class_map_by_name`, or ``class_map``), moved into the square like
the pose, ordered by nearness to the person's box and cut to the model's K (or ``max_objects``) rows,
and kept in a ring buffer beside the poses: window ``[s, s + T)`` gets their ``(T, K, 6)`` objects. A
frame without detections has zero rows; a model with an object branch given no detector and no objects
classifies as with no detections at all (with ``fusion="residual"``: the answer without the branch).

Wearable sensor: for a fusion model with an inertial branch, ``push(frame, imu=samples)`` gives the
sensor samples that came since the last frame, each with its time stamp in seconds (rows ``(N, 1 + D)``
``[t, v_1..v_D]`` or a tuple ``(timestamps, values)``), at the sensor's own rate; they go to a
time-stamped ring buffer (:class:`~har_tf.inference.imu_buffer.IMUBuffer`: the last ``imu_capacity``
samples). A frame's time is ``push(..., timestamp=t)`` on the sensor's clock, by default its index /
``fps`` (the first frame at 0 s). Window ``[s, s + T)`` gets the samples from the time of frame ``s``
to the time of frame ``s + T - 1`` resampled linearly to the model's S samples
(:func:`~har_tf.inference.imu_buffer.resample_window`): the ``imu`` the model takes offline for those
T frames. Time without samples (a gap longer than ``imu_max_gap_s``) reads as missing samples, a
window without any as "no sensor" (all zeros), which is also what a model with an inertial branch
gets when no samples are pushed; ``use_imu=False`` leaves the branch out (with no other branch used:
the pose branch alone).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque
from collections.abc import Callable, Iterator

import numpy as np

from har_tf.data.checks import check_frame, positive_int
from har_tf.data.detections import Detections, objects_to_detections
from har_tf.data.video import Letterbox, VideoReader
from har_tf.errors import InvalidInputError
from har_tf.inference.detection import (
    ObjectDetector,
    class_map_by_name,
    detect_frame,
    frame_objects,
    letterbox_detections,
)
from har_tf.inference.imu_buffer import CAPACITY, MAX_GAP_S, IMUBuffer, as_samples
from har_tf.inference.pose.base import PoseEstimator, main_person
from har_tf.inference.results import ClassScores, top_k
from har_tf.inference.window_model import WindowModel
from har_tf.skeleton.conversion import convert_pose
from har_tf.skeleton.layouts import get_layout

STAGES = ("decode", "pose", "detector", "embed", "classify", "render")


@dataclasses.dataclass
class WindowResult:
    """One prediction: frames ``start_frame..end_frame`` (inclusive), their times, the probabilities."""

    start_frame: int
    end_frame: int
    start_time: float
    end_time: float
    probabilities: np.ndarray
    class_names: tuple[str, ...]
    padded: bool = False  # a short stream's window (see StreamingRecognizer.flush)

    def top(self, k: int = 3) -> ClassScores:
        return top_k(self.probabilities[None], self.class_names, k)[0]

    def to_dict(self, k: int = 3) -> dict:
        best = self.top(k)
        return {
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "start_time": round(self.start_time, 4),
            "end_time": round(self.end_time, 4),
            "top": [{"class": n, "probability": round(p, 5)} for n, p in zip(best.class_names, best.scores)],
            **({"padded": True} if self.padded else {}),
        }


@dataclasses.dataclass
class FrameResult:
    """What one frame gave: its pose (estimator layout, the video's pixels), when a window ended at it, that
    window's prediction, and for a model with an object branch the objects the model got from the frame
    (float32 ``(K, 6)`` rows ``[class_id, x1, y1, x2, y2, score]``, the model's object class ids, boxes
    in the video's pixels; None for other models)."""

    index: int
    pose: np.ndarray
    window: WindowResult | None
    objects: np.ndarray | None = None


class LatencyRecorder:
    """Seconds per frame for each stage (decode, pose, detector, embed, classify, render); a stage that did
    not run for a frame counts 0 in the per-frame total and is left out of its own statistics. Keeps the
    last ``max_frames`` frames (memory stays bounded on an endless stream: about 0.5 kB a frame, so at
    most about 10 MB by default; the statistics cover those frames)."""

    def __init__(self, max_frames: int = 20_000) -> None:
        self.frames: list[dict[str, float]] = []
        self.max_frames, self.dropped = positive_int(max_frames, "max_frames", "a positive number of frames"), 0

    def start_frame(self) -> None:
        if len(self.frames) >= self.max_frames:
            half = len(self.frames) // 2
            del self.frames[:half]
            self.dropped += half
        self.frames.append({})

    def add(self, stage: str, seconds: float) -> None:
        if not self.frames:
            self.start_frame()
        self.frames[-1][stage] = self.frames[-1].get(stage, 0.0) + float(seconds)

    def summary(self, skip: int = 0) -> dict:
        """``{stage: {"runs", "median_ms", "p95_ms", "mean_ms_per_frame"}, "total": ...}`` over the frames
        after the first ``skip`` (warm-up)."""
        frames = self.frames[max(skip - self.dropped, 0) :]
        out = {}
        for stage in (*STAGES, "total"):
            values = (
                np.array(
                    [
                        sum(f.values()) if stage == "total" else f[stage]
                        for f in frames
                        if stage == "total" or stage in f
                    ]
                )
                * 1000.0
            )
            if values.size:
                out[stage] = {
                    "runs": int(values.size),
                    "median_ms": round(float(np.median(values)), 2),
                    "p95_ms": round(float(np.percentile(values, 95)), 2),
                    "mean_ms_per_frame": round(float(values.sum() / max(len(frames), 1)), 2),
                }
        return out

    def report(self, skip: int = 0) -> str:
        """A small table: each stage's median and 95th percentile per run, and its mean cost per frame."""
        summary = self.summary(skip)
        lines = [
            f"latency over {len(self.frames) - max(skip - self.dropped, 0)} frames (ms)",
            f"{'stage':<10}{'runs':>7}{'median':>9}{'p95':>9}{'per frame':>11}",
        ]
        for stage, s in summary.items():
            lines.append(
                f"{stage:<10}{s['runs']:>7}{s['median_ms']:>9.2f}{s['p95_ms']:>9.2f}{s['mean_ms_per_frame']:>11.2f}"
            )
        return "\n".join(lines)


class StreamingRecognizer:
    """Windowed action recognition over a stream of RGB frames (see the module docstring)."""

    def __init__(
        self,
        model: WindowModel,
        estimator: PoseEstimator,
        stride: int = 5,
        smoothing: float = 0.0,
        embed_every: int = 1,
        fps: float = 30.0,
        use_frames: bool = True,
        history: int = 10_000,
        detector: Callable[[np.ndarray], Detections] | None = None,
        max_objects: int | None = None,
        class_map: dict[int, int] | None = None,
        use_objects: bool = True,
        use_imu: bool = True,
        imu_capacity: int = CAPACITY,
        imu_max_gap_s: float = MAX_GAP_S,
    ):
        """``detector``, ``max_objects`` (at most this many of the model's K slots filled per frame; default
        K), ``class_map`` (detector class id -> the model's object class id; default by name) and
        ``use_objects`` (False: no object branch, with ``use_frames=False`` the pose branch alone) are
        for a model with an object branch; ``use_imu`` (False: no inertial branch), ``imu_capacity``
        (sensor samples kept) and ``imu_max_gap_s`` (samples further apart leave a gap) for a model with
        an inertial branch (see the module docstring)."""
        self.stride = positive_int(stride, "stride", "a positive number of frames")
        if (
            isinstance(smoothing, bool)
            or not isinstance(smoothing, (int, float, np.number))
            or not (0.0 <= smoothing < 1.0)
        ):
            raise InvalidInputError(f"smoothing must be a number in [0, 1) (0 = none), got {smoothing!r}")
        self.embed_every = positive_int(embed_every, "embed_every", "a positive integer")
        if fps is not None and (
            isinstance(fps, bool) or not isinstance(fps, (int, float, np.number)) or not 0 < fps < float("inf")
        ):
            raise InvalidInputError(f"fps must be a positive number of frames per second (or None for 30), got {fps!r}")
        self.history = positive_int(history, "history", "a positive number of windows")
        self.model, self.estimator, self.smoothing = model, estimator, float(smoothing)
        self.fps = float(fps) if fps else 30.0
        self.use_frames = bool(use_frames) and model.takes_frames
        self.use_objects = bool(use_objects) and model.takes_objects
        self.use_imu = bool(use_imu) and model.takes_imu
        if model.takes_imu:  # checks the settings now
            self._imu = IMUBuffer(model.imu_shape[1], imu_capacity, imu_max_gap_s)
        self.detector, self.class_map = detector, class_map
        self.max_objects = self._check_objects_settings(detector, max_objects, class_map)
        self._class_maps: dict = {}
        if self.use_objects and isinstance(detector, ObjectDetector) and class_map is None:
            if detector.names is None:
                raise InvalidInputError(
                    f"the detector's label names are unknown: give it its class_names (COCO_LABELS "
                    f"for the TF2 Detection Zoo / TF Hub models) or a class_map to the model's "
                    f"object classes {list(model.object_classes[1:])}"
                )
            self._map_for(detector.names)  # fails now when none of its classes is one of the model's
        self._estimator_joints = get_layout(estimator.layout).num_joints
        self._convert = get_layout(estimator.layout).name != get_layout(model.layout).name
        if self._convert:  # fail now, not at the first frame, when the layouts cannot be converted
            convert_pose(np.zeros((self._estimator_joints, 3)), estimator.layout, model.layout, allow_missing=True)
        self.latency = LatencyRecorder()
        model.warm_up()
        self.reset()

    def _check_objects_settings(self, detector, max_objects, class_map) -> int:
        """The K slots filled per frame (0 without an object branch), after checking the object settings."""
        model = self.model
        if not model.takes_objects:
            if detector is not None or max_objects is not None or class_map is not None:
                raise InvalidInputError(
                    f"this model has no object branch ({self._branches()}): it takes no "
                    "detector, max_objects or class_map"
                )
            return 0
        if detector is not None and not callable(detector):
            raise InvalidInputError(
                f"detector must be a callable RGB frame -> Detections (an ObjectDetector), got "
                f"{type(detector).__name__}"
            )
        if class_map is not None and (
            not isinstance(class_map, dict)
            or not all(
                isinstance(v, (int, np.integer)) and 0 <= v < len(model.object_classes) for v in class_map.values()
            )
        ):
            raise InvalidInputError(
                f"class_map must map detector class ids to the model's object class ids "
                f"0..{len(model.object_classes) - 1}, got {class_map!r:.200}"
            )
        if max_objects is None:
            return model.max_objects
        if (
            isinstance(max_objects, bool)
            or not isinstance(max_objects, (int, np.integer))
            or not (1 <= max_objects <= model.max_objects)
        ):
            raise InvalidInputError(
                f"max_objects must be a whole number in 1..{model.max_objects} (the model takes "
                f"K = {model.max_objects} objects per frame), got {max_objects!r}"
            )
        return int(max_objects)

    def _branches(self) -> str:
        model = self.model
        present = {"image": model.takes_frames, "objects": model.takes_objects, "imu": model.takes_imu}
        names = [name for name, taken in present.items() if taken]
        return f"a {' + '.join(['pose', *names])} fusion model" if names else "a pose-only model"

    def reset(self) -> None:
        """Start a new stream (clears the buffers, the smoothing, the estimator's track and the detector's
        state; keeps the latency)."""
        T = self.model.num_frames
        self._poses: deque = deque(maxlen=T)
        self._objects: deque = deque(maxlen=T)
        self._times: deque = deque(maxlen=T)  # the frames' times (s): the windows' sensor spans
        self._stamp: tuple[float, int] | None = None  # the last time stamp given, and its frame
        if self.model.takes_imu:
            self._imu.clear()
        self._embeddings: dict[int, np.ndarray] = {}
        self._letterbox: Letterbox | None = None
        self._smoothed: np.ndarray | None = None
        self._last_square: tuple[int, np.ndarray, np.ndarray] | None = None
        self.frames_seen, self.windows, self.empty_windows = 0, [], []
        self.estimator.reset()
        if self.use_objects and hasattr(self.detector, "reset"):
            self.detector.reset()

    # --- one frame ---------------------------------------------------------------------------------

    def push(
        self,
        frame: np.ndarray,
        decode_seconds: float | None = None,
        objects=None,
        imu=None,
        timestamp: float | None = None,
    ) -> FrameResult:
        """Take the next RGB frame (uint8 ``(H, W, 3)``, the same size as the stream's first; anything else is
        refused, never cast: :func:`~har_tf.data.checks.check_frame`).

        ``objects``: this frame's detections given by the caller instead of the detector (a model with an
        object branch only): a :class:`Detections` (mapped by its names, or taken as the model's object
        class ids when it has none) or rows ``(N, 6)`` ``[class_id, x1, y1, x2, y2, score]`` in the model's
        object class ids; boxes in the frame's pixels.

        ``imu``: the wearable sensor's samples since the previous frame (a model with an inertial branch
        only), rows ``(N, 1 + D)`` ``[t, v_1..v_D]`` or ``(timestamps (N,), values (N, D))``, times in
        seconds, increasing; ``timestamp``: this frame's time on the same clock (default: its index /
        ``fps``, or that many frame periods after the last time stamp given)."""
        if objects is not None and not self.model.takes_objects:
            raise InvalidInputError(f"this model has no object branch ({self._branches()}): push() takes no objects")
        if imu is not None and not self.model.takes_imu:
            raise InvalidInputError(f"this model has no inertial branch ({self._branches()}): push() takes no imu")
        frame = check_frame(frame, f"frame {self.frames_seen}")
        if self._letterbox is not None and frame.shape[:2] != (self._letterbox.height, self._letterbox.width):
            raise InvalidInputError(
                f"frame {self.frames_seen} is {frame.shape[0]}x{frame.shape[1]} pixels but the "
                f"stream's first frame was {self._letterbox.height}x{self._letterbox.width}: "
                "every frame of a stream has the same size"
            )
        now = self._frame_time(timestamp)
        if imu is not None and self.use_imu:
            self._imu.push(imu)
        self.latency.start_frame()
        if decode_seconds is not None:
            self.latency.add("decode", decode_seconds)
        n = self.frames_seen
        if self._letterbox is None:
            self._letterbox = Letterbox.for_frame(frame, self.model.frame_size)
        start = time.perf_counter()
        people = self.estimator(frame)
        person = main_person(people, self._estimator_joints)
        pose = (
            convert_pose(person, self.estimator.layout, self.model.layout, allow_missing=True)
            if self._convert
            else person
        )
        square_pose = self._letterbox.to_square(pose)
        self.latency.add("pose", time.perf_counter() - start)
        if self.use_frames and self._wanted(n):
            start = time.perf_counter()
            square = self._letterbox.apply(frame)
            self._embeddings[n] = self.model.embed(square, square_pose)
            self._last_square = (n, square, square_pose)
            self.latency.add("embed", time.perf_counter() - start)
        kept = None
        if self.use_objects:
            kept = self._frame_objects(n, frame, objects, square_pose)
        self._poses.append(square_pose)
        self._times.append(now)
        self.frames_seen += 1
        window = None
        T = self.model.num_frames
        if n >= T - 1 and (n - (T - 1)) % self.stride == 0:
            window = self._classify(n - T + 1, padded=False)
        self._forget(n - T + 3 - self.embed_every)  # what the next window (start n - T + 2) may still use
        return FrameResult(n, person, window, kept)

    def flush(self) -> WindowResult | None:
        """For a stream that ended before T frames: one window over what came (see the module docstring)."""
        if self.windows or self.empty_windows or self.frames_seen == 0:
            return None
        while len(self._poses) < self.model.num_frames:
            self._poses.append(np.zeros_like(self._poses[-1]))
        while self.use_objects and len(self._objects) < self.model.num_frames:
            self._objects.append(np.zeros((self.model.max_objects, 6), np.float32))
        while len(self._times) < self.model.num_frames:  # the missing frames' times, one period apart
            self._times.append(self._times[-1] + 1.0 / self.fps)
        return self._classify(0, padded=True)

    # --- helpers -----------------------------------------------------------------------------------

    def _frame_time(self, timestamp: float | None) -> float:
        """The next frame's time in seconds: ``timestamp`` (checked), or frame periods after the last one given."""
        n = self.frames_seen
        if timestamp is None:
            last, frame = self._stamp if self._stamp is not None else (0.0, 0)
            return last + (n - frame) / self.fps
        try:
            now = float(timestamp)
        except (TypeError, ValueError):
            now = float("nan")
        if not np.isfinite(now):
            raise InvalidInputError(f"a frame's timestamp must be a finite number of seconds, got {timestamp!r}")
        if self._times and now <= self._times[-1]:
            raise InvalidInputError(
                f"frame timestamps must increase: frame {n} at {now:.6g} s comes after frame "
                f"{n - 1} at {self._times[-1]:.6g} s"
            )
        self._stamp = (now, n)
        return now

    def _frame_objects(self, n: int, frame: np.ndarray, given, square_pose: np.ndarray) -> np.ndarray:
        """Keep frame ``n``'s ``(K, 6)`` objects (in the square) for the windows; return them in the video's
        pixels."""
        K = self.model.max_objects
        rows = np.zeros((K, 6), np.float32)
        if given is None and self.detector is None:
            self._objects.append(rows)
            return rows
        start = time.perf_counter()
        found = detect_frame(self.detector, frame, n) if given is None else self._given_detections(given)
        class_map = self._map_for(found.names, by_detector=given is None)
        if class_map is None and (found.classes >= len(self.model.object_classes)).any():
            raise InvalidInputError(
                f"frame {n}: detection class ids {found.classes.tolist()} without label names are "
                f"taken as the model's object class ids 1..{len(self.model.object_classes) - 1}; "
                "give Detections with names, or a class_map"
            )
        rows[: self.max_objects] = frame_objects(
            letterbox_detections(found, self._letterbox), self.max_objects, class_map, square_pose
        )
        self._objects.append(rows)
        self.latency.add("detector", time.perf_counter() - start)
        (sx, sy), (ox, oy) = self._letterbox.scale, self._letterbox.offset
        video = rows.copy()
        valid = video[:, 0] >= 1
        video[valid, 1:5] = (video[valid, 1:5] - np.float32([ox, oy, ox, oy])) / np.float32([sx, sy, sx, sy])
        return video

    def _given_detections(self, given) -> Detections:
        if isinstance(given, Detections):
            return given
        rows = np.asarray(given, np.float32) if not isinstance(given, np.ndarray) else given
        if rows.ndim != 2 or rows.shape[-1] != 6:
            raise InvalidInputError(
                f"objects must be a Detections or rows (N, 6) [class_id, x1, y1, x2, y2, score], got shape {rows.shape}"
            )
        return objects_to_detections(rows[None], self.model.object_classes)[0]

    def _map_for(self, names: tuple[str, ...] | None, by_detector: bool = True) -> dict[int, int] | None:
        """The class map for detections labelled by ``names`` (None: ids already the model's); ``class_map``
        applies to the detector's detections only."""
        if self.class_map is not None and by_detector:
            return self.class_map
        if names is None:
            return None
        if names not in self._class_maps:
            self._class_maps[names] = class_map_by_name(names, self.model.object_classes)
        return self._class_maps[names]

    def _wanted(self, n: int) -> bool:
        """Will some window show frame ``n`` to the image branch?"""
        if self.embed_every > 1:
            return n % self.embed_every == 0
        return any(n - i >= 0 and (n - i) % self.stride == 0 for i in self.model.frame_indices)

    def _feature_at(self, position: int) -> np.ndarray:
        """The embedding of frame ``position`` (or, with ``embed_every``/at a short stream's end, of the
        latest embedded frame before it)."""
        for n in range(position, position - self.embed_every - self.model.num_frames, -1):
            if n in self._embeddings:
                return self._embeddings[n]
        raise InvalidInputError(f"no embedded frame at or before frame {position}")

    def _classify(self, start: int, padded: bool) -> WindowResult | None:
        began = time.perf_counter()
        poses = np.stack(self._poses)
        if not (poses[..., 2] > 0).any():  # nobody in any of the T frames: nothing to classify
            self.empty_windows.append(start)
            if len(self.empty_windows) > self.history:
                del self.empty_windows[: len(self.empty_windows) - self.history]
            return None
        features = None
        if self.use_frames:
            last = self.frames_seen - 1
            features = np.stack([self._feature_at(min(start + i, last)) for i in self.model.frame_indices])
        extra = {}
        if self.use_objects:
            extra["objects"] = np.stack(self._objects)
        if self.use_imu:
            extra["imu"] = self._imu.window(self._times[0], self._times[-1], self.model.imu_shape[0])
        if (self.model.takes_objects or self.model.takes_imu) and not (extra or self.use_frames):
            probabilities = np.asarray(self.model.classify_pose(poses), np.float32)
        else:
            probabilities = np.asarray(self.model.classify(poses, features, **extra), np.float32)
        if self.smoothing and self._smoothed is not None:
            probabilities = self.smoothing * self._smoothed + (1.0 - self.smoothing) * probabilities
        self._smoothed = probabilities
        end = start + self.model.num_frames - 1 if not padded else self.frames_seen - 1
        times = (start / self.fps, (end + 1) / self.fps)
        if self._stamp is not None:  # time stamps given: the first frame's and one period after the last's
            times = (self._times[0], self._times[end - start] + 1.0 / self.fps)
        window = WindowResult(start, end, *times, probabilities, self.model.class_names, padded)
        self.windows.append(window)
        if len(self.windows) > self.history:
            del self.windows[: len(self.windows) - self.history]
        self.latency.add("classify", time.perf_counter() - began)
        return window

    def _forget(self, before: int) -> None:
        for n in [n for n in self._embeddings if n < before]:
            del self._embeddings[n]

    # --- a whole source ----------------------------------------------------------------------------

    def frames(
        self, source: str | int | os.PathLike, max_frames: int | None = None, imu=None
    ) -> Iterator[tuple[np.ndarray, FrameResult]]:
        """Run over a video file, webcam index or stream URL: ``(frame, FrameResult)`` per frame, and a
        final flush for a short stream (its window is in :attr:`windows`). ``imu``: a recording's sensor
        samples (a model with an inertial branch; the forms of :meth:`push`), times in seconds from the
        first frame: each frame gets the samples up to its time (its index / the video's rate)."""
        if imu is not None and not self.model.takes_imu:
            raise InvalidInputError(f"this model has no inertial branch ({self._branches()}): it takes no imu")
        times, values = (None, None) if imu is None else as_samples(imu, self.model.imu_shape[1])
        self.reset()
        with VideoReader(source, max_frames=max_frames) as reader:
            self.fps = reader.info.fps
            done = 0  # the samples pushed so far
            while True:
                start = time.perf_counter()
                frame = reader.read()
                if frame is None:
                    break
                seconds, samples = time.perf_counter() - start, None
                if times is not None:
                    upto = int(np.searchsorted(times, self.frames_seen / self.fps, side="right"))
                    samples, done = ((times[done:upto], values[done:upto]) if upto > done else None), upto
                yield frame, self.push(frame, decode_seconds=seconds, imu=samples)
        self.flush()

    def run(
        self,
        source: str | int | os.PathLike,
        max_frames: int | None = None,
        on_frame: Callable[[np.ndarray, FrameResult], None] | None = None,
        imu=None,
    ) -> list[WindowResult]:
        """Every window of a source (see :meth:`frames`); ``on_frame`` sees each frame and its result."""
        for frame, result in self.frames(source, max_frames, imu):
            if on_frame is not None:
                on_frame(frame, result)
        return list(self.windows)
