"""The benchmark suites by name: ``suite(args, machine) -> (JSON-ready result, Markdown)``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from har_tf.benchmarks.all_in_one import suite_all
from har_tf.benchmarks.cost import suite_cost
from har_tf.benchmarks.export import suite_export
from har_tf.benchmarks.fusion import suite_fusion
from har_tf.benchmarks.long_video import suite_long_video
from har_tf.benchmarks.modalities import suite_modalities
from har_tf.benchmarks.streaming import suite_streaming

Suite = Callable[[argparse.Namespace, dict], tuple[dict, str]]

SUITES: dict[str, Suite] = {
    "all": suite_all,
    "cost": suite_cost,
    "fusion": suite_fusion,
    "export": suite_export,
    "streaming": suite_streaming,
    "long_video": suite_long_video,
    "modalities": suite_modalities,
}
"""Suite name -> function. ``all`` is the all-in-one run; the others are the detailed suites."""


def run_suite(args: argparse.Namespace) -> tuple[dict, str]:
    """Run ``args.suite`` (TensorFlow intra-op threads from ``args.threads`` when set); the result carries the
    machine block and the run's seconds."""
    import time

    import tensorflow as tf

    from har_tf.benchmarks.machine import machine_info

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    start = time.perf_counter()
    result, markdown = SUITES[args.suite](args, machine_info())
    return {**result, "seconds": round(time.perf_counter() - start, 1)}, markdown
