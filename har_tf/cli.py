"""What every command-line face shares: a one-line ``error: ...`` and exit code 2 on bad input."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from har_tf.errors import HARError


def run_cli(main: Callable[[], int]) -> None:
    """Run ``main`` and exit with its code; a :class:`HARError` becomes one line on stderr, exit 2.

    TensorFlow's Python warnings (e.g. "triggered tf.function retracing" when a model predicts on a
    last, smaller batch) are hidden: they are about speed, not results, and drown the progress lines.
    """
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        code = main()
    except HARError as err:
        print(f"error: {err}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
