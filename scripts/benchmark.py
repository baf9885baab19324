#!/usr/bin/env python
"""Benchmarks: what the models cost, how fast they train and stream, how much memory they take.

    python scripts/benchmark.py --out saved_models/bench                            # everything, < 10 min on 2 cores
    python scripts/benchmark.py --out /tmp/bench --quick                            # the same, tiny (1-2 min)
    python scripts/benchmark.py --out saved_models/bench_full --full                # every export, more runs
    python scripts/benchmark.py --suite cost --out saved_models/bench_cost          # small preset, 50 runs
    python scripts/benchmark.py --suite fusion --out saved_models/bench_fusion      # backbones, feature cache
    python scripts/benchmark.py --suite export --pose-model RUN/pose_model.keras \
        --fusion-model RUN/fusion_model.keras --out DIR
    python scripts/benchmark.py --suite streaming --fusion-model RUN/fusion_model.keras --out DIR
    python scripts/benchmark.py --suite long_video --fusion-model RUN/fusion_model.keras --out DIR  # memory
    python scripts/benchmark.py --suite modalities --data utd_mhad.npz --config configs/utd_mhad.yaml --out DIR

Without ``--suite`` (or with ``--suite all``), one run measures: each model (PoseFormerFactorized
micro/small/base, FullAttentionTransformer small, LSTMLite, the fusion model, the image-only model; fresh
and untrained) with its parameters, FLOPs per clip and latency per clip at batch 1 and 32 in Keras, and
SavedModel / TFLite fp32, fp16, int8, int8_full for PoseFormerFactorized micro, TFLite fp32 and int8 for
the fusion model (``--full``: every export of every model at both batch sizes);
factorized vs full attention (FLOPs and latency ratios at J = 17 and 25, latency against T = 15..120);
streaming latency by stage on one real clip (``--video``, default ``../shared/data/videos/ta_chi.mp4``,
with MoveNet from ``../shared/models``; skipped, saying why, when absent); stage-1 and stage-2 training
samples per second with and without the feature cache; the peak memory of each training and streaming
job (a fresh process each). It writes ``OUT/benchmark.json``, ``OUT/benchmark.md`` (the README's tables)
and PNG figures, and prints each section's time.

The suites (``--suite``) are the long, detailed versions: ``cost`` (the three backbones at J = 17 and 25,
batch 1 and 64, T sweep; ``--preset``, ``--max-seconds`` skips slow sweep points), ``fusion`` (every
image backbone per frame, stage-2 epoch time with and without the cache on the default data), ``export``
(size, parity on ``--samples`` held-out clips and latency of every export of trained ``.keras`` files;
exports kept under ``OUT/exports``), ``streaming`` (a trained fusion model over every clip of
``--videos`` in several configurations), ``long_video`` (peak memory of ``scripts/predict_video.py`` on
``--video`` looped to ``--frames`` frames against a tenth of them), ``modalities`` (on a multimodal
``--data`` set such as UTD-MHAD, with the ``--config`` recipe, over ``--seeds``: the skeleton in 3D
and 2D, depth, inertial, each fused with the skeleton and all three; accuracy and macro-F1 mean ± sd,
the best fused model's confusion matrix, each branch's parameters and latency). See ``har_tf.benchmarks``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from har_tf.benchmarks.suites import SUITES
from har_tf.errors import InvalidInputError
from har_tf.io import check_output_dir

PRESET_CHOICES = ("micro", "small", "base")
SUITE_DEFAULTS = {"runs": 50, "warmup": 5, "max_seconds": 30.0}  # the detailed suites'; `all` has its own


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one-line :class:`InvalidInputError` (exit 2 through ``run_cli``)."""

    def error(self, message: str):
        raise InvalidInputError(message)


