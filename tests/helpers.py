"""Helpers the tests import (conftest.py holds only fixtures and hooks): paths, data makers, subprocess
runners, the tiny export models' sizes, and the model test routines in the keras-hub manner
(:func:`run_backbone_test`, :func:`run_model_saving_test`)."""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
METRICS_KEYS = {
    "accuracy",
    "balanced_accuracy",
    "macro_precision",
    "macro_recall",
    "macro_f1",
    "top_k_accuracy",
    "num_test",
    "class_names",
}
"""The keys every metrics.json has."""
SHARED_DIR = Path(os.environ.get("HAR_TF_SHARED_DIR", REPO_ROOT.parent / "shared"))
"""The real data and models (../shared unless HAR_TF_SHARED_DIR says otherwise)."""


def shared_file(shared_dir: Path, relative: str) -> Path:
    """A file or folder under ../shared, or skip naming what is missing."""
    path = shared_dir / relative
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data folder")
    return path


def random_pixel_pose(
    layout, frames: int = 12, channels: int = 3, seed: int = 0, missing: float = 0.15, keep_garbage: bool = True
):
    """Pixel poses (T, J, C) with some missing joints.

    With C = 3 a missing joint has confidence 0 and, when ``keep_garbage``, junk coordinates (as in
    real OpenPose output); otherwise, and always with C = 2, it is all zeros.
    """
    import numpy as np

    from har_tf.skeleton.layouts import get_layout

    rng = np.random.default_rng(seed)
    num_joints = get_layout(layout).num_joints
    pose = rng.uniform(200.0, 900.0, (frames, num_joints, 3)).astype(np.float32)
    pose[..., 2] = rng.uniform(0.2, 1.0, (frames, num_joints))
    gone = rng.uniform(size=(frames, num_joints)) < missing
    pose[gone, 2] = 0.0
    if channels == 2 or not keep_garbage:
        pose[gone, :2] = 0.0
    return pose if channels == 3 else pose[..., :2].copy()


def run_script(name: str, *args: str, timeout: int = 600):
    """Run ``scripts/<name>`` as a user would: a subprocess from the repository root."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO_ROOT,
    )


def kill_when(command: list[str], ready, env: dict | None = None, timeout: float = 300.0) -> None:
    """Start ``command`` from the repository root and SIGKILL it as soon as ``ready()`` holds (polled every
    20 ms); the test fails if the command ends first or the moment never comes."""
    import signal
    import subprocess
    import time

    env = {**(env or os.environ), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                pytest.fail(
                    f"the command ended (exit {proc.returncode}) before the kill point:\n"
                    f"{proc.stderr.read().decode()[-2000:]}"
                )
            if time.monotonic() > deadline:
                pytest.fail("the kill point never came")
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


# --- small trained-looking models for the export and inference tests ------------------------------
EXPORT_T, EXPORT_F, EXPORT_SIZE, EXPORT_CLASSES = 8, 3, 48, ("walk", "fall", "drink", "wave")


def sharpen(dense_layer, factor: float = 25.0) -> None:
    """Scale a softmax layer's kernel so that random-weight models give decided answers (a margin
    between the top classes, as a trained model has), which makes top-1 parity meaningful."""
    kernel, bias = dense_layer.get_weights()
    dense_layer.set_weights([kernel * factor, bias])


def export_inputs(n: int = 24, seed: int = 0, frames: bool = True) -> dict:
    """Raw pixel poses (COCO-17, T = 8, some joints missing) and uint8 frames for the tiny models."""
    import numpy as np

    rng = np.random.default_rng(seed)
    pose = rng.uniform(4, EXPORT_SIZE - 4, (n, EXPORT_T, 17, 3)).astype(np.float32)
    pose[..., 2] = rng.uniform(0.3, 1.0, (n, EXPORT_T, 17))
    pose[rng.uniform(size=(n, EXPORT_T, 17)) < 0.1] = 0.0
    out = {"pose": pose}
    if frames:
        out["frames"] = rng.integers(0, 256, (n, EXPORT_F, EXPORT_SIZE, EXPORT_SIZE, 3)).astype(np.uint8)
    return out


# --- model tests, in the keras-hub manner --------------------------------------------------------


def _shapes(structure):
    import keras

    return keras.tree.map_structure(lambda x: tuple(x.shape), structure)


def run_backbone_test(cls, init_kwargs: dict, input_data, expected_output_shape, call_kwargs: dict | None = None):
    """Build ``cls(**init_kwargs)`` and check: a call on ``input_data`` gives ``expected_output_shape`` (a tuple,
    or a dict of them for a dict output), the config survives a trip through JSON and ``cls.from_config`` of
    it builds a model with the same config and the same number of parameters. Returns the model."""
    model = cls(**init_kwargs)
    output = model(input_data, **(call_kwargs or {}))
    expected = expected_output_shape
    if isinstance(expected, dict):
        expected = {key: tuple(shape) for key, shape in expected.items()}
    else:
        expected = tuple(expected)
    assert _shapes(output) == expected
    config = json.loads(json.dumps(model.get_config()))
    clone = cls.from_config(config)
    assert type(clone) is cls
    assert json.loads(json.dumps(clone.get_config())) == config
    assert clone.count_params() == model.count_params()
    return model


def run_model_saving_test(model, input_data, tmp_path: Path, name: str = "model.keras", expected=None):
    """Save ``model`` to a ``.keras`` file, load it with ``safe_mode=True`` and check that the loaded model
    is of the same type and gives identical outputs on ``input_data`` (``expected``: the outputs, when
    already computed). Returns the loaded model."""
    import keras

    if expected is None:
        expected = model.predict(input_data, verbose=0)
    path = Path(tmp_path) / name
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded) is type(model)
    outputs = loaded.predict(input_data, verbose=0)
    assert _shapes(outputs) == _shapes(expected)
    keras.tree.map_structure(np.testing.assert_array_equal, outputs, expected)
    return loaded


def weight_layout(model) -> dict:
    """``{dataset path: shape}`` of the weights file inside the model's ``.keras`` file: what loading reads."""
    import h5py

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.keras"
        model.save(path)
        with zipfile.ZipFile(path) as archive:
            archive.extract("model.weights.h5", tmp)
        layout = {}
        with h5py.File(Path(tmp) / "model.weights.h5") as h5:
            h5.visititems(lambda name, obj: layout.update({name: list(obj.shape)}) if hasattr(obj, "shape") else None)
    return layout


