"""Annotated video: the skeleton and the current top actions drawn on each frame, written atomically.

- :func:`annotate_frame`: a copy of an RGB frame with the person's skeleton, a panel of the top-k
  actions and their probabilities (bars), sized to the frame, and optionally the object boxes the
  model used, with their class names (:func:`draw_objects`).
- :class:`AnnotatedVideoWriter`: RGB frames into an ``.mp4`` (``mp4v``) or ``.avi`` (``MJPG``) file
  of the input's size and frame rate; it writes to a hidden temporary file beside the target and
  renames it into place only on :meth:`~AnnotatedVideoWriter.close`, so an interrupted run never
  leaves a half-written video under the final name (and never replaces an earlier good one).
- :func:`write_timeline`: the per-window timeline as JSON (atomic); :class:`TimelineWriter` writes the
  same file from windows as they come, spooled to disk, so memory stays flat on an endless stream.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import deque
from pathlib import Path

import cv2
import numpy as np

from har_tf.errors import InvalidInputError
from har_tf.inference.results import ClassScores
from har_tf.io import atomic_write
from har_tf.skeleton.drawing import draw_skeleton

CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}
PANEL_RGB, TEXT_RGB, BAR_RGB, OBJECT_RGB = (20, 20, 20), (255, 255, 255), (0, 200, 120), (255, 170, 0)


def annotate_frame(
    frame: np.ndarray,
    pose: np.ndarray | None,
    layout: str,
    scores: ClassScores | None,
    caption: str | None = None,
    objects: np.ndarray | None = None,
    object_classes=None,
) -> np.ndarray:
    """The frame with ``pose`` (``(J, 3)`` in its pixels) drawn, ``scores`` listed top-left and, when given,
    the ``objects`` (rows ``[class_id, x1, y1, x2, y2, score]`` in its pixels) boxed and named by
    ``object_classes``."""
    height, width = frame.shape[:2]
    unit = max(min(height, width) / 480.0, 0.5)
    out = (
        frame
        if pose is None
        else draw_skeleton(frame, pose, layout, min_confidence=0.2, thickness=max(1, round(2 * unit)))
    )
    out = np.ascontiguousarray(out).copy() if out is frame else out
    if objects is not None:
        draw_objects(out, objects, object_classes, unit)
    lines = [] if scores is None else list(zip(scores.class_names, scores.scores))
    if caption:
        lines.insert(0, (caption, None))
    if not lines:
        return out
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.5 * unit, max(1, round(unit))
    line_h = int(22 * unit)
    panel_w = min(width, int(260 * unit))
    panel_h = min(height, line_h * len(lines) + int(8 * unit))
    region = out[:panel_h, :panel_w]
    region[:] = (0.35 * region + 0.65 * np.array(PANEL_RGB)).astype(np.uint8)
    for row, (name, p) in enumerate(lines):
        y = int(8 * unit) + row * line_h
        if p is not None:
            bar = int((panel_w - int(12 * unit)) * float(p))
            cv2.rectangle(out, (int(6 * unit), y + 2), (int(6 * unit) + bar, y + line_h - 4), BAR_RGB, -1)
            text = f"{name} {p:.0%}"
        else:
            text = name
        cv2.putText(out, text, (int(10 * unit), y + line_h - int(8 * unit)), font, scale, TEXT_RGB, thick, cv2.LINE_AA)
    return out


def draw_objects(image: np.ndarray, objects: np.ndarray, class_names=None, unit: float = 1.0) -> np.ndarray:
    """Box and name (with the score) each valid row ``[class_id, x1, y1, x2, y2, score]`` of ``objects``, in place."""
    font, scale, thick = cv2.FONT_HERSHEY_SIMPLEX, 0.4 * unit, max(1, round(unit))
    for row in np.asarray(objects, np.float32).reshape(-1, 6):
        if row[0] < 1 or row[5] <= 0:
            continue
        cls = int(row[0])
        name = class_names[cls] if class_names is not None and cls < len(class_names) else f"class_{cls}"
        x1, y1, x2, y2 = (int(round(float(v))) for v in row[1:5])
        cv2.rectangle(image, (x1, y1), (x2, y2), OBJECT_RGB, max(1, round(2 * unit)))
        cv2.putText(
            image,
            f"{name} {row[5]:.0%}",
            (x1, max(y1 - int(4 * unit), int(10 * unit))),
            font,
            scale,
            OBJECT_RGB,
            thick,
            cv2.LINE_AA,
        )
    return image


class AnnotatedVideoWriter:
    """RGB frames of one size into a video file, renamed into place only when closed without error."""

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int):
        self.path = Path(path)
        codec = CODECS.get(self.path.suffix.lower())
        if codec is None:
            raise InvalidInputError(f"the annotated video must end in {sorted(CODECS)}, got {self.path.name!r}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.size, self.frames_written = (int(width), int(height)), 0
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*codec), float(fps), self.size)
        if not self._writer.isOpened():
            raise InvalidInputError(f"OpenCV cannot write {codec} video to {self._tmp}")

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.size[1], self.size[0], 3) or frame.dtype != np.uint8:
            raise InvalidInputError(
                f"expected uint8 RGB frames of {self.size[1]}x{self.size[0]}, got {frame.dtype} {frame.shape}"
            )
        self._writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the file and move it to its name."""
        self._writer.release()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the partial file (the target, if it existed, is untouched)."""
        self._writer.release()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> AnnotatedVideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_timeline(path: str | os.PathLike, timeline: dict) -> Path:
    """Write a timeline dict (its ``windows`` one per line) as JSON, atomically (see :class:`TimelineWriter`)."""
    writer = TimelineWriter(path)
    for window in timeline.get("windows", []):
        writer.add(window)
    return writer.close({k: v for k, v in timeline.items() if k != "windows"})


class TimelineWriter:
    """The timeline JSON of a stream of any length, built without holding its windows in memory.

    :meth:`add` appends one window (a JSON-ready dict) to a hidden spool file beside ``path`` (``path``
    None: nothing is written, only the first and last few windows are kept for a summary);
    :meth:`close` writes ``{**header, "windows": [...]}`` atomically, one window per line, and removes
    the spool; :meth:`abort` removes it and leaves ``path`` as it was.
    """

    def __init__(self, path: str | os.PathLike | None, keep: int = 3) -> None:
        self.path = None if path is None else Path(path)
        self.count, self.first, self.last = 0, [], deque(maxlen=keep)
        self._keep, self._spool, self._spool_path = keep, None, None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, spool = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".windows", dir=self.path.parent)
            self._spool, self._spool_path = os.fdopen(fd, "w+", encoding="utf-8"), Path(spool)

    def add(self, window: dict) -> None:
        if self._spool is not None:
            self._spool.write(json.dumps(window) + "\n")
        if len(self.first) < self._keep:
            self.first.append(window)
        self.last.append(window)
        self.count += 1

    def summary_windows(self) -> list[dict | None]:
        """The first and last ``keep`` windows, with None between them where some were left out."""
        if self.count <= 2 * self._keep:
            return self.first + list(self.last)[len(self.first) + len(self.last) - self.count :]
        return [*self.first, None, *self.last]

    def close(self, header: dict) -> Path | None:
        if self._spool is None:
            return None
        head = json.dumps(header, indent=2)
        head = head[: head.rfind("}")].rstrip()  # the header object, still open
        self._spool.seek(0)
        with atomic_write(self.path, "w", encoding="utf-8") as out:
            out.write(head + ("," if header else "") + '\n  "windows": [')
            for i, line in enumerate(self._spool):
                out.write(("," if i else "") + "\n    " + line.rstrip("\n"))
            out.write("\n  ]\n}\n" if self.count else "]\n}\n")
        self.abort()
        return self.path

    def abort(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool_path.unlink(missing_ok=True)
            self._spool = None
