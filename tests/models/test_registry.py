"""Every Keras object the package registers has its own name: a second class under the same name would
silently replace the first when a saved model is loaded."""

from __future__ import annotations

import collections
import importlib
import pkgutil

import keras

import har_tf


def _registered_classes() -> list[type]:
    for module in pkgutil.walk_packages(har_tf.__path__, "har_tf."):
        if ".benchmarks" not in module.name and ".inference.pose" not in module.name:
            importlib.import_module(module.name)
    seen = []
    for cls in _subclasses(keras.layers.Layer) + _subclasses(keras.losses.Loss):
        if cls.__module__.startswith("har_tf.") and keras.saving.get_registered_name(cls).startswith("har_tf>"):
            seen.append(cls)
    return seen


def _subclasses(base: type) -> list[type]:
    found, queue = [], [base]
    while queue:
        for sub in queue.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                queue.append(sub)
    return found


def test_registered_names_are_unique():
    classes = _registered_classes()
    names = collections.Counter(keras.saving.get_registered_name(c) for c in classes)
    assert len(classes) > 20
    assert [n for n, count in names.items() if count > 1] == []
    for cls in classes:
        assert keras.saving.get_registered_object(keras.saving.get_registered_name(cls)) is cls
