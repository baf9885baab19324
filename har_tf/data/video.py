"""Reading video (files, webcams, RTSP streams) through OpenCV, and the square letterbox the models see.

- :class:`VideoReader`: RGB uint8 frames from a file path, a webcam index (``0`` or ``"0"``) or a
  stream URL (``rtsp://``, ``http://``), with clear errors for a missing file, a file OpenCV cannot
  decode, a still image (a PNG, JPEG, ... even under a video name) and a video with fewer than
  ``MIN_VIDEO_FRAMES`` (2) frames: a still image is not a video.
- :class:`Letterbox`: a frame of any size scaled into a ``size`` x ``size`` square with grey bars
  (the aspect ratio kept), and keypoints mapped between the video's pixels and the square's. The
  multimodal models take square frames (the synthetic data's 224 x 224) with the pose in the same
  pixels, so a real video goes through one letterbox for both.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError

PAD_VALUE = 114  # the grey of the letterbox bars (the YOLO / MoveNet convention)
MIN_VIDEO_FRAMES = 2  # fewer decodable frames: a still image, not a video
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)


def _is_stream(source: str) -> bool:
    return "://" in source


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What OpenCV says about a source: size in pixels, frames per second, frame count (0 = unknown)."""

    source: str
    width: int
    height: int
    fps: float
    frame_count: int


class VideoReader:
    """RGB uint8 ``(H, W, 3)`` frames of a video file, a webcam index or a stream URL.

    Use as an iterator (``for frame in VideoReader(path)``) or call :meth:`read` for one frame.
    Opening checks that the source exists and yields at least ``MIN_VIDEO_FRAMES`` frames: a missing
    file raises :class:`~har_tf.errors.MissingFileError`; a file OpenCV cannot decode, a still image
    and a video of fewer frames :class:`~har_tf.errors.DataFormatError`. ``max_frames`` (None: every
    frame) must be a positive whole number.
    """

    def __init__(self, source: str | int | os.PathLike, max_frames: int | None = None):
        if max_frames is not None and (
            isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer)) or max_frames < 1
        ):
            raise InvalidInputError(
                f"max_frames must be a positive whole number of frames (or None for every frame), got {max_frames!r}"
            )
        self.source = str(source)
        index = int(self.source) if self.source.isdigit() else None
        if index is None and not _is_stream(self.source):
            path = Path(self.source)
            if not path.exists():
                raise MissingFileError(f"no such video file: {path}")
            if not path.is_file():
                raise InvalidInputError(f"expected a video file, got a directory: {path}")
            if path.stat().st_size == 0:
                raise DataFormatError(f"the video file is empty (0 bytes): {path}")
        image = None if index is not None or _is_stream(self.source) else _image_kind(Path(self.source))
        self._capture = cv2.VideoCapture(index if index is not None else self.source)
        if not self._capture.isOpened() and image is not None:
            raise _still_image(self.source, image)
        if not self._capture.isOpened():
            what = f"webcam {index}" if index is not None else self.source
            raise DataFormatError(
                f"OpenCV could not open {what}: not a readable video (corrupt file, unknown codec "
                "or unreachable stream)"
            )
        self._pending: list[np.ndarray] = []  # frames read at opening, not yet returned
        while len(self._pending) < MIN_VIDEO_FRAMES:
            ok, frame = self._capture.read()
            if not ok or frame is None:
                break
            self._pending.append(frame)
        if not self._pending:
            self._capture.release()
            raise DataFormatError(f"the video {self.source} has no decodable frames (zero frames or a corrupt stream)")
        if len(self._pending) < MIN_VIDEO_FRAMES:
            self._capture.release()
            if image is not None:
                raise _still_image(self.source, image)
            raise DataFormatError(
                f"{self.source} has only {len(self._pending)} decodable frame (a still image?), "
                f"not a video: a video needs at least {MIN_VIDEO_FRAMES} frames"
            )
        first = self._pending[0]
        self.max_frames = max_frames
        self.frames_read = 0
        fps = float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.info = VideoInfo(
            self.source, int(first.shape[1]), int(first.shape[0]), fps if 0 < fps < 1000 else 30.0, max(count, 0)
        )

    def read(self) -> np.ndarray | None:
        """The next RGB frame, or None at the end of the video (or after ``max_frames``)."""
        if self.max_frames is not None and self.frames_read >= self.max_frames:
            return None
        if self._pending:
            frame = self._pending.pop(0)
        else:
            ok, frame = self._capture.read()
            if not ok or frame is None:
                return None
        self.frames_read += 1
        if frame.ndim == 2:
            return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def __iter__(self) -> Iterator[np.ndarray]:
        while (frame := self.read()) is not None:
            yield frame

    def close(self) -> None:
        self._capture.release()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _still_image(source: str, kind: str) -> DataFormatError:
    return DataFormatError(
        f"{source} is a {kind} image, not a video: give a video file (.mp4, .avi, ...) of at "
        f"least {MIN_VIDEO_FRAMES} frames"
    )


