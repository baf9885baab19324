"""The pose dataset NPZ format: how any user hands pose sequences to HAR-TF.

One ``.npz`` file (``numpy.savez``), read with ``allow_pickle=False``:

=================  ==========================  ===============================================
key                dtype / shape               meaning
=================  ==========================  ===============================================
``x_train``        float (N, T, J, C)          pose sequences; C = 2 (x, y), 3 (x, y, conf or
                                               x, y, z: see ``channels``) or 4 (x, y, z, conf)
``y_train``        int (N,)                    class index of each sequence
``x_test``         float (M, T', J, C)         optional test split (same J and C)
``y_test``         int (M,)                    with ``x_test``
``x_val``          float (V, T'', J, C)        optional validation split
``y_val``          int (V,)                    with ``x_val``
``class_names``    str (K,)                    optional; default ``class_0`` ... ``class_{K-1}``
``layout``         str ()                      optional: coco17, body25, body25b, blazepose33,
                                               kinect_v1, custom (default: coco17 for J = 17,
                                               body25 for J = 25, blazepose33 for J = 33, else
                                               custom)
``edges``          int (E, 2)                  bones, for custom layouts
``joint_names``    str (J,)                    optional, for custom layouts
``flip_pairs``     int (P, 2)                  optional left/right pairs, for custom layouts
``center_joints``  int (K,)                    optional body-centre joints, for custom layouts
``torso_top_joints`` int (K,)                  optional torso-top joints, for custom layouts
``channels``       str ()                      optional: xy, xyc, xyz or xyzc, what the C values
                                               of a joint are (default: xy for C = 2, xyc for
                                               C = 3; C = 4 needs ``xyzc``)
=================  ==========================  ===============================================

Sequences may be shorter than T: pad them with frames of all zeros at the end (a frame of all zeros
is padding). A missing joint has confidence 0 (``xyc``, ``xyzc``), is all zeros, or is NaN.
Coordinates are in any unit (pixels are typical; metres for 3D skeletons) within +-1e6: normalisation
happens in the pipeline. Refused when read (:mod:`har_tf.data.checks` has the rule for each kind of
bad value, the same as the predictor's): infinite values, coordinates beyond +-1e6, confidences outside
[0, 1], a split in which every joint is missing, labels outside ``0 ... K-1`` and repeated or empty
class names; clips in which every joint is missing are kept and counted in :meth:`PoseDataset.summary`.
Every other array in the file is kept in :attr:`PoseDataset.extras` (for example ``subject_train`` or
the frames of a multimodal dataset).
"""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path

import numpy as np

from har_tf.data.checks import check_training_poses, empty_clips, numeric_array
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from har_tf.io import atomic_write
from har_tf.skeleton.channels import CHANNELS, resolve_channels
from har_tf.skeleton.layouts import BUILTIN_LAYOUTS, JointLayout, custom_layout, get_layout

SPLITS = ("train", "val", "test")
_DEFAULT_LAYOUT_BY_J = {17: "coco17", 25: "body25", 33: "blazepose33"}
_RESERVED = {f"{p}_{s}" for p in ("x", "y") for s in SPLITS} | {
    "class_names",
    "layout",
    "edges",
    "joint_names",
    "flip_pairs",
    "center_joints",
    "torso_top_joints",
    "channels",
}


