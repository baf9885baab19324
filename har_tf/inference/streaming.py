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
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque
from collections.abc import Callable, Iterator

import numpy as np

from har_tf.data.video import Letterbox, VideoReader
from har_tf.errors import InvalidInputError
from har_tf.inference.pose.base import PoseEstimator, main_person
from har_tf.inference.results import ClassScores, top_k
from har_tf.inference.window_model import WindowModel
from har_tf.skeleton.conversion import convert_pose
from har_tf.skeleton.layouts import get_layout

STAGES = ("decode", "pose", "embed", "classify", "render")


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
        return {"start_frame": self.start_frame, "end_frame": self.end_frame,
                "start_time": round(self.start_time, 4), "end_time": round(self.end_time, 4),
                "top": [{"class": n, "probability": round(p, 5)} for n, p in zip(best.class_names, best.scores)],
                **({"padded": True} if self.padded else {})}  # fmt: skip


@dataclasses.dataclass
class FrameResult:
    """What one frame gave: its pose (estimator layout, the video's pixels) and, when a window ended at it,
    that window's prediction."""

    index: int
    pose: np.ndarray
    window: WindowResult | None


class LatencyRecorder:
    """Seconds per frame for each stage (decode, pose, embed, classify, render); a stage that did not run
    for a frame counts 0 in the per-frame total and is left out of its own statistics. Keeps the last
    ``max_frames`` frames (memory stays bounded on an endless stream)."""

    def __init__(self, max_frames: int = 100_000) -> None:
        self.frames: list[dict[str, float]] = []
        self.max_frames, self.dropped = int(max_frames), 0

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
        frames = self.frames[max(skip - self.dropped, 0):]
        out = {}
        for stage in (*STAGES, "total"):
            values = np.array([sum(f.values()) if stage == "total" else f[stage] for f in frames
                               if stage == "total" or stage in f]) * 1000.0  # fmt: skip
            if values.size:
                out[stage] = {"runs": int(values.size), "median_ms": round(float(np.median(values)), 2),
                              "p95_ms": round(float(np.percentile(values, 95)), 2),
                              "mean_ms_per_frame": round(float(values.sum() / max(len(frames), 1)), 2)}  # fmt: skip
        return out

    def report(self, skip: int = 0) -> str:
        """A small table: each stage's median and 95th percentile per run, and its mean cost per frame."""
        summary = self.summary(skip)
        lines = [f"latency over {len(self.frames) - max(skip - self.dropped, 0)} frames (ms)", f"{'stage':<10}{'runs':>7}{'median':>9}"
                 f"{'p95':>9}{'per frame':>11}"]  # fmt: skip
        for stage, s in summary.items():
            lines.append(f"{stage:<10}{s['runs']:>7}{s['median_ms']:>9.2f}{s['p95_ms']:>9.2f}{s['mean_ms_per_frame']:>11.2f}")
        return "\n".join(lines)


