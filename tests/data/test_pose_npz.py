"""The pose dataset NPZ format: round trips, atomic saves and clear errors for bad files."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from har_tf.data.pose_npz import PoseDataset, load_pose_npz, read_npz, save_npz_atomic
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from har_tf.skeleton.layouts import COCO17, custom_layout


def _x(n: int, t: int = 8, j: int = 17, c: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, t, j, c)).astype(np.float32)


def _arrays(**overrides) -> dict:
    arrays = {"x_train": _x(6), "y_train": np.array([0, 1, 2, 0, 1, 2])}
    arrays.update(overrides)
    return {k: v for k, v in arrays.items() if v is not None}


def _write(tmp_path, arrays: dict, name: str = "d.npz"):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_round_trip_builtin_with_extras_and_splits(tmp_path):
    ds = PoseDataset(
        _x(6),
        np.array([0, 1, 2, 0, 1, 2]),
        ["walk", "run", "jump"],
        "coco17",
        x_test=_x(3, t=5, seed=1),
        y_test=np.array([2, 1, 0]),
        x_val=_x(2, t=4, seed=2),
        y_val=np.array([1, 1]),
        extras={"subject_train": np.arange(6), "fps": np.array(30.0)},
    )
    path = ds.save(tmp_path / "sub" / "ds.npz")
    back = load_pose_npz(path)
    assert back.layout is COCO17 and back.class_names == ("walk", "run", "jump")
    assert back.splits == ("train", "val", "test")
    for split in back.splits:
        for a, b in zip(back.split(split), ds.split(split)):
            np.testing.assert_array_equal(a, b)
    assert back.x_train.dtype == np.float32 and back.y_train.dtype == np.int64
    np.testing.assert_array_equal(back.extras["subject_train"], np.arange(6))
    assert float(back.extras["fps"]) == 30.0
    assert "walk" in back.summary() and "T=5" in back.summary()
    with np.load(path, allow_pickle=False) as raw:  # plain arrays, no pickles
        assert all(raw[k].dtype != object for k in raw.files)


def test_round_trip_custom_layout(tmp_path):
    layout = custom_layout([f"j{i}" for i in range(5)] + ["left_x", "right_x"], [(0, 1), (1, 2), (5, 6)])
    ds = PoseDataset(_x(4, j=7, c=2), np.array([0, 1, 0, 1]), ["a", "b"], layout)
    back = PoseDataset.load(ds.save(tmp_path / "custom.npz", compress=False))
    assert back.layout == layout and back.layout.flip_pairs == ((5, 6),)
    assert back.num_channels == 2
    np.testing.assert_array_equal(back.x_train, ds.x_train)


def test_defaults_without_metadata(tmp_path):
    back = load_pose_npz(_write(tmp_path, _arrays(x_train=_x(6, j=25))))
    assert back.layout.name == "body25"
    assert back.class_names == ("class_0", "class_1", "class_2")


def test_atomic_save_leaves_no_temp_files(tmp_path):
    ds = PoseDataset(_x(6), np.array([0, 1, 2, 0, 1, 2]), ["a", "b", "c"], "coco17")
    ds.save(tmp_path / "a.npz")
    ds.save(tmp_path / "a.npz")  # overwrite in place
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]


def test_failed_save_removes_temp_file_and_keeps_old_file(tmp_path):
    path = save_npz_atomic(tmp_path / "a.npz", {"v": np.arange(3)})
    with pytest.raises(ValueError):
        # savez fails half-way (this value cannot become an array) ...
        save_npz_atomic(path, {"v": np.arange(3), "bad": _Unsaveable()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]
    np.testing.assert_array_equal(read_npz(path)["v"], np.arange(3))  # ... the old file is intact


class _Unsaveable:
    def __array__(self, *args, **kwargs):
        raise ValueError("cannot convert")


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        (_arrays(x_train=None), r"needs arrays 'x_train' and 'y_train'"),
        (_arrays(x_train=_x(6)[0]), r"x_train must have shape \(N, T, J, C\), got \(8, 17, 3\)"),
        (_arrays(x_train=_x(6, c=4)), r"C = 2 \(x, y\) or 3 \(x, y, confidence\), got \(6, 8, 17, 4\)"),
        (_arrays(x_train=_x(6, j=17), layout=np.array("body25")), "J=17 joints but layout 'body25' has 25"),
        (
            _arrays(y_train=np.array([0, 1, 2, 0, 1, 7]), class_names=np.array(["a", "b", "c"])),
            r"labels in \[0, 7\] but there are 3 classes \(expected 0 \.\.\. 2\)",
        ),
        (_arrays(y_train=np.array([0, -1, 2, 0, 1, 2])), "labels in"),
        (_arrays(y_train=np.array([0, 1, 2])), r"y_train must have shape \(6,\) to match x_train, got \(3,\)"),
        (_arrays(y_train=np.array([0.5, 1, 2, 0, 1, 2])), "integer class indices"),
        (_arrays(x_test=_x(2)), "x_test and y_test must come together"),
        (_arrays(x_test=_x(2, c=2), y_test=np.array([0, 1])), "same channels"),
        (_arrays(layout=np.array("h36m")), "unknown joint layout 'h36m'"),
        (_arrays(x_train=_x(6, j=15)), r"layout 'custom' \(J=15\) needs an 'edges' array"),
        (_arrays(x_train=_x(6, j=15), edges=np.array([[0, 15]])), r"\[0, 15\), got \(0, 15\)"),
        (_arrays(class_names=np.array([[1, 2]])), "class_names must be a 1-D str array"),
    ],
    ids=[
        "missing-x",
        "rank",
        "C=4",
        "J-vs-layout",
        "label-range",
        "negative-label",
        "length-mismatch",
        "float-labels",
        "x-without-y",
        "C-differs",
        "unknown-layout",
        "custom-no-edges",
        "bad-edge",
        "class-names",
    ],
)
def test_format_errors(tmp_path, arrays, match):
    path = _write(tmp_path, arrays)
    with pytest.raises(DataFormatError, match=match) as info:
        load_pose_npz(path)
    assert str(path) in str(info.value)


def test_object_array_is_refused(tmp_path):
    path = tmp_path / "obj.npz"
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros((3, 17, 3)), np.zeros((5, 17, 3))
    np.savez(path, x_train=ragged, y_train=np.array([0, 1]))  # np.save pickles the object array
    with pytest.raises(DataFormatError, match="object array") as info:
        load_pose_npz(path)
    assert "str arrays" in str(info.value)


def test_truncated_and_corrupt_files(tmp_path):
    good = PoseDataset(_x(6), np.array([0, 1, 2, 0, 1, 2]), ["a", "b", "c"], "coco17").save(tmp_path / "g.npz")
    data = good.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="not a readable .npz file"):
        load_pose_npz(truncated)
    corrupt = tmp_path / "corrupt.npz"
    middle = len(data) // 2
    corrupt.write_bytes(data[:middle] + bytes(64) + data[middle + 64 :])
    with pytest.raises(DataFormatError, match="not a readable .npz file"):
        load_pose_npz(corrupt)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(DataFormatError):
        load_pose_npz(empty)


def test_zip_without_npy_members(tmp_path):
    path = tmp_path / "zip.npz"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("readme.txt", "hello")
    path.write_bytes(buffer.getvalue())
    with pytest.raises(DataFormatError, match="needs arrays 'x_train' and 'y_train'"):
        load_pose_npz(path)


def test_missing_file(tmp_path):
    with pytest.raises(MissingFileError, match="no such NPZ file") as info:
        load_pose_npz(tmp_path / "absent.npz")
    assert isinstance(info.value, FileNotFoundError)


def test_constructor_errors():
    with pytest.raises(DataFormatError, match="must hold numbers"):
        PoseDataset(np.zeros((2, 3, 17, 3), dtype=bool), np.array([0, 1]), ["a", "b"], "coco17")
    with pytest.raises(InvalidInputError, match="reserved"):
        PoseDataset(_x(2), np.array([0, 1]), ["a", "b"], "coco17", extras={"layout": np.zeros(1)}).to_arrays()
    ds = PoseDataset(_x(2), np.array([0, 1]), ["a", "b"], "coco17")
    with pytest.raises(InvalidInputError, match=r"no 'test' split; it has \['train'\]"):
        ds.split("test")


def test_npy_file_instead_of_npz(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, _x(2))
    with pytest.raises(DataFormatError):
        load_pose_npz(path)


def test_custom_layout_centre_joints_survive(tmp_path):
    layout = custom_layout([f"j{i}" for i in range(5)], [(0, 1)], center_joints=[2], torso_top_joints=[0])
    ds = PoseDataset(_x(2, j=5), np.array([0, 1]), ["a", "b"], layout)
    assert PoseDataset.load(ds.save(tmp_path / "c.npz")).layout == layout


def test_object_extras_refused_at_save(tmp_path):
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = np.zeros(2), np.zeros(3)
    ds = PoseDataset(_x(2), np.array([0, 1]), ["a", "b"], "coco17", extras={"ragged": ragged})
    with pytest.raises(InvalidInputError):
        ds.save(tmp_path / "o.npz")


def test_text_file_and_reserved_extra_names(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("not an archive")
    with pytest.raises(DataFormatError, match="not a readable .npz file"):
        load_pose_npz(text)
    ds = PoseDataset(_x(2), np.array([0, 1]), ["a", "b"], "coco17", extras={"file": np.zeros(1)})
    with pytest.raises(InvalidInputError, match="reserved"):
        ds.save(tmp_path / "f.npz")


def test_saved_file_has_the_usual_permissions(tmp_path):
    path = PoseDataset(_x(2), np.array([0, 1]), ["a", "b"], "coco17").save(tmp_path / "p.npz")
    assert path.stat().st_mode & 0o044, "readable by group/others as with a plain open()"
