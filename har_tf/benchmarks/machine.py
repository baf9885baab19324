"""The machine a benchmark ran on: CPU, cores, load, library versions and date."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the system does not say."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` (Linux), else what :mod:`platform` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """CPU model, cores, load, library versions and date of this run."""
    import keras
    import tensorflow as tf

    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "load_average_1_5_15min": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "gpus_visible": len(tf.config.list_physical_devices("GPU")),
        "device": "/CPU:0",
        "date": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
    }


def describe(machine: dict, load_at_end: list[float] | None = None) -> str:
    """One line for a Markdown footer: CPU, cores, versions, date and load."""
    load = machine.get("load_average_1_5_15min")
    text = (
        f"{machine['cpu']}, {machine['cores']} cores, TensorFlow {machine['tensorflow']}, "
        f"Keras {machine['keras']}, {machine['date']}"
    )
    if load:
        text += f", load average {load[0]} at start"
    if load_at_end:
        text += f", {load_at_end[0]} at the end"
    return text
