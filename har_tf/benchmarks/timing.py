"""Timed calls: median and p95 of many runs after warm-up, with a cap on the seconds one figure takes."""

from __future__ import annotations

import time
from collections.abc import Callable


def time_call(
    call: Callable[[], object],
    runs: int,
    warmup: int = 3,
    max_seconds: float | None = None,
    min_runs: int = 3,
    batch_size: int = 1,
) -> dict:
    """Latency of ``call()`` (which must wait for its result): ``warmup`` untimed calls (at least 1, the
    first usually traces), then ``runs`` timed ones, fewer (but at least ``min_runs``) when the last
    warm-up call says that ``runs`` would take more than ``max_seconds``.

    Returns the keys of :func:`har_tf.models.cost.time_calls` (per call) plus ``batch_size``,
    ``median_ms_per_clip``, ``p95_ms_per_clip``, ``runs_asked`` and ``capped`` (runs were cut).
    """
    from har_tf.models.cost import time_calls

    warmup = max(int(warmup), 1)
    for _ in range(warmup):
        start = time.perf_counter()
        call()
        last = time.perf_counter() - start
    planned = int(runs)
    if max_seconds is not None and last * planned > max_seconds:
        planned = max(int(min_runs), int(max_seconds / max(last, 1e-9)))
        planned = min(planned, int(runs))
    result = time_calls(call, planned, warmup=0)
    return {
        **result,
        "warmup": warmup,
        "batch_size": int(batch_size),
        "runs_asked": int(runs),
        "capped": planned < runs,
        "median_ms_per_clip": result["median_ms"] / batch_size,
        "p95_ms_per_clip": result["p95_ms"] / batch_size,
    }


class Stopwatch:
    """Seconds spent in each named section of a run, printed as each one ends."""

    def __init__(self) -> None:
        self.sections: dict[str, float] = {}
        self.loads: dict[str, float] = {}  # the 1-minute load average as each section ended
        self._start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def section(self, name: str) -> _Section:
        """A context manager that times one section (printed at its start and end)."""
        return _Section(self, name)

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to a section timed piecewise."""
        self.sections[name] = round(self.sections.get(name, 0.0) + seconds, 1)


class _Section:
    def __init__(self, watch: Stopwatch, name: str) -> None:
        self.watch, self.name = watch, name

    def __enter__(self) -> _Section:
        print(f"== {self.name} (at {self.watch.elapsed():.0f} s)", flush=True)
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        from har_tf.benchmarks.machine import load_average

        seconds = round(time.perf_counter() - self.start, 1)
        self.watch.sections[self.name] = seconds
        load = load_average()
        if load:
            self.watch.loads[self.name] = load[0]
        print(
            f"== {self.name}: {seconds} s{' (failed)' if exc[0] else ''}"
            + (f", load average {load[0]}" if load else ""),
            flush=True,
        )
