"""Files written so that a crash never leaves half of one: a temporary file beside it, then a rename.

Also the checks every command runs on its output paths before it starts working
(:func:`check_output_file`, :func:`check_output_dir`), the one-line error a write that fails later
becomes (:class:`OutputError`), and the lock that keeps two runs out of one run folder
(:func:`run_folder_lock`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from har_tf.errors import DataFormatError, HARError, InvalidInputError, OutputError, RunFolderBusyError

MIN_FREE_BYTES = 1 << 20  # an output folder's file system needs at least this much free space to start
LOCK_NAME = ".run.lock"
# errors of a write that are the place's fault (full, read-only, not a folder), not a bug
WRITE_ERRNOS = frozenset(
    {
        errno.ENOSPC,
        errno.EDQUOT,
        errno.EFBIG,
        errno.EROFS,
        errno.EACCES,
        errno.EPERM,
        errno.EIO,
        errno.EISDIR,
        errno.ENOTDIR,
        errno.EEXIST,
        errno.ENAMETOOLONG,
    }
)


def _reason(err: BaseException) -> str:
    """The short cause of an OSError (``No space left on device``) or a TensorFlow write error."""
    text = getattr(err, "strerror", None) or getattr(err, "message", None) or str(err) or type(err).__name__
    return str(text).strip().splitlines()[0]


def is_write_failure(err: BaseException) -> bool:
    """Is ``err`` a write that failed because of the place (full disk, read-only, wrong kind of path)?"""
    if isinstance(err, HARError):
        return False
    if isinstance(err, OSError):
        return err.errno in WRITE_ERRNOS
    tf = sys.modules.get("tensorflow")  # TensorFlow's file system layer (SavedModel, checkpoints) raises its own
    return tf is not None and isinstance(err, (tf.errors.ResourceExhaustedError, tf.errors.PermissionDeniedError))


def write_failure(err: BaseException, path: str | os.PathLike, what: str = "output") -> OutputError:
    """The one-line :class:`OutputError` for a write of ``what`` at ``path`` that failed with ``err``."""
    return OutputError(f"cannot write {what} {path}: {_reason(err)}; nothing was written")


@contextlib.contextmanager
def writing(path: str | os.PathLike, what: str = "output") -> Iterator[None]:
    """Turn a write that fails because of the place (see :func:`is_write_failure`) into an :class:`OutputError`."""
    try:
        yield
    except BaseException as err:
        if is_write_failure(err):
            raise write_failure(err, path, what) from None
        raise


def _existing_ancestor(path: Path) -> Path:
    """``path`` itself or its nearest existing parent."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_place(path: Path, what: str, folder: Path, need: int) -> None:
    """``folder`` (an existing folder) can take a new file and has ``need`` bytes free."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise OutputError(f"{what} {path}: cannot write in {folder} ({_reason(err)})") from None
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < need:
        raise OutputError(
            f"{what} {path}: only {free / 2**20:.1f} MiB free in {folder}; at least {need / 2**20:.1f} MiB needed"
        )


def _check_parents(path: Path, what: str) -> Path:
    ancestor = _existing_ancestor(path.parent if path.parent != path else path)
    if not ancestor.is_dir():
        raise OutputError(f"{what} {path}: {ancestor} is a file, not a folder")
    return ancestor


def check_output_file(path: str | os.PathLike, what: str = "output", need: int = MIN_FREE_BYTES) -> Path:
    """Check before any work that ``path`` can be written as a file: not an existing folder, its nearest
    existing parent a folder that takes new files, ``need`` bytes free there. Missing parent folders are
    fine (they are created on writing). Raises :class:`OutputError` in one line."""
    path = Path(path)
    if str(path) == "" or path.name in ("", ".", ".."):
        raise InvalidInputError(f"{what} {str(path)!r}: expected a file path")
    if path.is_dir():
        raise OutputError(f"{what} {path} is an existing folder; expected a file path")
    _check_place(path, what, _check_parents(path, what), need)
    return path


def check_output_dir(path: str | os.PathLike, what: str = "output folder", need: int = MIN_FREE_BYTES) -> Path:
    """Check before any work that ``path`` can be (or become) a folder of outputs: not an existing file, its
    nearest existing ancestor a folder that takes new files, ``need`` bytes free there. Raises
    :class:`OutputError` in one line."""
    path = Path(path)
    if str(path) == "":
        raise InvalidInputError(f"{what} '': expected a folder path")
    if path.exists() and not path.is_dir():
        raise OutputError(f"{what} {path} is an existing file; expected a folder")
    ancestor = path if path.is_dir() else _check_parents(path, what)
    _check_place(path, what, ancestor, need)
    return path


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "wb", encoding: str | None = None, newline: str | None = None
) -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success it replaces ``path`` (with the usual
    permissions), on any error it is removed and ``path`` is left as it was. A write that fails
    because of the place (full disk, read-only) becomes an :class:`OutputError`."""
    path = Path(path)
    with writing(path, "file"):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, mode, encoding=encoding, newline=newline) as handle:
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


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """``path.write_text(text)`` through a temporary file and a rename (UTF-8)."""
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return Path(path)


