"""Shared fixtures: the real data in ../shared (tests that need it skip with a reason when absent)."""

from __future__ import annotations

import os
from pathlib import Path

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
"""The keys every metrics.json has (issue #3)."""
SHARED_DIR = Path(os.environ.get("HAR_TF_SHARED_DIR", REPO_ROOT.parent / "shared"))


def pytest_collection_modifyitems(config, items):
    """Tests marked ``slow`` (minutes each) run only with HAR_TF_SLOW_TESTS=1, to keep the suite under 15 minutes."""
    if os.environ.get("HAR_TF_SLOW_TESTS") == "1":
        return
    skip = pytest.mark.skip(
        reason="slow end-to-end test (up to a few minutes, see the README): set HAR_TF_SLOW_TESTS=1 to run it"
    )
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The ../shared folder of real data and models, or skip when it is absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"real data folder {SHARED_DIR} is absent (set HAR_TF_SHARED_DIR to point at it)")
    return SHARED_DIR


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


def _sharpen(dense_layer, factor: float = 25.0) -> None:
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


@pytest.fixture(scope="session")
def tiny_pose_classifier():
    """A PoseClassifier (PoseFormerFactorized micro with stage 1's default streams, pooling, temporal
    convolution and stream normalisation, COCO-17, T = 8, 4 classes)."""
    import keras

    from har_tf.models import PoseClassifier, PoseFormerFactorized
    from har_tf.training.config import TrainConfig

    keras.utils.set_random_seed(0)  # the same weights in every test process
    defaults = TrainConfig()
    backbone = PoseFormerFactorized.from_preset(
        "micro",
        "coco17",
        num_frames=EXPORT_T,
        streams=defaults.streams,
        pooling=defaults.pooling,
        temporal_kernel=defaults.temporal_kernel,
        stream_norm=defaults.stream_norm,
    )
    model = PoseClassifier(backbone, len(EXPORT_CLASSES), class_names=EXPORT_CLASSES)
    _sharpen(model.get_layer("probabilities"))
    return model


@pytest.fixture(scope="session")
def tiny_fusion_model():
    """A MultiModalFusionModel: the micro pose backbone + EfficientNet-Lite0 on 48 px hand crops, F = 3."""
    import keras

    from har_tf.models import FrameEncoder, MultiModalFusionModel, PoseFormerFactorized

    keras.utils.set_random_seed(1)
    backbone = PoseFormerFactorized.from_preset("micro", "coco17", num_frames=EXPORT_T)
    encoder = FrameEncoder(num_frames=EXPORT_F, frame_size=EXPORT_SIZE, image_size=EXPORT_SIZE, crop="hands")
    model = MultiModalFusionModel(backbone, encoder, len(EXPORT_CLASSES), class_names=EXPORT_CLASSES)
    _sharpen(model.head.get_layer("probabilities"))
    _sharpen(model.head.get_layer("pose_probabilities"))
    return model
