"""The project's errors: one small hierarchy, each message says what was expected and what came.

Every public function that validates user input raises one of these instead of letting a raw
TensorFlow / NumPy error escape. They subclass the matching built-in (``ValueError``,
``FileNotFoundError``) so that callers who catch the built-ins keep working.
"""

from __future__ import annotations


class HARError(Exception):
    """Base class of every error HAR-TF raises on purpose."""


class InvalidInputError(HARError, ValueError):
    """An array, argument or configuration value is not what the function expects."""


class DataFormatError(InvalidInputError):
    """A file exists but its content does not follow the documented format."""


class MissingFileError(HARError, FileNotFoundError):
    """A file or directory the caller named does not exist."""


class ExportError(HARError, RuntimeError):
    """An export could not be written, or its outputs do not match the Keras model's."""


class OutputError(HARError, OSError):
    """An output file or folder cannot be written (a full disk, a read-only place, a file where a folder goes)."""


class RunFolderBusyError(HARError, RuntimeError):
    """Another live process holds the run folder's lock."""


def expect(condition: bool, message: str, error: type[HARError] = InvalidInputError) -> None:
    """Raise ``error(message)`` unless ``condition`` holds."""
    if not condition:
        raise error(message)