def _save_through_temp(path: str | os.PathLike, suffix: str, save) -> Path:
    """``save(temporary path)`` beside ``path``, then a rename: a crash or an error never leaves half a file,
    and an existing file stays until the new one is whole."""
    path = Path(path)
    with writing(path, "file"):
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


# --- one run per folder ---------------------------------------------------------------------------------
_HELD: dict[Path, int] = {}  # lock files this process holds, with how many times (the lock is re-entrant)


def _lock_owner(lock: Path) -> tuple[int | None, str]:
    """The pid and host written in a lock file (None when unreadable)."""
    try:
        fields = lock.read_text(encoding="utf-8").split()
        return int(fields[0]), fields[1] if len(fields) > 1 else socket.gethostname()
    except (OSError, ValueError, IndexError):
        return None, ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _create_lock(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"{os.getpid()} {socket.gethostname()}\n")
    return True


@contextlib.contextmanager
def run_folder_lock(folder: str | os.PathLike, name: str = LOCK_NAME) -> Iterator[Path]:
    """Hold ``folder/name`` (created with ``O_EXCL``, holding this process's pid) while the block runs.

    A second process that asks for the same folder gets a :class:`RunFolderBusyError`; a lock left by a
    process that no longer runs (a kill, a crash) is taken over with a warning. The same process may
    take the lock again inside the block (it is re-entrant). The lock file is removed at the end, and
    the folder too when the lock created it and nothing was written in it.
    """
    folder = Path(folder)
    created = not folder.exists()
    with writing(folder, "run folder"):
        folder.mkdir(parents=True, exist_ok=True)
    lock = (folder / name).resolve()
    if lock in _HELD:
        _HELD[lock] += 1
        try:
            yield lock
        finally:
            _HELD[lock] -= 1
        return
    for attempt in range(20):
        with writing(lock, "lock file"):
            if _create_lock(lock):
                break
        pid, host = _lock_owner(lock)
        if pid is None:  # being written by its owner this instant, or left empty by a kill
            if attempt < 10:
                time.sleep(0.05)
            else:
                _take_over(lock, pid, "an unreadable lock")
            continue
        if host != socket.gethostname() or (pid != os.getpid() and _alive(pid)):
            where = f"on {host}" if host != socket.gethostname() else "still running"
            raise RunFolderBusyError(
                f"{folder} is in use by another run (process {pid}, {where}): wait for it to "
                f"finish or use another --out; if no run is going on, delete {lock}"
            )
        _take_over(lock, pid, f"a lock left by process {pid}, which is no longer running")
    else:
        raise RunFolderBusyError(f"{folder}: could not take its lock {lock}; delete it if no run is going on")
    _HELD[lock] = 1
    try:
        yield lock
    finally:
        del _HELD[lock]
        lock.unlink(missing_ok=True)
        if created:  # a run refused before writing anything leaves no empty folder behind
            with contextlib.suppress(OSError):
                folder.rmdir()


def _take_over(lock: Path, pid: int | None, what: str) -> None:
    """Move a stale lock aside (atomically: of two processes taking over, one moves it) and warn."""
    aside = lock.with_name(f"{lock.name}.stale-{os.getpid()}")
    try:
        os.replace(lock, aside)
    except FileNotFoundError:
        return
    moved, _ = _lock_owner(aside)
    if moved is not None and moved != pid and _alive(moved):  # another process took it over in between: put it back
        with contextlib.suppress(OSError):
            os.link(aside, lock)
    else:
        print(f"warning: {lock.parent}: took over {what}", file=sys.stderr, flush=True)
    aside.unlink(missing_ok=True)