class StreamingRecognizer:
    """Windowed action recognition over a stream of RGB frames (see the module docstring)."""

    def __init__(self, model: WindowModel, estimator: PoseEstimator, stride: int = 5, smoothing: float = 0.0,
                 embed_every: int = 1, fps: float = 30.0, use_frames: bool = True, history: int = 10_000):  # fmt: skip
        if not isinstance(stride, (int, np.integer)) or stride < 1:
            raise InvalidInputError(f"stride must be a positive number of frames, got {stride!r}")
        if not 0.0 <= float(smoothing) < 1.0:
            raise InvalidInputError(f"smoothing must be in [0, 1) (0 = none), got {smoothing!r}")
        if not isinstance(embed_every, (int, np.integer)) or embed_every < 1:
            raise InvalidInputError(f"embed_every must be a positive integer, got {embed_every!r}")
        self.model, self.estimator = model, estimator
        self.stride, self.smoothing, self.embed_every = int(stride), float(smoothing), int(embed_every)
        self.fps = float(fps) if fps and fps > 0 else 30.0
        self.history = int(history)
        self.use_frames = bool(use_frames) and model.takes_frames
        self._estimator_joints = get_layout(estimator.layout).num_joints
        self._convert = get_layout(estimator.layout).name != get_layout(model.layout).name
        if self._convert:  # fail now, not at the first frame, when the layouts cannot be converted
            convert_pose(np.zeros((self._estimator_joints, 3)), estimator.layout, model.layout, allow_missing=True)
        self.latency = LatencyRecorder()
        model.warm_up()
        self.reset()

    def reset(self) -> None:
        """Start a new stream (clears the buffer, the smoothing, the estimator's track; keeps the latency)."""
        T = self.model.num_frames
        self._poses: deque = deque(maxlen=T)
        self._embeddings: dict[int, np.ndarray] = {}
        self._letterbox: Letterbox | None = None
        self._smoothed: np.ndarray | None = None
        self._last_square: tuple[int, np.ndarray, np.ndarray] | None = None
        self.frames_seen, self.windows, self.empty_windows = 0, [], []
        self.estimator.reset()

    # --- one frame ---------------------------------------------------------------------------------

    def push(self, frame: np.ndarray, decode_seconds: float | None = None) -> FrameResult:
        """Take the next RGB frame (uint8 ``(H, W, 3)``, the same size as the stream's first)."""
        self.latency.start_frame()
        if decode_seconds is not None:
            self.latency.add("decode", decode_seconds)
        n = self.frames_seen
        if self._letterbox is None:
            self._letterbox = Letterbox.for_frame(frame, self.model.frame_size)
        start = time.perf_counter()
        people = self.estimator(frame)
        person = main_person(people, self._estimator_joints)
        pose = convert_pose(person, self.estimator.layout, self.model.layout, allow_missing=True) if self._convert \
            else person  # fmt: skip
        square_pose = self._letterbox.to_square(pose)
        self.latency.add("pose", time.perf_counter() - start)
        if self.use_frames and self._wanted(n):
            start = time.perf_counter()
            square = self._letterbox.apply(frame)
            self._embeddings[n] = self.model.embed(square, square_pose)
            self._last_square = (n, square, square_pose)
            self.latency.add("embed", time.perf_counter() - start)
        self._poses.append(square_pose)
        self.frames_seen += 1
        window = None
        T = self.model.num_frames
        if n >= T - 1 and (n - (T - 1)) % self.stride == 0:
            window = self._classify(n - T + 1, padded=False)
        self._forget(n - T + 3 - self.embed_every)  # what the next window (start n - T + 2) may still use
        return FrameResult(n, person, window)

    def flush(self) -> WindowResult | None:
        """For a stream that ended before T frames: one window over what came (see the module docstring)."""
        if self.windows or self.empty_windows or self.frames_seen == 0:
            return None
        while len(self._poses) < self.model.num_frames:
            self._poses.append(np.zeros_like(self._poses[-1]))
        return self._classify(0, padded=True)

    # --- helpers -----------------------------------------------------------------------------------

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
        probabilities = np.asarray(self.model.classify(poses, features), np.float32)
        if self.smoothing and self._smoothed is not None:
            probabilities = self.smoothing * self._smoothed + (1.0 - self.smoothing) * probabilities
        self._smoothed = probabilities
        end = start + self.model.num_frames - 1 if not padded else self.frames_seen - 1
        window = WindowResult(start, end, start / self.fps, (end + 1) / self.fps, probabilities,
                              self.model.class_names, padded)  # fmt: skip
        self.windows.append(window)
        if len(self.windows) > self.history:
            del self.windows[: len(self.windows) - self.history]
        self.latency.add("classify", time.perf_counter() - began)
        return window

    def _forget(self, before: int) -> None:
        for n in [n for n in self._embeddings if n < before]:
            del self._embeddings[n]

    # --- a whole source ----------------------------------------------------------------------------

    def frames(self, source: str | int | os.PathLike, max_frames: int | None = None) -> Iterator[tuple[np.ndarray, FrameResult]]:
        """Run over a video file, webcam index or stream URL: ``(frame, FrameResult)`` per frame, and a
        final flush for a short stream (its window is in :attr:`windows`)."""
        self.reset()
        with VideoReader(source, max_frames=max_frames) as reader:
            self.fps = reader.info.fps
            while True:
                start = time.perf_counter()
                frame = reader.read()
                if frame is None:
                    break
                yield frame, self.push(frame, decode_seconds=time.perf_counter() - start)
        self.flush()

    def run(self, source: str | int | os.PathLike, max_frames: int | None = None,
            on_frame: Callable[[np.ndarray, FrameResult], None] | None = None) -> list[WindowResult]:  # fmt: skip
        """Every window of a source (see :meth:`frames`); ``on_frame`` sees each frame and its result."""
        for frame, result in self.frames(source, max_frames):
            if on_frame is not None:
                on_frame(frame, result)
        return list(self.windows)