@dataclasses.dataclass
class PoseDataset:
    """Pose sequences with labels, split into train / (val) / (test), their joint layout and channels.

    ``channels`` (``xy``, ``xyc``, ``xyz`` or ``xyzc``, see :mod:`har_tf.skeleton.channels`) says
    what the C values of a joint are; ``None`` resolves to ``xy`` for C = 2 and ``xyc`` for C = 3.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    class_names: tuple[str, ...]
    layout: JointLayout
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    extras: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    channels: str | None = None

    def __post_init__(self) -> None:
        self.class_names = _distinct_class_names(self.class_names)
        self.layout = get_layout(self.layout)
        first = None
        for split in SPLITS:
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x is None and y is None:
                continue
            if x is None or y is None:
                raise DataFormatError(f"split {split!r}: x_{split} and y_{split} must come together")
            x, y = check_pose_arrays(
                x,
                y,
                self.layout,
                num_classes=len(self.class_names),
                name=f"x_{split}",
                label_name=f"y_{split}",
                error=DataFormatError,
                channels=self.channels,
            )
            setattr(self, f"x_{split}", x)
            setattr(self, f"y_{split}", y)
            if first is not None and x.shape[-1] != first.shape[-1]:
                raise DataFormatError(
                    f"x_{split} has C={x.shape[-1]} channels but x_train has C={first.shape[-1]}: "
                    "every split must use the same channels"
                )
            first = x if first is None else first
        if first is not None:
            self.channels = _dataset_channels(self.channels, first.shape[-1])

    # --- views -------------------------------------------------------------------------------
    @property
    def splits(self) -> tuple[str, ...]:
        """Names of the splits present, in the order train, val, test."""
        return tuple(s for s in SPLITS if getattr(self, f"x_{s}") is not None)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of one split, with a clear error if it is absent."""
        if name not in SPLITS or getattr(self, f"x_{name}") is None:
            raise InvalidInputError(f"this dataset has no {name!r} split; it has {list(self.splits)}")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def num_channels(self) -> int:
        return int(self.x_train.shape[-1])

    def summary(self) -> str:
        """A few human-readable lines: layout, shapes and per-class counts of each split."""
        lines = [
            f"layout {self.layout.name} (J={self.layout.num_joints}), C={self.num_channels} ({self.channels}), "
            f"{self.num_classes} classes"
        ]
        for split in self.splits:
            x, y = self.split(split)
            counts = np.bincount(y, minlength=self.num_classes)
            empty = int(empty_clips(x, self.channels).sum())
            note = f", {empty} with every joint missing" if empty else ""
            lines.append(f"  {split:5s} {x.shape[0]:6d} sequences of T={x.shape[1]}, per class {counts.tolist()}{note}")
        lines.append("  classes: " + ", ".join(self.class_names))
        return "\n".join(lines)

    # --- persistence -------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays written to the NPZ file (no object arrays)."""
        arrays: dict[str, np.ndarray] = {}
        for split in self.splits:
            arrays[f"x_{split}"], arrays[f"y_{split}"] = self.split(split)
        arrays["class_names"] = np.asarray(self.class_names, dtype=str)
        arrays["channels"] = np.asarray(self.channels, dtype=str)
        is_builtin = BUILTIN_LAYOUTS.get(self.layout.name) == self.layout
        arrays["layout"] = np.asarray(self.layout.name if is_builtin else "custom")
        if not is_builtin:
            arrays["joint_names"] = np.asarray(self.layout.joint_names, dtype=str)
            arrays["edges"] = np.asarray(self.layout.edges, dtype=np.int64).reshape(-1, 2)
            arrays["flip_pairs"] = np.asarray(self.layout.flip_pairs, dtype=np.int64).reshape(-1, 2)
            arrays["center_joints"] = np.asarray(self.layout.center_joints, dtype=np.int64)
            arrays["torso_top_joints"] = np.asarray(self.layout.torso_top_joints, dtype=np.int64)
        for key, value in self.extras.items():
            value = np.asarray(value)
            if key in _RESERVED or key in ("file", "allow_pickle") or not key.isidentifier():
                raise InvalidInputError(f"extra array name {key!r} is reserved or not a plain identifier")
            if value.dtype.kind == "O":
                raise InvalidInputError(
                    f"extra array {key!r} is an object array, which would need a pickle; "
                    "store strings as str arrays and numbers as numeric arrays"
                )
            arrays[key] = value
        return arrays

    def save(self, path: str | os.PathLike, compress: bool = True) -> Path:
        """Write the dataset atomically (temporary file, then rename): a crash leaves no half file."""
        return save_npz_atomic(path, self.to_arrays(), compress=compress)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PoseDataset:
        """Read and validate a pose dataset NPZ (see the module docstring for the format)."""
        arrays = read_npz(path)
        if "x_train" not in arrays or "y_train" not in arrays:
            raise DataFormatError(
                f"{path}: a pose dataset NPZ needs arrays 'x_train' and 'y_train'; found {sorted(arrays)}"
            )
        x_train = arrays["x_train"]
        if x_train.ndim != 4:
            raise DataFormatError(f"{path}: x_train must have shape (N, T, J, C), got {x_train.shape}")
        labels = [arrays[f"y_{s}"] for s in SPLITS if f"y_{s}" in arrays]
        class_names = _class_names(arrays, labels, path)
        layout = _layout_from_arrays(arrays, int(x_train.shape[2]), path)
        channels = _channels_from_arrays(arrays, path)
        extras = {k: v for k, v in arrays.items() if k not in _RESERVED}
        splits = {f"{p}_{s}": arrays.get(f"{p}_{s}") for s in ("val", "test") for p in ("x", "y")}
        try:
            return cls(x_train, arrays["y_train"], class_names, layout, extras=extras, channels=channels, **splits)
        except DataFormatError as err:
            raise DataFormatError(f"{path}: {err}") from None


