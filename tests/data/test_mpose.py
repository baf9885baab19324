"""MPOSE2021 arrays (shapes as the mpose package returns them) to PoseDataset."""

from __future__ import annotations

import numpy as np
import pytest

from har_tf.data.mpose import load_mpose, pose_dataset_from_mpose
from har_tf.errors import DataFormatError, InvalidInputError


def _mpose(n: int, joints: int, channels: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 30, joints, channels)), rng.integers(0, 20, n)


def _with_velocities(x: np.ndarray) -> np.ndarray:
    """What mpose's add_velocities() makes of (x, y, c): (x, y, vx, vy, c)."""
    vel = np.diff(x[..., :2], axis=1, prepend=0.0)
    return np.concatenate([x[..., :2], vel, x[..., 2:]], axis=-1)


@pytest.mark.parametrize(
    ("extractor", "joints", "layout"),
    [("openpose", 25, "body25"), ("posenet", 17, "coco17"), ("movenet", 17, "coco17")],
)
def test_plain_arrays(extractor, joints, layout):
    x_train, y_train = _mpose(12, joints)
    x_test, y_test = _mpose(5, joints, seed=1)
    ds = pose_dataset_from_mpose(x_train, y_train, x_test, y_test, pose_extractor=extractor)
    assert ds.layout.name == layout and ds.x_train.shape == (12, 30, joints, 3)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    np.testing.assert_allclose(ds.x_test, x_test.astype(np.float32))
    assert ds.num_classes == max(y_train.max(), y_test.max()) + 1
    assert ds.class_names[0] == "class_0"


def test_velocities_are_dropped():
    x, y = _mpose(6, 25)
    ds = pose_dataset_from_mpose(_with_velocities(x), y, pose_extractor="openpose")
    np.testing.assert_allclose(ds.x_train, x.astype(np.float32))  # x, y, confidence back
    no_conf = _with_velocities(x)[..., :-1]  # mpose's remove_confidence(): (x, y, vx, vy)
    ds = pose_dataset_from_mpose(no_conf, y, no_conf, y, pose_extractor="openpose")
    assert ds.num_channels == 2
    np.testing.assert_allclose(ds.x_test, x[..., :2].astype(np.float32))


def test_two_channels_and_class_names():
    x, y = _mpose(4, 17, channels=2)
    names = [f"action_{i}" for i in range(20)]
    ds = pose_dataset_from_mpose(x, y, pose_extractor="MoveNet", class_names=names)
    assert ds.num_channels == 2 and ds.class_names == tuple(names) and ds.x_test is None


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"x_train": _mpose(3, 17)[0]}, DataFormatError, "J=17 joints but MPOSE's openpose data has 25"),
        ({"x_train": _mpose(3, 13)[0]}, DataFormatError, "reduce_keypoints"),
        ({"x_train": _mpose(3, 25)[0].reshape(3, 30, 75)}, DataFormatError, r"\(N, T, J, C\).*flatten_features"),
        ({"x_train": _mpose(3, 25, channels=6)[0]}, DataFormatError, "C=6 channels: expected 2"),
        ({"y_train": np.array([0.5, 1.0, 2.0])}, DataFormatError, "integer class indices"),
        ({"y_train": np.array(["a", "b", "c"])}, DataFormatError, "integer class indices"),
        ({"y_train": np.array([0, -1, 2])}, DataFormatError, "negative label"),
        ({"y_train": np.array([0, 1])}, DataFormatError, "3 sequences but y_train has 2 labels"),
        ({"pose_extractor": "alphapose"}, InvalidInputError, "expected one of"),
        ({"x_test": _mpose(2, 25)[0]}, InvalidInputError, "together"),
        ({"class_names": ["a", "b"]}, DataFormatError, "labels in"),
    ],
)
def test_errors(kwargs, error, match):
    x, _ = _mpose(3, 25)
    args = {"x_train": x, "y_train": np.array([0, 1, 2]), "pose_extractor": "openpose"} | kwargs
    with pytest.raises(error, match=match):
        pose_dataset_from_mpose(**args)


def test_column_labels_are_accepted():
    x, y = _mpose(3, 17)
    ds = pose_dataset_from_mpose(x, y[:, None].astype(np.float64), pose_extractor="posenet")
    np.testing.assert_array_equal(ds.y_train, y)


class _FakeMPOSE:
    """Stands in for mpose.MPOSE: get_data() and get_labels(), never downloads."""

    pose_extractor = "posenet"

    def __init__(self):
        self.data = (*_mpose(8, 17), *_mpose(3, 17, seed=1))

    def get_data(self):
        return tuple(a.copy() for a in self.data)

    def get_labels(self):
        return {str(i): f"label_{i}" for i in range(20)}


def test_load_mpose_object():
    obj = _FakeMPOSE()
    ds = load_mpose(obj)
    assert ds.layout.name == "coco17" and ds.splits == ("train", "test")
    assert ds.class_names[:2] == ("label_0", "label_1") and ds.num_classes == 20
    ds = load_mpose(obj, "movenet", class_names=[f"c{i}" for i in range(20)])
    assert ds.class_names[0] == "c0"


def test_load_mpose_errors():
    with pytest.raises(InvalidInputError, match="get_data"):
        load_mpose(object(), "openpose")

    class Broken:
        def get_data(self):
            return (1, 2)

    with pytest.raises(DataFormatError, match=r"\(X_train, y_train, X_test, y_test\)"):
        load_mpose(Broken(), "openpose")
