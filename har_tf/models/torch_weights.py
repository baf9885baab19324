"""Read PyTorch ``state_dict`` files into NumPy arrays without torch and without running pickled code.

``torch.save`` files are pickles. Unpickling them with :mod:`pickle` can run arbitrary code, so
:func:`read_torch_state_dict` uses a restricted unpickler: only an allow-list of globals resolves
(``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and friends, the typed storage
classes such as ``torch.FloatStorage``), each mapped to a NumPy stand-in; any other global
(``os.system``, ``builtins.eval``, ...) raises :class:`~har_tf.errors.DataFormatError` before
anything is called. Both on-disk layouts are read:

- legacy (``_use_new_zipfile_serialization=False``, torch < 1.6): magic number, protocol version,
  system info, the pickled object, the list of storage keys, then each storage's raw bytes;
- zip (torch >= 1.6): ``<archive>/data.pkl`` plus one ``<archive>/data/<key>`` file per storage.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from har_tf.errors import DataFormatError, MissingFileError

__all__ = ["read_torch_state_dict"]

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

# torch storage class name -> NumPy dtype (bfloat16 is stored as uint16 and widened to float32).
_STORAGE_DTYPES: dict[str, np.dtype] = {
    "DoubleStorage": np.dtype("<f8"),
    "FloatStorage": np.dtype("<f4"),
    "HalfStorage": np.dtype("<f2"),
    "BFloat16Storage": np.dtype("<u2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ShortStorage": np.dtype("<i2"),
    "CharStorage": np.dtype("i1"),
    "ByteStorage": np.dtype("u1"),
    "BoolStorage": np.dtype("?"),
}


class _StorageType:
    """Stand-in for a ``torch.<X>Storage`` class: only carries the element type."""

    __slots__ = ("dtype", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = _STORAGE_DTYPES[name]


class _Storage:
    """A storage's elements as a flat NumPy array (filled in after unpickling for legacy files)."""

    __slots__ = ("data", "key", "numel", "storage_type")

    def __init__(self, storage_type: _StorageType, key: str, numel: int) -> None:
        self.storage_type = storage_type
        self.key = key
        self.numel = numel
        self.data: np.ndarray | None = None


class _TensorRef:
    """A tensor to materialize once its storage's bytes are known: storage, offset, size, stride."""

    __slots__ = ("offset", "size", "storage", "stride")

    def __init__(self, storage: _Storage, offset: int, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        if not isinstance(storage, _Storage):
            raise DataFormatError(f"a tensor is built from a {type(storage).__name__}, not a torch storage")
        try:
            self.offset = int(offset)
            self.size = tuple(int(s) for s in size)
            self.stride = tuple(int(s) for s in stride)
        except (TypeError, ValueError) as exc:
            raise DataFormatError(f"malformed tensor: offset={offset!r}, size={size!r}, stride={stride!r}") from exc
        if len(self.size) != len(self.stride) or min((self.offset, *self.size, *self.stride)) < 0:
            raise DataFormatError(f"malformed tensor: offset={offset!r}, size={size!r}, stride={stride!r}")
        self.storage = storage

    def to_numpy(self) -> np.ndarray:
        flat = self.storage.data
        if flat is None:
            raise DataFormatError(f"storage {self.storage.key!r} has no data in the file")
        needed = self.offset + 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride, strict=True) if n > 0)
        if any(n == 0 for n in self.size):
            needed = 0
        if needed > flat.size:
            raise DataFormatError(
                f"a tensor of shape {self.size} needs {needed} elements of storage {self.storage.key!r}, "
                f"which holds {flat.size}"
            )
        item = flat.itemsize
        array = np.lib.stride_tricks.as_strided(
            flat[self.offset :], shape=self.size, strides=tuple(s * item for s in self.stride), writeable=False
        )
        array = np.array(array, copy=True)  # own, contiguous, writeable
        if self.storage.storage_type.name == "BFloat16Storage":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        return array


def _rebuild_tensor(storage: _Storage, offset: int, size: tuple, stride: tuple) -> _TensorRef:
    return _TensorRef(storage, offset, size, stride)


def _rebuild_tensor_v2(storage: _Storage, offset: int, size: tuple, stride: tuple, *_ignored: Any) -> _TensorRef:
    # requires_grad, backward_hooks (and, in recent torch, metadata) do not matter for weights.
    return _TensorRef(storage, offset, size, stride)


def _rebuild_parameter(data: _TensorRef, *_ignored: Any) -> _TensorRef:
    if not isinstance(data, _TensorRef):
        raise DataFormatError(f"a parameter wraps a {type(data).__name__}, not a tensor")
    return data