def load_pose_npz(path: str | os.PathLike) -> PoseDataset:
    """Read a pose dataset NPZ; see :mod:`har_tf.data.pose_npz` for the format."""
    return PoseDataset.load(path)


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """All arrays of an NPZ file, loaded without pickles, with clear errors for bad files."""
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no such NPZ file: {path}")
    if not zipfile.is_zipfile(path):
        raise DataFormatError(
            f"{path}: not a readable .npz file (expected a zip archive written by numpy.savez; "
            "this one is truncated or of another kind)"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except ValueError as err:
        if "allow_pickle" in str(err):  # object arrays need pickles, which we never load
            raise DataFormatError(
                f"{path}: contains an object array (a pickle), which is refused for safety; "
                "store strings as fixed-width str arrays and numbers as numeric arrays"
            ) from None
        raise DataFormatError(f"{path}: an array in the file is damaged ({err})") from None
    except Exception as err:  # noqa: BLE001 - zlib, zip and header errors of damaged files
        raise DataFormatError(f"{path}: not a readable .npz file ({err.__class__.__name__}: {err})") from None


def save_npz_atomic(path: str | os.PathLike, arrays: dict[str, np.ndarray], compress: bool = True) -> Path:
    """``np.savez`` through :func:`har_tf.io.atomic_write`: a crash never leaves half a file."""
    with atomic_write(path) as handle:
        (np.savez_compressed if compress else np.savez)(handle, allow_pickle=False, **arrays)
    return Path(path)


def check_pose_arrays(
    x,
    y,
    layout: JointLayout,
    *,
    num_classes: int | None = None,
    name: str = "x",
    label_name: str = "y",
    error: type[InvalidInputError] = InvalidInputError,
    channels: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Validate pose sequences ``(N, T, J, C)`` and their labels; return float32 and int64 copies.

    Without ``channels`` C must be 2 (x, y) or 3 (x, y, confidence); with it, C must be its length.
    The values follow :func:`har_tf.data.checks.check_training_poses` (the predictor's rules; NaN marks a
    missing joint, a split with every joint missing is refused). Raises ``error`` with a message naming
    what was expected and what came.
    """
    x = numeric_array(x, name, "(N, T, J, C)", "fiu", "numbers (float32 pixels)", error=error)
    y = numeric_array(y, label_name, f"({len(x) if x.ndim else 0},)", "fiub", "integer class indices", error=error)
    shape_rule = f"{name} must have shape (N, T, J, C) with C = 2 (x, y) or 3 (x, y, confidence), got {x.shape}"
    if x.ndim != 4:
        raise error(shape_rule)
    if channels is None and x.shape[-1] not in (2, 3):
        hint = "; 3D poses need channels 'xyz' (C = 3) or 'xyzc' (C = 4)" if x.shape[-1] == 4 else ""
        raise error(f"{shape_rule} (C={x.shape[-1]}){hint}")
    if channels is not None:
        try:
            resolve_channels(channels, x.shape[-1])
        except InvalidInputError as err:
            raise error(f"{name}: {err}") from None
    if x.shape[2] != layout.num_joints:
        raise error(
            f"{name} has J={x.shape[2]} joints but layout {layout.name!r} has {layout.num_joints}; "
            "pick the matching layout or convert the poses with har_tf.convert_pose"
        )
    if y.ndim != 1 or y.shape[0] != x.shape[0]:
        raise error(
            f"{label_name} must have shape ({x.shape[0]},) to match {name}, got {y.shape}: one label per sequence"
        )
    if y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(np.mod(y, 1) == 0):
        y = y.astype(np.int64)
    if y.dtype.kind not in "iu":
        raise error(f"{label_name} must hold integer class indices, got dtype {y.dtype}")
    if y.size and num_classes is not None and (y.min() < 0 or y.max() >= num_classes):
        raise error(
            f"{label_name} has labels in [{y.min()}, {y.max()}] but there are {num_classes} classes "
            f"(expected 0 ... {num_classes - 1})"
        )
    if y.size and y.min() < 0:
        raise error(f"{label_name} must hold class indices >= 0, got minimum {y.min()}")
    x = x.astype(np.float32, copy=False)
    check_training_poses(x, name, channels, error)
    return x, y.astype(np.int64, copy=False)


def _distinct_class_names(names) -> tuple[str, ...]:
    """The class names as a tuple of str, refused when one is empty or appears twice."""
    if isinstance(names, str):
        raise DataFormatError(f"class_names must be a list of names, got the string {names!r}")
    names = tuple(str(c) for c in names)
    for i, name in enumerate(names):
        if not name.strip():
            raise DataFormatError(f"class name {i} is empty: every class needs a name")
        if name in names[:i]:
            raise DataFormatError(
                f"class_names must be distinct, but {name!r} is class {names.index(name)} and class {i}"
            )
    return names


def _dataset_channels(channels: str | None, num_channels: int) -> str:
    try:
        return resolve_channels(channels, num_channels)
    except InvalidInputError as err:
        raise DataFormatError(str(err)) from None


def _channels_from_arrays(arrays: dict, path) -> str | None:
    if "channels" not in arrays:
        return None
    stored = np.asarray(arrays["channels"])
    if stored.size != 1 or stored.dtype.kind not in "US" or str(stored.reshape(-1)[0]) not in CHANNELS:
        raise DataFormatError(f"{path}: channels must be one of {list(CHANNELS)} (a str scalar), got {stored!r}")
    return str(stored.reshape(-1)[0])


def _class_names(arrays: dict, labels: list[np.ndarray], path) -> tuple[str, ...]:
    if "class_names" in arrays:
        names = arrays["class_names"]
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise DataFormatError(f"{path}: class_names must be a 1-D str array, got {names.dtype} {names.shape}")
        return tuple(str(n) for n in names)
    finite = [y[np.isfinite(y)] for y in labels if y.size and y.dtype.kind in "iuf"]
    top = max((int(y.max()) for y in finite if y.size), default=-1)
    return tuple(f"class_{i}" for i in range(top + 1))


def _layout_from_arrays(arrays: dict, num_joints: int, path) -> JointLayout:
    stored = np.asarray(arrays.get("layout", _DEFAULT_LAYOUT_BY_J.get(num_joints, "custom")))
    if stored.size != 1 or stored.dtype.kind not in "US":
        raise DataFormatError(f"{path}: layout must be one string, got {stored.dtype} of shape {stored.shape}")
    name = str(stored.reshape(-1)[0])
    if name != "custom":
        try:
            return get_layout(name)
        except InvalidInputError as err:
            raise DataFormatError(f"{path}: {err}") from None
    if "edges" not in arrays and "joint_names" not in arrays:
        raise DataFormatError(
            f"{path}: layout 'custom' (J={num_joints}) needs an 'edges' array of shape (E, 2) "
            "and optionally 'joint_names'"
        )
    names = [str(n) for n in arrays.get("joint_names", [f"joint_{i}" for i in range(num_joints)])]
    edges = np.asarray(arrays.get("edges", np.zeros((0, 2), np.int64)))
    if edges.size and (edges.ndim != 2 or edges.shape[1] != 2 or edges.dtype.kind not in "iu"):
        raise DataFormatError(f"{path}: edges must be an int array of shape (E, 2), got {edges.dtype} {edges.shape}")
    flips = arrays.get("flip_pairs")
    try:
        return custom_layout(
            names,
            edges.reshape(-1, 2).tolist(),
            flip_pairs=None if flips is None else np.asarray(flips).reshape(-1, 2).tolist(),
            center_joints=np.asarray(arrays.get("center_joints", []), dtype=np.int64).reshape(-1).tolist(),
            torso_top_joints=np.asarray(arrays.get("torso_top_joints", []), dtype=np.int64).reshape(-1).tolist(),
        )
    except InvalidInputError as err:
        raise DataFormatError(f"{path}: {err}") from None
