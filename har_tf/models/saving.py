"""Loading saved ``.keras`` models safely, with errors that say what was wrong."""

from __future__ import annotations

import os
from pathlib import Path

import keras

from har_tf.errors import DataFormatError, MissingFileError


def load_keras_model(path: str | os.PathLike) -> keras.Model:
    """``keras.saving.load_model(path, safe_mode=True)`` with the package's classes registered.

    Raises :class:`MissingFileError` when there is no such file and :class:`DataFormatError` when
    the file is not a Keras model this package can read.
    """
    import har_tf.models  # noqa: F401 - registers the package's serializable classes

    path = Path(path)
    if not path.is_file():
        raise MissingFileError(f"no such model file: {path}")
    if path.suffix != ".keras":
        raise DataFormatError(f"{path} is not a .keras file (expected a model written by scripts/train.py)")
    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as err:  # noqa: BLE001 - Keras raises many kinds for a file that is not a model
        raise DataFormatError(f"{path} is not a readable Keras model ({type(err).__name__}: {err})") from None
