"""Files written so that a crash never leaves half of one: a temporary file beside it, then a rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from har_tf.errors import DataFormatError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` (with the usual
    permissions), on any error it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _save_through_temp(path: str | os.PathLike, suffix: str, save) -> Path:
    """``save(temporary path)`` beside ``path``, then a rename: a crash or an error never leaves half a file,
    and an existing file stays until the new one is whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        save(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_keras_atomic(model, path: str | os.PathLike) -> Path:
    """``model.save(path)`` through a temporary ``.keras`` file beside it, renamed on success."""
    return _save_through_temp(path, ".tmp.keras", model.save)


def save_weights_atomic(model, path: str | os.PathLike) -> Path:
    """``model.save_weights(path)`` (a ``.weights.h5`` file) through a temporary file and a rename."""
    return _save_through_temp(path, ".tmp.weights.h5", model.save_weights)


def read_json(path: str | os.PathLike, what: str):
    """The content of a JSON file; DataFormatError naming ``what`` was expected when it is not JSON or
    cannot be read."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataFormatError(f"{path}: expected {what}, got invalid JSON ({err})") from None
    except OSError as err:
        raise DataFormatError(f"{path}: cannot read the file ({err})") from None