def parse_args(argv=None) -> argparse.Namespace:
    parser = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", default="all", help=f"which benchmark: {', '.join(SUITES)} (default all)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (benchmark.json, benchmark.md, PNGs)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="all: micro only, few runs, one fast export, 40 streamed frames; cost: T sweep (15, 30) "
        "and batch 8; fusion: one backbone, a small data set, the frozen phase; streaming: two "
        "configurations on two clips",
    )
    parser.add_argument(
        "--full",
        action="store_true",
        help="all: every export of every model at batch 1 and 32, both stage-2 phases, 50 runs",
    )
    parser.add_argument("--runs", type=int, default=None, help="timed calls per latency figure (all: 20, suites: 50)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed calls first (all: 2, suites: 5)")
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=None,
        help="all: seconds of timed calls per figure, fewer runs beyond (default 2.5); cost: skip a "
        "T-sweep point whose timed runs would take longer (default 30)",
    )
    parser.add_argument(
        "--preset", default="small", help=f"cost suite: transformer size, {', '.join(PRESET_CHOICES)} (default small)"
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="fusion suite: backbone input size (default: the training default, 128)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="all and fusion: synthetic data and feature cache (default ~/.cache/har_tf)",
    )
    parser.add_argument("--pose-model", type=Path, default=None, help="export suite: a stage-1 pose_model.keras")
    parser.add_argument(
        "--fusion-model", type=Path, default=None, help="export and streaming suites: a fusion_model.keras"
    )
    parser.add_argument(
        "--samples", type=int, default=200, help="export suite: held-out clips for parity (default 200)"
    )
    parser.add_argument(
        "--video", type=Path, default=None, help="all: the clip streamed (default ../shared/data/videos/ta_chi.mp4)"
    )
    parser.add_argument(
        "--videos", type=Path, default=None, help="streaming suite: folder of clips (default ../shared/data/videos)"
    )
    parser.add_argument(
        "--frames", type=int, default=10_000, help="long_video suite: frames of the looped video (default 10,000)"
    )
    parser.add_argument(
        "--movenet", type=Path, default=None, help="all and streaming: MoveNet .tflite (default ../shared/models)"
    )
    parser.add_argument(
        "--stride", type=int, default=5, help="all and streaming: frames between predictions (default 5)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="modalities suite: a multimodal dataset NPZ (e.g. from scripts/convert_utd_mhad.py)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="modalities suite: the training recipe, YAML or JSON (e.g. configs/utd_mhad.yaml)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="modalities suite: seeds (default 0 1 2)")
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="TensorFlow intra-op threads (default 0: TensorFlow's choice); TFLite threads (default 2)",
    )
    args = parser.parse_args(argv)
    if args.suite not in SUITES:
        raise InvalidInputError(f"unknown suite {args.suite!r}; choose one of {sorted(SUITES)}")
    if args.preset not in PRESET_CHOICES:
        raise InvalidInputError(f"unknown preset {args.preset!r}; choose one of {list(PRESET_CHOICES)}")
    if args.runs is not None and args.runs < 1:
        raise InvalidInputError(f"--runs must be at least 1, got {args.runs}")
    if args.warmup is not None and args.warmup < 0:
        raise InvalidInputError(f"--warmup must be 0 or more, got {args.warmup}")
    if args.max_seconds is not None and not args.max_seconds > 0:
        raise InvalidInputError(f"--max-seconds must be positive, got {args.max_seconds}")
    if args.threads < 0:
        raise InvalidInputError(f"--threads must be 0 or more, got {args.threads}")
    if args.frames < 200:
        raise InvalidInputError(f"--frames must be at least 200, got {args.frames}")
    if args.stride < 1:
        raise InvalidInputError(f"--stride must be at least 1, got {args.stride}")
    if args.quick and args.full:
        raise InvalidInputError("--quick and --full exclude each other")
    if args.full and args.suite != "all":
        raise InvalidInputError("--full applies to the all-in-one run (no --suite, or --suite all)")
    check_output_dir(args.out, "--out")
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")
    if args.samples < 1:
        raise InvalidInputError(f"--samples must be at least 1, got {args.samples}")
    if args.image_size is not None and args.image_size < 32:
        raise InvalidInputError(f"--image-size must be at least 32, got {args.image_size}")
    if args.suite != "all":
        for name, value in SUITE_DEFAULTS.items():
            if getattr(args, name) is None:
                setattr(args, name, value)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    from har_tf.benchmarks.report import write_text
    from har_tf.benchmarks.suites import run_suite
    from har_tf.training.metrics import write_metrics_json

    result, markdown = run_suite(args)
    write_metrics_json(args.out / "benchmark.json", result)
    write_text(args.out / "benchmark.md", markdown)
    print()
    print(markdown)
    print(f"wrote {args.out / 'benchmark.json'} and {args.out / 'benchmark.md'} ({result['seconds']} s)")
    for error in result.get("errors") or []:
        print(f"error: {error}", file=sys.stderr)
    return 1 if result.get("errors") else 0


if __name__ == "__main__":
    from har_tf.cli import run_cli

    run_cli(main)
