"""The image feature cache: computed once, reused, and recomputed whenever what it depends on changes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from har_tf.data.feature_cache import cached_frame_features
from har_tf.data.frames import encode_jpeg, frame_indices
from har_tf.data.pose_npz import PoseDataset
from har_tf.errors import InvalidInputError
from tests.helpers import random_pixel_pose

F, SIZE = 2, 32


class CountingEncoder:
    """Stands in for the frozen backbone: mean colour per frame, and counts the frames it saw."""

    def __init__(self):
        self.frames_seen = 0

    def predict(self, frames, verbose=0):
        self.frames_seen += frames.shape[0] * frames.shape[1]
        return frames.reshape(*frames.shape[:2], -1, 3).mean(2).astype(np.float32)


def _dataset(seed=0, n=(5, 3)):
    rng = np.random.default_rng(seed)
    extras = {"frame_indices": frame_indices(6, F), "image_size": np.array([SIZE, SIZE])}
    arrays = {}
    for split, count in zip(("train", "test"), n):
        arrays[f"x_{split}"] = np.stack([random_pixel_pose("coco17", frames=6, seed=i) for i in range(count)])
        arrays[f"y_{split}"] = np.arange(count) % 2
        frames = rng.integers(0, 256, (count * F, SIZE, SIZE, 3)).astype(np.uint8)
        extras[f"frames_{split}_jpeg"], extras[f"frames_{split}_offsets"] = encode_jpeg(frames)
    return PoseDataset(class_names=["a", "b"], layout="coco17", extras=extras, **arrays)


KEY = {"backbone": "counting", "image_size": SIZE}


def test_features_are_computed_once_then_read_back(tmp_path):
    dataset, encoder = _dataset(), CountingEncoder()
    features, path, cached = cached_frame_features(dataset, encoder, KEY, tmp_path, show_progress=False)
    assert not cached and path.is_file() and encoder.frames_seen == 8 * F
    assert features["train"].shape == (5, F, 3) and features["test"].shape == (3, F, 3)
    again, path2, cached2 = cached_frame_features(dataset, encoder, KEY, tmp_path, show_progress=False)
    assert cached2 and path2 == path and encoder.frames_seen == 8 * F, "the encoder ran again"
    for split in features:
        np.testing.assert_array_equal(again[split], features[split])
    # JPEG frames decoded: the mean colour is close to (not equal to) the original frames'
    assert np.all(np.abs(features["train"] - 127.5) < 20)


@pytest.mark.parametrize("change", ["encoder", "frames"])
def test_a_changed_key_computes_a_new_file(tmp_path, change):
    encoder = CountingEncoder()
    _, first, _ = cached_frame_features(_dataset(), encoder, KEY, tmp_path, show_progress=False)
    dataset, key = (_dataset(), {**KEY, "image_size": 64}) if change == "encoder" else (_dataset(seed=1), KEY)
    _, second, cached = cached_frame_features(dataset, encoder, key, tmp_path, show_progress=False)
    assert not cached and second != first and first.is_file() and encoder.frames_seen == 2 * 8 * F


def test_a_corrupt_cache_file_is_recomputed(tmp_path):
    encoder = CountingEncoder()
    _, path, _ = cached_frame_features(_dataset(), encoder, KEY, tmp_path, show_progress=False)
    path.write_bytes(b"not a zip")
    features, path2, cached = cached_frame_features(_dataset(), encoder, KEY, tmp_path, show_progress=False)
    assert not cached and path2 == path and features["test"].shape == (3, F, 3)


def test_features_carried_by_the_dataset_must_match_the_encoder(tmp_path):
    dataset = _dataset()
    dataset.extras["feature_key"] = np.asarray(json.dumps({"backbone": "other"}))
    with pytest.raises(InvalidInputError, match="carries features made by"):
        cached_frame_features(dataset, CountingEncoder(), KEY, tmp_path, show_progress=False)


def test_pose_only_data_is_a_clear_error(tmp_path):
    x = np.stack([random_pixel_pose("coco17", frames=6, seed=i) for i in range(2)])
    with pytest.raises(InvalidInputError, match="has no RGB frames"):
        cached_frame_features(
            PoseDataset(x, np.array([0, 1]), ["a", "b"], "coco17"),
            CountingEncoder(),
            KEY,
            tmp_path,
            show_progress=False,
        )


# A child process that computes the cache and SIGKILLs itself at one point: while the backbone runs
# (after its first batch) or while the file is being written (after the bytes, before the rename).
_KILLED_CHILD = """
import os, signal, sys
from har_tf.data import feature_cache
from tests.data.test_feature_cache import KEY, CountingEncoder, _dataset

class DiesOnSecondBatch(CountingEncoder):
    def predict(self, frames, verbose=0):
        if self.frames_seen:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().predict(frames, verbose)

if sys.argv[1] == "computing":
    encoder = DiesOnSecondBatch()
else:
    encoder = CountingEncoder()
    os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
feature_cache.cached_frame_features(_dataset(), encoder, KEY, sys.argv[2], batch_size=2, show_progress=False)
"""


@pytest.mark.parametrize("moment", ["computing", "writing"])
def test_a_run_killed_while_caching_leaves_nothing_that_is_read_back(tmp_path, moment):
    import subprocess
    import sys

    from tests.helpers import REPO_ROOT

    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_CHILD, moment, str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, f"the child was not killed (exit {killed.returncode}):\n{killed.stderr[-2000:]}"
    assert not list(tmp_path.glob("features-*.npz")), "a killed run left a cache file"
    if moment == "writing":  # the bytes were written: only the temporary file is there
        assert len(list(tmp_path.glob(".features-*.tmp"))) == 1
    encoder = CountingEncoder()
    features, path, cached = cached_frame_features(_dataset(), encoder, KEY, tmp_path, show_progress=False)
    assert not cached and path.is_file() and encoder.frames_seen == 8 * F, "the rerun must compute every frame"
    clean, _, _ = cached_frame_features(_dataset(), CountingEncoder(), KEY, tmp_path / "clean", show_progress=False)
    for split in clean:
        np.testing.assert_array_equal(features[split], clean[split])
