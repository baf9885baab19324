"""The motions BODY_25 recordings converted to a pose dataset NPZ (real data, plus small fakes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from har_tf.data.motions import convert_motions
from har_tf.data.pose_npz import load_pose_npz, read_npz
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from tests.helpers import REPO_ROOT, shared_file

MOTIONS = "data/motions_body25/motions_body25.npz"
SCRIPT = REPO_ROOT / "scripts" / "convert_motions.py"


@pytest.fixture(scope="module")
def motions_src(shared_dir) -> Path:
    return shared_file(shared_dir, MOTIONS)


@pytest.fixture(scope="module")
def converted(motions_src, tmp_path_factory):
    out = tmp_path_factory.mktemp("motions") / "motions_pose.npz"
    convert_motions(motions_src, out)
    return load_pose_npz(out), read_npz(motions_src)


def test_real_conversion_shapes_and_classes(converted):
    ds, _ = converted
    assert ds.layout.name == "body25" and ds.num_channels == 3
    assert ds.class_names == ("boxing", "drums", "guitar", "rowing", "violin")
    assert ds.x_train.shape[0] == 1167 and ds.x_test.shape[0] == 305
    assert ds.x_train.shape[1:] == ds.x_test.shape[1:] == (945, 25, 3)  # longest sequence
    assert ds.x_train.dtype == np.float32
    assert sorted(ds.extras) == ["length_test", "length_train", "subject_test", "subject_train"]
    assert all(v.dtype == np.int64 for v in ds.extras.values())
    # split by subject: no subject in both splits
    assert not set(ds.extras["subject_train"].tolist()) & set(ds.extras["subject_test"].tolist())


def test_real_conversion_values(converted):
    ds, src = converted
    lengths = np.diff(src["offsets"])
    split = src["split"]
    for name in ("train", "test"):
        x, y = ds.split(name)
        assert not np.isnan(x).any()
        np.testing.assert_array_equal(ds.extras[f"length_{name}"], lengths[split == name])
        np.testing.assert_array_equal(ds.extras[f"subject_{name}"], src["subject"][split == name])
        np.testing.assert_array_equal(np.asarray(ds.class_names)[y], src["label"][split == name])
        # missing joints are all zeros, present joints have confidence > 0
        missing = x[..., 2] == 0
        assert np.all(x[missing] == 0)
        # real frames hold at least one joint, padding frames are all zeros and only at the end
        real = np.any(x != 0, axis=(2, 3))
        np.testing.assert_array_equal(real, np.arange(x.shape[1])[None] < ds.extras[f"length_{name}"][:, None])
    # the first and the last test sequence match the source frames exactly (joints only, c > 0)
    test_ids = np.flatnonzero(split == "test")
    for row, seq in ((0, test_ids[0]), (-1, test_ids[-1])):
        frames = src["frames"][src["offsets"][seq] : src["offsets"][seq + 1], :75].reshape(-1, 25, 3)
        frames = np.where(frames[..., 2:] > 0, frames, 0)
        np.testing.assert_array_equal(ds.x_test[row, : len(frames)], frames)
    assert (ds.x_train[..., 2] == 0).mean() > 0.3  # seated people: legs and feet are missing


def test_max_frames_centre_crop(motions_src, tmp_path):
    ds = convert_motions(motions_src, None, max_frames=100)
    src = read_npz(motions_src)
    seq = int(np.argmax(np.diff(src["offsets"])))  # the longest (945 frames)
    row = int(np.sum(src["split"][:seq] == src["split"][seq]))
    x = ds.split(str(src["split"][seq]))[0][row]
    start = src["offsets"][seq] + (945 - 100) // 2
    expected = src["frames"][start : start + 100, :75].reshape(-1, 25, 3)
    np.testing.assert_array_equal(x, np.where(expected[..., 2:] > 0, expected, 0))
    assert ds.x_train.shape[1] == 100 and ds.extras["length_train"].max() == 100
    assert not list(tmp_path.iterdir())  # out_npz=None writes nothing


def test_cli(motions_src, tmp_path):
    out = tmp_path / "m64.npz"
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(motions_src), "--out", str(out), "--max-frames", "64"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "boxing" in run.stdout and "T=64" in run.stdout and " s" in run.stdout
    assert load_pose_npz(out).x_test.shape == (305, 64, 25, 3)


def test_cli_error_is_one_line(tmp_path):
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "absent.npz"), "--out", str(tmp_path / "o.npz")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    # TensorFlow prints start-up lines on import; the user-facing error is the last line.
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "absent.npz" in last
    assert "Traceback" not in run.stderr


# --- small fake sources --------------------------------------------------------------------------
def _fake(tmp_path, **overrides) -> Path:
    frames = np.arange(10 * 79, dtype=np.float32).reshape(10, 79)
    frames[:, 2:75:3] = 1.0
    frames[3, 2] = 0.0  # joint 0 of frame 3 missing, with garbage coordinates
    arrays = {
        "frames": frames,
        "offsets": np.array([0, 3, 7, 10]),
        "split": np.array(["train", "test", "train"]),
        "label": np.array(["zeta", "alpha", "alpha"]),
        "subject": np.array([1, 2, 1]),
        "repetition": np.array([1, 1, 2]),
    }
    arrays.update(overrides)
    path = tmp_path / "fake.npz"
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_fake_source(tmp_path):
    ds = convert_motions(_fake(tmp_path), tmp_path / "out.npz")
    assert ds.class_names == ("alpha", "zeta")
    assert ds.y_train.tolist() == [1, 0] and ds.y_test.tolist() == [0]
    assert ds.x_train.shape == (2, 4, 25, 3)  # padded to the longest (4 frames)
    assert ds.extras["length_train"].tolist() == [3, 3]
    assert np.all(ds.x_test[0, 0, 0] == 0)  # frame 3 = test sequence's frame 0, joint 0 missing
    np.testing.assert_array_equal(ds.x_train[0, :3, 1, :2], [[3, 4], [82, 83], [161, 162]])
    assert np.all(ds.x_train[:, 3] == 0)
    cropped = convert_motions(_fake(tmp_path), None, max_frames=2)
    # test sequence has 4 frames (3..6): centre crop keeps frames 4 and 5
    np.testing.assert_array_equal(cropped.x_test[0, :, 1, 0], [4 * 79 + 3, 5 * 79 + 3])


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"offsets": None}, r"needs arrays .* missing \['offsets'\]"),
        ({"offsets": np.array([0, 3, 11])}, "from 0 to the number of frames"),
        ({"offsets": np.array([0, 3, 3, 10])}, "increase strictly"),
        ({"frames": np.zeros((10, 50), np.float32)}, r"numeric \(F, >= 75\)"),
        ({"split": np.array(["train", "val", "train"])}, r"'train' or 'test', got \['val'\]"),
        ({"label": np.array(["a", "b"])}, r"label must have shape \(3,\)"),
        ({"subject": np.array(["s1", "s2", "s3"])}, r"subject must have shape \(3,\) \(int\)"),
        ({"split": np.array(["test", "test", "test"])}, "no sequence has split 'train'"),
    ],
)
def test_fake_source_errors(tmp_path, overrides, match):
    with pytest.raises(DataFormatError, match=match):
        convert_motions(_fake(tmp_path, **overrides), None)


def test_argument_and_file_errors(tmp_path):
    with pytest.raises(MissingFileError):
        convert_motions(tmp_path / "absent.npz", None)
    with pytest.raises(InvalidInputError, match="max_frames must be a positive integer"):
        convert_motions(_fake(tmp_path), None, max_frames=0)
