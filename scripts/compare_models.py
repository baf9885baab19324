#!/usr/bin/env python
"""Train several pose models with the same data, settings and budget, over one or more seeds, and tabulate them.

    python scripts/compare_models.py --config configs/motions_poseformer.yaml --seeds 0 1 2 \
        --out saved_models/compare_motions
    python scripts/compare_models.py --models poseformer lstm_lite --epochs 20 --out saved_models/compare
    python scripts/compare_models.py --config configs/motions_poseformer.yaml --time-budget 10 --out DIR

Each run gets its own folder (``OUT/<model>/`` or, with several seeds, ``OUT/<model>/seed<k>/``, as
written by ``scripts/train.py --stage pose``). ``OUT/comparison.json`` holds every run;
``OUT/comparison.md`` has one row per model: test accuracy (centre window), macro-F1 and
sequence-level accuracy as mean ± standard deviation over the seeds, parameters, training time,
epochs and the latency of one clip (batch 1, median of up to 50 calls on this machine's CPU). Only
``model`` and ``seed`` differ between runs; everything else comes from the same config.
``--time-budget`` gives every run the same wall-clock limit (minutes), for models too slow to
finish the epoch budget. A rerun into the same ``--out`` keeps the runs that finished with the same
settings and trains the others (interrupted runs resume from their last epoch).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

MODELS = ("poseformer", "full_attention", "lstm_lite", "ddnet")


def _spread(values: list[float | None], percent: bool = True) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    scale, unit = (100.0, "%") if percent else (1.0, "")
    mean = f"{scale * np.mean(values):.1f}{unit}" if percent else f"{np.mean(values):.3f}"
    if len(values) == 1:
        return mean
    sd = f"{scale * np.std(values, ddof=1):.1f}" if percent else f"{np.std(values, ddof=1):.3f}"
    return f"{mean} ± {sd}"


def summarise(rows: list[dict]) -> str:
    """The Markdown table: one line per model, mean ± sd over its seeds."""
    seeds = sorted({r["seed"] for r in rows})
    lines = [
        "| model | test accuracy | macro-F1 | sequence-level accuracy | parameters | training time | epochs | "
        "latency per clip |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model in dict.fromkeys(r["model"] for r in rows):
        runs = [r for r in rows if r["model"] == model]
        minutes = np.mean([r["training_seconds"] for r in runs]) / 60
        epochs = "/".join(str(r["epochs_run"]) for r in runs)
        lines.append(
            f"| {model} | {_spread([r['accuracy'] for r in runs])} | "
            f"{_spread([r['macro_f1'] for r in runs], percent=False)} | "
            f"{_spread([r['sequence_accuracy'] for r in runs])} | {runs[0]['parameters']:,} | "
            f"{minutes:.1f} min | {epochs} | {np.mean([r['latency_ms'] for r in runs]):.1f} ms |"
        )
    if len(seeds) > 1:
        lines += ["", f"Mean ± standard deviation over seeds {', '.join(map(str, seeds))}; per seed:", ""]
        for r in rows:
            seq = f", sequence level {r['sequence_accuracy']:.1%}" if r["sequence_accuracy"] is not None else ""
            lines.append(f"- {r['model']} seed {r['seed']}: {r['accuracy']:.1%}{seq}, {r['epochs_run']} epochs")
    return "\n".join(lines)


def clip_latency_ms(model_path: Path) -> float:
    """Median milliseconds of one clip through the saved model (batch 1, after warm-up)."""
    import keras

    from har_tf.benchmarks.timing import time_call

    model = keras.saving.load_model(model_path, safe_mode=True)
    clip = np.zeros((1, *model.input_shape[1:]), np.float32)
    clip[..., -1] = 1.0
    return round(time_call(lambda: model.predict_on_batch(clip), runs=50, max_seconds=5.0)["median_ms"], 2)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None, help="YAML or JSON training settings")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="one run per seed (default: the config's)")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument(
        "--time-budget", type=float, default=None, metavar="MINUTES", help="wall-clock limit for each run's training"
    )
    parser.add_argument("--preset", choices=("micro", "small", "base"), default=None)
    parser.add_argument("--clips-per-class", type=int, nargs=3, default=None, metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--data", default=None, help="a pose dataset NPZ (default: the config's, else synthetic)")
    args = parser.parse_args(argv)

    from har_tf.cli import check_at_least
    from har_tf.io import check_output_dir, run_folder_lock

    check_at_least("--epochs", args.epochs, 1)
    for seed in args.seeds or ():
        check_at_least("--seeds", seed, 0)
    for count in args.clips_per_class or ():
        check_at_least("--clips-per-class", count, 1)
    if args.time_budget is not None and not args.time_budget > 0:
        from har_tf.errors import InvalidInputError

        raise InvalidInputError(f"--time-budget must be a positive number of minutes, got {args.time_budget}")
    check_output_dir(args.out, "--out")
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")
    with run_folder_lock(args.out):
        return compare(args)


def compare(args: argparse.Namespace) -> int:
    """Train (or keep) every model and seed into ``args.out`` and write the comparison table."""
    from har_tf.io import write_text_atomic
    from har_tf.training.config import load_train_config
    from har_tf.training.stage1 import load_training_data, stage1_finished, train_stage1

    base = {
        "data": args.data,
        "epochs": args.epochs,
        "preset": args.preset,
        "time_budget_minutes": args.time_budget,
        "synthetic_clips_per_class": tuple(args.clips_per_class) if args.clips_per_class else None,
    }
    config = load_train_config(args.config, base)
    seeds = args.seeds or [config.seed]
    dataset, _ = load_training_data(config, args.cache_dir)
    rows = []
    for name in args.models:
        for seed in seeds:
            run_config = load_train_config(args.config, {**base, "model": name, "seed": seed})
            folder = args.out / name / (f"seed{seed}" if len(seeds) > 1 else "")
            if stage1_finished(folder, run_config):
                print(f"=== {name}, seed {seed}: finished earlier with the same settings, kept ===", flush=True)
                metrics = json.loads((folder / "metrics.json").read_text())
            else:
                print(f"=== {name}, seed {seed} ===", flush=True)
                metrics = train_stage1(run_config, folder, dataset=dataset)
            latency = clip_latency_ms(folder / "pose_model.keras")
            rows.append(
                {
                    "model": name,
                    "seed": seed,
                    "accuracy": metrics["accuracy"],
                    "macro_f1": metrics["macro_f1"],
                    "sequence_accuracy": metrics.get("sequence_level", {}).get("accuracy"),
                    "parameters": metrics["parameters"],
                    "training_seconds": metrics["training_seconds"],
                    "epochs_run": metrics.get("epochs_run"),
                    "latency_ms": latency,
                    "notes": metrics.get("notes", []),
                }
            )
    write_text_atomic(
        args.out / "comparison.json",
        json.dumps({"config": config.to_dict(), "seeds": seeds, "results": rows}, indent=2),
    )
    table = summarise(rows)
    write_text_atomic(args.out / "comparison.md", table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    from har_tf.cli import run_cli

    run_cli(main)
