"""MPOSE2021 arrays (as the ``mpose`` PyPI package returns them) as a :class:`PoseDataset`.

``mpose.MPOSE(pose_extractor=...).get_data()`` returns ``(X_train, y_train, X_test, y_test)`` with
``X`` of shape ``(N, 30, J, C)`` and integer labels ``y`` (20 classes). The joints depend on the
pose extractor: ``openpose`` gives BODY_25 (J = 25), ``posenet`` and ``movenet`` give COCO-17
(J = 17). The channels are kept as they come when C is 2 (x, y) or 3 (x, y, confidence). With
``velocities=True``, mpose inserts the frame-to-frame velocities after x, y: C = 5 is
(x, y, vx, vy, confidence) and, after ``remove_confidence()``, C = 4 is (x, y, vx, vy). The
velocities (channels 2 and 3) are dropped here: HAR-TF computes motion features itself.

The data must be the raw keypoints: ``reduce_keypoints()``, ``scale_and_center()`` (which prunes
joints) and ``flatten_features()`` change J or the rank, and are refused with an error saying so.
This module does not import or download ``mpose``; pass it the arrays or the MPOSE object.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from har_tf.data.pose_npz import PoseDataset
from har_tf.errors import DataFormatError, InvalidInputError

LAYOUT_BY_EXTRACTOR = {"openpose": "body25", "posenet": "coco17", "movenet": "coco17"}
# Channels kept for each C: x, y, [confidence]; mpose's velocities sit at channels 2 and 3.
_KEEP_CHANNELS = {2: [0, 1], 3: [0, 1, 2], 4: [0, 1], 5: [0, 1, 4]}


def pose_dataset_from_mpose(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    pose_extractor: str = "openpose",
    class_names: Sequence[str] | None = None,
) -> PoseDataset:
    """Build a :class:`PoseDataset` from MPOSE2021 arrays (see the module docstring).

    Args:
        x_train, y_train, x_test, y_test: the arrays of ``MPOSE.get_data()``; the test split is optional.
        pose_extractor: ``"openpose"`` (BODY_25), ``"posenet"`` or ``"movenet"`` (COCO-17).
        class_names: one name per class; default ``class_0`` ... up to the largest label.
    """
    key = str(pose_extractor).lower()
    if key not in LAYOUT_BY_EXTRACTOR:
        raise InvalidInputError(
            f"unknown MPOSE pose_extractor {pose_extractor!r}: expected one of {sorted(LAYOUT_BY_EXTRACTOR)}"
        )
    layout = LAYOUT_BY_EXTRACTOR[key]
    num_joints = 25 if layout == "body25" else 17
    if (x_test is None) != (y_test is None):
        raise InvalidInputError("x_test and y_test must be given together (or neither)")
    splits = {"train": (x_train, y_train)}
    if x_test is not None:
        splits["test"] = (x_test, y_test)
    arrays = {name: (_poses(name, x, key, num_joints), _labels(name, y)) for name, (x, y) in splits.items()}
    for name, (x, y) in arrays.items():
        if len(x) != len(y):
            raise DataFormatError(f"X_{name} has {len(x)} sequences but y_{name} has {len(y)} labels")
    if class_names is None:
        top = max((int(y.max()) for _, y in arrays.values() if y.size), default=-1)
        class_names = [f"class_{i}" for i in range(top + 1)]
    test = arrays.get("test", (None, None))
    return PoseDataset(
        x_train=arrays["train"][0],
        y_train=arrays["train"][1],
        class_names=tuple(class_names),
        layout=layout,
        x_test=test[0],
        y_test=test[1],
    )


def load_mpose(
    dataset_obj: Any, pose_extractor: str | None = None, class_names: Sequence[str] | None = None
) -> PoseDataset:
    """A :class:`PoseDataset` from an ``mpose.MPOSE`` object (anything with ``get_data()``).

    ``pose_extractor`` defaults to the object's ``pose_extractor`` attribute, and ``class_names``
    to its ``get_labels()`` when it has one.
    """
    if not callable(getattr(dataset_obj, "get_data", None)):
        raise InvalidInputError(
            f"expected an mpose.MPOSE object (with a get_data() method), got {type(dataset_obj).__name__}"
        )
    data = dataset_obj.get_data()
    if not isinstance(data, (tuple, list)) or len(data) != 4:
        raise DataFormatError(
            "get_data() must return (X_train, y_train, X_test, y_test); "
            f"got {type(data).__name__} of length {len(data) if isinstance(data, (tuple, list)) else '?'}"
        )
    extractor = pose_extractor or getattr(dataset_obj, "pose_extractor", None)
    if extractor is None:
        raise InvalidInputError("pass pose_extractor ('openpose', 'posenet' or 'movenet'): the object has none")
    if class_names is None and callable(getattr(dataset_obj, "get_labels", None)):
        class_names = _label_names(dataset_obj.get_labels())
    return pose_dataset_from_mpose(*data, pose_extractor=extractor, class_names=class_names)


def _label_names(labels: Any) -> list[str]:
    """Class names from ``get_labels()``: a list, ``{index: name}`` or ``{name: index}``."""
    if not isinstance(labels, dict):
        return [str(n) for n in labels]
    if all(isinstance(v, (int, np.integer)) for v in labels.values()):
        return [str(k) for k, _ in sorted(labels.items(), key=lambda kv: kv[1])]
    return [str(v) for _, v in sorted(labels.items(), key=lambda kv: int(kv[0]))]


def _poses(split: str, x, extractor: str, num_joints: int) -> np.ndarray:
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise DataFormatError(f"X_{split} must hold numbers, got dtype {x.dtype}")
    if x.ndim != 4:
        hint = " (undo mpose's flatten_features())" if x.ndim == 3 else ""
        raise DataFormatError(f"X_{split} must have shape (N, T, J, C), got {x.shape}{hint}")
    if x.shape[2] != num_joints:
        raise DataFormatError(
            f"X_{split} has J={x.shape[2]} joints but MPOSE's {extractor} data has {num_joints}: pass the raw "
            "keypoints (without mpose's reduce_keypoints() or scale_and_center(), which drop joints)"
        )
    if x.shape[3] not in _KEEP_CHANNELS:
        raise DataFormatError(
            f"X_{split} has C={x.shape[3]} channels: expected 2 (x, y), 3 (x, y, conf), "
            "4 (x, y, vx, vy) or 5 (x, y, vx, vy, conf)"
        )
    return x[..., _KEEP_CHANNELS[x.shape[3]]].astype(np.float32)


def _labels(split: str, y) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataFormatError(f"y_{split} must be integer class indices of shape (N,), got shape {y.shape}")
    if y.dtype.kind == "f" and np.all(np.mod(y, 1) == 0):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise DataFormatError(f"y_{split} must hold integer class indices, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise DataFormatError(f"y_{split} has a negative label ({y.min()}): expected 0 ... K-1")
    return y.astype(np.int64)
