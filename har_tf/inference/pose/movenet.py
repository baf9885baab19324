"""MoveNet SinglePose (Lightning 192 px / Thunder 256 px) from a TFLite file or a TF Hub / Kaggle handle.

The frame is letterboxed into the model's square input (:class:`~har_tf.data.video.Letterbox`, so the
person is not squashed), and the ``(y, x, score)`` outputs, normalised to that square, are mapped back
to the frame's pixels. On a video, :class:`MoveNetEstimator` can follow the person (``track=True``,
the crop-region recipe of the MoveNet tutorial): the next frame is cropped to a square around the
joints found in this one, which keeps a small, far person at a useful size; it falls back to the
whole frame when the person is lost.

Get a model: ``movenet_singlepose_lightning_int8.tflite`` (and fp16/Thunder variants) from Kaggle
Models / TF Hub (``google/movenet/tfLite/singlepose-lightning``), once, with network access; pass
its path. A handle is resolved by ``tensorflow_hub`` into its cache (a download the first time).
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from har_tf.data.video import PAD_VALUE, Letterbox
from har_tf.errors import InvalidInputError, MissingFileError
from har_tf.inference.pose.base import PoseEstimator

MIN_TRACK_SCORE = 0.2  # joints scoring this or more steer the next frame's crop


def resolve_model_file(model: str | os.PathLike, suffix: str = ".tflite") -> Path:
    """A local ``.tflite`` file, a folder holding exactly one, or a TF Hub / Kaggle handle (resolved and
    cached by ``tensorflow_hub``: a download the first time, so not offline)."""
    text = str(model)
    path = Path(text)
    if not path.exists() and ("://" in text or text.startswith(("hub:", "tfhub.dev", "www.kaggle.com"))):
        import tensorflow_hub as hub

        path = Path(hub.resolve(text))
    if path.is_dir():
        found = sorted(path.glob(f"*{suffix}"))
        if len(found) != 1:
            raise MissingFileError(f"expected one {suffix} file in {path}, found {[f.name for f in found]}")
        path = found[0]
    if not path.is_file():
        raise MissingFileError(f"no such model file: {path}")
    return path


def load_interpreter(path: str | os.PathLike, num_threads: int | None = None):
    """A LiteRT interpreter for a ``.tflite`` file, with a clear error for a file that is not one."""
    from ai_edge_litert.interpreter import Interpreter

    try:
        interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise InvalidInputError(f"{path} is not a TFLite model the interpreter can run: {err}") from None
    return interpreter


class MoveNetEstimator(PoseEstimator):
    """MoveNet SinglePose: one person, 17 COCO joints, ``(1, 17, 3)`` per frame (``(0, 17, 3)`` when the
    mean joint score is under ``min_person_score``)."""

    layout = "coco17"

    def __init__(
        self,
        model: str | os.PathLike,
        num_threads: int | None = None,
        track: bool = False,
        min_person_score: float = 0.15,
    ):
        self.path = resolve_model_file(model)
        self.interpreter = load_interpreter(self.path, num_threads)
        inp, out = self.interpreter.get_input_details()[0], self.interpreter.get_output_details()[0]
        if len(inp["shape"]) != 4 or inp["shape"][1] != inp["shape"][2] or tuple(out["shape"][-2:]) != (17, 3):
            raise InvalidInputError(
                f"{self.path} is not a MoveNet SinglePose model: input {inp['shape'].tolist()}, "
                f"output {out['shape'].tolist()} (expected (1, S, S, 3) -> (1, 1, 17, 3))"
            )
        self.input_index, self.output_index = inp["index"], out["index"]
        self.input_size, self.input_dtype = int(inp["shape"][1]), inp["dtype"]
        self.track, self.min_person_score = bool(track), float(min_person_score)
        self._crop: tuple[float, float, float] | None = None  # (x, y, side) of the square crop

    def reset(self) -> None:
        self._crop = None

    def run(self, square: np.ndarray) -> np.ndarray:
        """Raw model output ``(17, 3)`` = ``(y, x, score)`` in [0, 1] for a square uint8 image of the model's size."""
        x = square[None].astype(self.input_dtype)
        self.interpreter.set_tensor(self.input_index, x)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output_index).reshape(17, 3).copy()

    def estimate(self, frame: np.ndarray) -> np.ndarray:
        crop = self._crop if self.track else None
        if crop is None:
            box = Letterbox.for_frame(frame, self.input_size)
            out = self.run(box.apply(frame))
            size = self.input_size
            square = np.stack([out[:, 1] * size, out[:, 0] * size, np.ones(17, np.float32)], axis=-1)
            kp = box.to_video(square)  # (score 1 while mapping, so that no joint counts as missing)
        else:
            x0, y0, side = crop
            matrix = np.float32(
                [
                    [self.input_size / side, 0, -x0 * self.input_size / side],
                    [0, self.input_size / side, -y0 * self.input_size / side],
                ]
            )
            square = cv2.warpAffine(
                frame,
                matrix,
                (self.input_size, self.input_size),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=(PAD_VALUE,) * 3,
            )
            out = self.run(square)
            kp = np.stack([x0 + out[:, 1] * side, y0 + out[:, 0] * side, out[:, 2]], axis=-1)
        kp[:, 2] = out[:, 2]
        kp = kp.astype(np.float32)
        if self.track:
            self._crop = self._next_crop(kp, frame.shape[1], frame.shape[0])
        if float(kp[:, 2].mean()) < self.min_person_score:
            return np.zeros((0, 17, 3), np.float32)
        return kp[None]

    def _next_crop(self, kp: np.ndarray, width: int, height: int) -> tuple[float, float, float] | None:
        good = kp[:, 2] >= MIN_TRACK_SCORE
        if good.sum() < 5:  # lost: the whole frame next time
            return None
        lo, hi = kp[good, :2].min(axis=0), kp[good, :2].max(axis=0)
        side = max(float((hi - lo).max()) * 1.6, 0.25 * max(width, height))
        if side >= max(width, height):
            return None
        cx, cy = (lo + hi) / 2
        return float(cx - side / 2), float(cy - side / 2), side