def _image_kind(path: Path) -> str | None:
    """The still-image format of a file by its first bytes (PNG, JPEG, BMP, TIFF, WebP), or None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for signature, kind in _IMAGE_SIGNATURES if head.startswith(signature)), None)


def read_video(source: str | os.PathLike, max_frames: int | None = None) -> tuple[np.ndarray, VideoInfo]:
    """All frames of a (short) video as uint8 ``(N, H, W, 3)`` RGB, with its :class:`VideoInfo`."""
    with VideoReader(source, max_frames=max_frames) as reader:
        frames = list(reader)
        return np.stack(frames), reader.info


@dataclasses.dataclass(frozen=True)
class Letterbox:
    """Scale a ``width`` x ``height`` frame into a ``size`` x ``size`` square, centred, grey bars around it."""

    width: int
    height: int
    size: int

    def __post_init__(self) -> None:
        if min(self.width, self.height, self.size) < 1:
            raise InvalidInputError(f"letterbox sizes must be positive, got {self.width}x{self.height} -> {self.size}")

    @property
    def scaled_size(self) -> tuple[int, int]:
        """(width, height) of the frame once scaled into the square."""
        scale = self.size / max(self.width, self.height)
        return max(1, round(self.width * scale)), max(1, round(self.height * scale))

    @property
    def scale(self) -> tuple[float, float]:
        """(x, y) scale factors from the video's pixels to the square's."""
        new_w, new_h = self.scaled_size
        return new_w / self.width, new_h / self.height

    @property
    def offset(self) -> tuple[int, int]:
        """(x, y) of the scaled frame's top-left corner inside the square."""
        new_w, new_h = self.scaled_size
        return (self.size - new_w) // 2, (self.size - new_h) // 2

    @classmethod
    def for_frame(cls, frame: np.ndarray, size: int) -> Letterbox:
        return cls(int(frame.shape[1]), int(frame.shape[0]), int(size))

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """The square uint8 image ``(size, size, 3)`` of an RGB frame ``(height, width, 3)``."""
        if frame.shape[:2] != (self.height, self.width):
            raise InvalidInputError(
                f"expected a frame of {self.height}x{self.width} pixels (as the video's first "
                f"frame), got {frame.shape[0]}x{frame.shape[1]}"
            )
        (new_w, new_h), (x0, y0) = self.scaled_size, self.offset
        interpolation = cv2.INTER_AREA if new_w < self.width else cv2.INTER_LINEAR
        resized = cv2.resize(frame, (new_w, new_h), interpolation=interpolation)
        out = np.full((self.size, self.size, 3), PAD_VALUE, np.uint8)
        out[y0 : y0 + new_h, x0 : x0 + new_w] = resized
        return out

    def to_square(self, keypoints: np.ndarray) -> np.ndarray:
        """Keypoints ``(..., 2 or 3)`` in the video's pixels -> the square's pixels (missing joints stay 0)."""
        return self._map(keypoints, self.scale, self.offset, forward=True)

    def to_video(self, keypoints: np.ndarray) -> np.ndarray:
        """Keypoints in the square's pixels -> the video's pixels (missing joints stay 0)."""
        return self._map(keypoints, self.scale, self.offset, forward=False)

    @staticmethod
    def _map(keypoints, scale: tuple[float, float], offset: tuple[int, int], forward: bool) -> np.ndarray:
        kp = np.array(keypoints, dtype=np.float32, copy=True)
        missing = (kp[..., 2] <= 0) if kp.shape[-1] > 2 else ~np.any(kp[..., :2] != 0, axis=-1)
        factor, shift = np.asarray(scale, np.float32), np.asarray(offset, np.float32)
        kp[..., :2] = kp[..., :2] * factor + shift if forward else (kp[..., :2] - shift) / factor
        kp[missing] = 0.0
        return kp