# --- TFLite flatbuffers ----------------------------------------------------------------------------
FLEX_OR_CUSTOM = 32  # BuiltinOperator.CUSTOM: Flex (Select TF) ops are custom ops


def operator_codes(content: bytes) -> set[int]:
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    return {max(code.builtinCode, code.deprecatedBuiltinCode) for code in model.operatorCodes}


# --- the pose + objects fusion export ---------------------------------------------------------------
OBJECT_SLOTS, OBJECT_CLASSES = 3, ("none", "cup", "phone", "book")


def objects_for(n: int, seed: int = 0) -> np.ndarray:
    """Raw detections (n, T, K, 6) in the tiny models' 48 px frames; about a third of the slots empty."""
    rng = np.random.default_rng(seed)
    x1, y1 = rng.uniform(0, EXPORT_SIZE - 12, (2, n, EXPORT_T, OBJECT_SLOTS))
    w, h = rng.uniform(2, 10, (2, n, EXPORT_T, OBJECT_SLOTS))
    objects = np.stack(
        [
            rng.integers(1, len(OBJECT_CLASSES), (n, EXPORT_T, OBJECT_SLOTS)).astype(np.float32),
            x1,
            y1,
            x1 + w,
            y1 + h,
            rng.uniform(0.3, 1.0, (n, EXPORT_T, OBJECT_SLOTS)),
        ],
        -1,
    )
    objects[rng.random((n, EXPORT_T, OBJECT_SLOTS)) < 0.35] = 0.0
    return objects.astype(np.float32)


def objects_export_inputs(spec, n: int, seed: int) -> dict:
    """Poses, objects and, for a model with an image branch, frames."""
    return {**export_inputs(n=n, seed=seed, frames=spec.frames_shape is not None), "objects": objects_for(n, seed)}


def objects_fusion_model(image: bool):
    """A residual fusion model (the micro pose backbone; MobileNetV3-Small on 48 px hand crops for the
    image branch, the cheapest backbone to trace and convert) with decided answers."""
    import keras

    from har_tf.models import FrameEncoder, MultiModalFusionModel, PoseFormerFactorized
    from har_tf.models.object_encoder import ObjectEncoder

    keras.utils.set_random_seed(5 if image else 4)
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=EXPORT_T)
    frames = None
    if image:
        frames = FrameEncoder(
            num_frames=EXPORT_F,
            frame_size=EXPORT_SIZE,
            backbone="mobilenet_v3_small",
            image_size=EXPORT_SIZE,
            weights=None,
            crop="hands",
        )
    objects = ObjectEncoder.from_preset(
        "micro", num_frames=EXPORT_T, max_objects=OBJECT_SLOTS, class_names=OBJECT_CLASSES
    )
    model = MultiModalFusionModel(
        backbone, frames, len(EXPORT_CLASSES), class_names=EXPORT_CLASSES, fusion="residual", object_encoder=objects
    )
    sharpen(model.head.get_layer("pose_logits"), 5.0)
    for name in ("objects_correction",) + (("image_correction",) if image else ()):
        sharpen(model.head.get_layer(name))  # the corrections move the answer well away from the pose branch's
    return model


# --- streaming: a scripted pose estimator and a video's frames ----------------------------------------
STREAM_HEIGHT, STREAM_WIDTH, STREAM_FRAMES = 60, 90, 21


def stream_frames(count: int = STREAM_FRAMES) -> np.ndarray:
    """``count`` seeded uint8 frames of the scripted video (STREAM_HEIGHT x STREAM_WIDTH)."""
    return np.random.default_rng(5).integers(0, 256, (count, STREAM_HEIGHT, STREAM_WIDTH, 3), dtype=np.uint8)


def _scripted_estimator_class():
    from har_tf.inference.pose.base import PoseEstimator

    class ScriptedEstimator(PoseEstimator):
        """Frame n: a person with seeded COCO-17 joints in the frame's middle; every seventh frame nobody."""

        layout = "coco17"

        def __init__(self):
            self.calls = 0

        def reset(self) -> None:
            self.calls = 0

        def estimate(self, frame):
            rng = np.random.default_rng(self.calls)
            self.calls += 1
            if self.calls % 7 == 0:
                return np.zeros((0, 17, 3), np.float32)
            kp = np.stack([rng.uniform(30, 60, 17), rng.uniform(10, 50, 17), rng.uniform(0.3, 1, 17)], -1)
            return kp[None].astype(np.float32)

    return ScriptedEstimator


_LAZY = {"ScriptedEstimator": _scripted_estimator_class}
"""Names built on first use, so that importing this module does not import TensorFlow."""


def __getattr__(name: str):
    if name in _LAZY:
        value = globals()[name] = _LAZY[name]()
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
