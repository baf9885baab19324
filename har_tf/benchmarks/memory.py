"""Jobs run in a fresh child process, so that their peak memory is theirs alone.

:func:`run_job` starts ``python -m har_tf.benchmarks.memory JOB KWARGS_JSON``; the child imports
TensorFlow, Keras and the job's module, notes its resident memory (``VmRSS``), runs the job and reports
its result and its peak resident memory (``VmHWM`` of ``/proc/self/status``: the whole process, imports
included; ``ru_maxrss`` where there is no ``/proc``) as one JSON line on stdout.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

JOBS = {
    "stage1": "har_tf.benchmarks.training:stage1_throughput",
    "stage2": "har_tf.benchmarks.training:stage2_throughput",
    "streaming": "har_tf.benchmarks.streaming:stream_fresh_fusion",
    "large_data": "har_tf.benchmarks.large_data:train_epoch",
}
"""Job name -> ``module:function`` (keyword arguments from JSON, a JSON-ready dict back)."""
RESULT_PREFIX = "HAR_TF_JOB_RESULT "


class JobError(RuntimeError):
    """A child job failed; the message ends with the tail of its stderr."""


def status_mb(field: str, pid: int | str = "self") -> float | None:
    """A ``kB`` field of ``/proc/PID/status`` (``VmRSS``, ``VmHWM``) in MB, or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024.0, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process so far (MB)."""
    peak = status_mb("VmHWM")
    if peak is None:
        try:
            import resource

            scale = 1024.0 * 1024.0 if sys.platform == "darwin" else 1024.0  # bytes on macOS, kB on Linux
            peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale, 1)
        except (ImportError, OSError):
            return None
    return peak


def rss_mb() -> float | None:
    """Resident memory of this process now (MB)."""
    return status_mb("VmRSS")


def reset_peak_rss() -> bool:
    """Restart ``VmHWM`` from the current resident memory (Linux ``/proc/self/clear_refs``); False where
    that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_job(job: str, kwargs: dict | None = None, timeout: float = 600.0) -> dict:
    """Run ``job`` in a fresh Python process: ``{"result", "peak_rss_mb", "rss_after_imports_mb",
    "seconds"}``. Raises :class:`JobError` when the child fails."""
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}; choose one of {sorted(JOBS)}")
    root = str(Path(__file__).resolve().parents[2])
    path = os.environ.get("PYTHONPATH")
    env = {
        **os.environ,
        "PYTHONPATH": root + (os.pathsep + path if path else ""),
        "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
    }
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "har_tf.benchmarks.memory", job, json.dumps(kwargs or {})],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
    except subprocess.TimeoutExpired as err:
        raise JobError(f"job {job} ran past {timeout:g} s") from err
    lines = [line for line in proc.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if proc.returncode != 0 or not lines:
        tail = "\n".join(proc.stderr.strip().splitlines()[-8:])
        raise JobError(f"job {job} failed (exit {proc.returncode}):\n{tail}")
    report = json.loads(lines[-1][len(RESULT_PREFIX) :])
    return {**report, "seconds": round(time.perf_counter() - start, 1)}


def _child(job: str, kwargs_json: str) -> None:
    import tensorflow as tf

    importlib.import_module("keras")  # the imports every job pays for, before the baseline is read

    tf.get_logger().setLevel("ERROR")
    module, function = JOBS[job].split(":")
    fn = getattr(importlib.import_module(module), function)
    after_imports = rss_mb()
    result = fn(**json.loads(kwargs_json))
    peaks = [peak_rss_mb(), (result.get("memory") or {}).get("peak_rss_setup_mb")]  # a job may reset the peak
    peak = max((p for p in peaks if p is not None), default=None)
    report = {"job": job, "result": result, "peak_rss_mb": peak, "rss_after_imports_mb": after_imports}
    print(RESULT_PREFIX + json.dumps(report), flush=True)


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "{}")