_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    **{("torch", name): _StorageType(name) for name in _STORAGE_DTYPES},
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals; storages come back through ``persistent_load``."""

    def __init__(self, file: BinaryIO, source: str) -> None:
        super().__init__(file)
        self.source = source
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataFormatError(
                f"{self.source}: refusing to load the global {module}.{name}; a torch state_dict only "
                f"references {', '.join(sorted(f'{m}.{n}' for m, n in _ALLOWED_GLOBALS))}"
            ) from None

    def persistent_load(self, pid: Any) -> _Storage:
        # ('storage', storage_type, key, location, numel[, view_metadata])
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise DataFormatError(f"{self.source}: unexpected persistent id {pid!r}")
        storage_type, key, numel = pid[1], str(pid[2]), int(pid[4])
        if not isinstance(storage_type, _StorageType):
            raise DataFormatError(f"{self.source}: {storage_type!r} is not a torch storage type")
        if len(pid) > 5 and pid[5] is not None:
            raise DataFormatError(f"{self.source}: storage views (torch < 0.4 files) are not supported")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type, key, numel)
        return self.storages[key]


def _load(file: BinaryIO, source: str) -> tuple[Any, dict[str, _Storage]]:
    unpickler = _RestrictedUnpickler(file, source)
    try:
        obj = unpickler.load()
    except DataFormatError as exc:
        if str(exc).startswith(source):
            raise
        raise DataFormatError(f"{source}: {exc}") from None
    except Exception as exc:  # truncated or malformed pickle stream
        raise DataFormatError(f"{source}: not a readable torch pickle ({type(exc).__name__}: {exc})") from exc
    return obj, unpickler.storages


def _small_pickle(file: BinaryIO, source: str) -> Any:
    """One of the legacy header pickles: plain Python values only, no globals at all."""
    obj, storages = _load(file, source)
    if storages:
        raise DataFormatError(f"{source}: unexpected storage in a legacy header record")
    return obj


def _read_legacy(path: Path) -> Any:
    source = str(path)
    with open(path, "rb") as file:
        if _small_pickle(file, source) != _LEGACY_MAGIC:
            raise DataFormatError(f"{source}: not a torch file (wrong magic number)")
        protocol = _small_pickle(file, source)
        if protocol != _LEGACY_PROTOCOL:
            raise DataFormatError(f"{source}: unsupported torch legacy protocol {protocol!r}")
        sys_info = _small_pickle(file, source)
        if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
            raise DataFormatError(f"{source}: big-endian torch files are not supported")
        obj, storages = _load(file, source)
        keys = _small_pickle(file, source)
        if not isinstance(keys, list):
            raise DataFormatError(f"{source}: the storage key list is missing")
        for key in keys:
            key = str(key)
            header = file.read(8)
            if len(header) != 8:
                raise DataFormatError(f"{source}: file ends before the data of storage {key!r}")
            (numel,) = struct.unpack("<q", header)
            storage = storages.get(key)
            if storage is None:
                raise DataFormatError(f"{source}: data for storage {key!r}, which no tensor uses")
            nbytes = numel * storage.storage_type.dtype.itemsize
            raw = file.read(nbytes)
            if len(raw) != nbytes:
                raise DataFormatError(f"{source}: file ends inside the data of storage {key!r}")
            storage.data = np.frombuffer(raw, dtype=storage.storage_type.dtype)
    return obj


def _read_zip(path: Path) -> Any:
    source = str(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pkl) != 1:
            raise DataFormatError(f"{source}: a torch zip archive holds exactly one data.pkl, found {len(pkl)}")
        prefix = pkl[0][: -len("data.pkl")]
        byteorder = prefix + "byteorder"
        if byteorder in names and archive.read(byteorder).strip() != b"little":
            raise DataFormatError(f"{source}: big-endian torch files are not supported")
        obj, storages = _load(io.BytesIO(archive.read(pkl[0])), source)
        for key, storage in storages.items():
            member = f"{prefix}data/{key}"
            if member not in names:
                raise DataFormatError(f"{source}: storage file {member!r} is missing")
            storage.data = np.frombuffer(archive.read(member), dtype=storage.storage_type.dtype)
    return obj


def _materialize(obj: Any, source: str) -> dict[str, np.ndarray]:
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]  # common checkpoint wrapper
    if not isinstance(obj, dict):
        raise DataFormatError(f"{source}: expected a state_dict (names to tensors), got {type(obj).__name__}")
    out: dict[str, np.ndarray] = {}
    for name, value in obj.items():
        if not isinstance(value, _TensorRef):
            raise DataFormatError(f"{source}: entry {name!r} is a {type(value).__name__}, not a tensor")
        try:
            out[str(name)] = value.to_numpy()
        except DataFormatError as exc:
            raise DataFormatError(f"{source}: tensor {name!r}: {exc}") from None
    return out


def read_torch_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a ``torch.save``-d ``state_dict`` (legacy or zip format) as ``{name: np.ndarray}``, in file order.

    Arrays keep torch's layout (e.g. conv kernels ``(out, in, kh, kw)``). Raises
    :class:`MissingFileError` when ``path`` does not exist and :class:`DataFormatError` when the file
    is not a torch state_dict or references a global outside the allow-list (nothing is executed).
    """
    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"torch weights file {path} does not exist")
    obj = _read_zip(path) if zipfile.is_zipfile(path) else _read_legacy(path)
    return _materialize(obj, str(path))
