"""What every command-line face shares: a one-line ``error: ...`` and exit code 2 on bad input, and a clean
``interrupted`` on Ctrl-C (SIGINT, exit 130) or SIGTERM (exit 143)."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable

from har_tf.errors import HARError, InvalidInputError
from har_tf.io import is_write_failure


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM (or SIGINT) arrives: a ``KeyboardInterrupt``, so every
    ``except BaseException`` clean-up (temporary files, half-written outputs) runs as on Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []  # the signals that arrived during run_cli's main


def _on_signal(signum, frame) -> None:
    _received.append(signum)
    raise Interrupted(signum)


def _install_signal_handlers() -> dict:
    """Route SIGINT and SIGTERM to :func:`_on_signal` (where they have their default handlers); returns
    the handlers replaced."""
    _received.clear()
    replaced = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(signum)
        if previous in (signal.SIG_DFL, signal.default_int_handler):
            try:
                signal.signal(signum, _on_signal)
            except ValueError:  # not the main thread: leave the signals alone
                break
            replaced[signum] = previous
    return replaced


def _one_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def run_cli(main: Callable[[], int]) -> None:
    """Run ``main`` and exit with its code; a :class:`HARError` becomes one line on stderr, exit 2.

    SIGINT and SIGTERM raise :class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, so the
    clean-up of half-written outputs runs; the command then prints ``interrupted`` and exits 130
    (SIGINT) or 143 (SIGTERM), also when the signal surfaced as another error from inside TensorFlow.
    A write that failed because of the place (full disk, read-only) is one ``error:`` line, exit 2.

    TensorFlow's Python warnings (e.g. "triggered tf.function retracing" when a model predicts on a
    last, smaller batch) are hidden: they are about speed, not results, and drown the progress lines.
    """
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    replaced = _install_signal_handlers()
    try:
        code = main()
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - every outcome is one line
        code = _outcome(err)
    finally:
        for signum, handler in replaced.items():
            signal.signal(signum, handler)
    sys.exit(code)


def _outcome(err: BaseException) -> int:
    """Print the one line for ``err`` and return the exit code; re-raise what is a bug."""
    if _received or isinstance(err, KeyboardInterrupt):
        signum = _received[0] if _received else getattr(err, "signum", signal.SIGINT)
        print(
            "interrupted" if signum == signal.SIGINT else f"interrupted ({signal.Signals(signum).name})",
            file=sys.stderr,
        )
        return 128 + int(signum)
    if isinstance(err, HARError):
        print(f"error: {err}", file=sys.stderr)
        return 2
    if is_write_failure(err):
        where = getattr(err, "filename", None)
        print(f"error: cannot write{f' {where}' if where else ''}: {_one_line(err)}", file=sys.stderr)
        return 2
    raise err


def check_at_least(option: str, value: int | float | None, low: int | float) -> None:
    """A command-line number that must be ``>= low`` (``None``: not given, fine); one line otherwise."""
    if value is not None and not value >= low:
        raise InvalidInputError(f"{option} must be at least {low}, got {value}")


def check_between(option: str, value: float | None, low: float, high: float, high_open: bool = False) -> None:
    """A command-line number that must lie in ``[low, high]`` (``[low, high)`` with ``high_open``)."""
    if value is None:
        return
    inside = low <= value < high if high_open else low <= value <= high
    if not inside:
        raise InvalidInputError(f"{option} must be in [{low:g}, {high:g}{')' if high_open else ']'}, got {value}")
