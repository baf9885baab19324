#!/usr/bin/env python
"""Train several pose models with the same data, settings and epoch budget, and tabulate them.

    python scripts/compare_models.py --config configs/motions_poseformer.yaml --out saved_models/compare_motions
    python scripts/compare_models.py --models poseformer lstm_lite --epochs 20 --out saved_models/compare

Each model gets its own run folder (``OUT/<model>/``, as written by ``scripts/train.py --stage pose``);
``OUT/comparison.json`` and ``OUT/comparison.md`` hold test accuracy, macro-F1, sequence-level
accuracy (long sequences), parameters and training time side by side. Only ``model`` differs
between the runs; everything else comes from the same config.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None, help="YAML or JSON training settings")
    parser.add_argument("--models", nargs="+", default=["poseformer", "full_attention", "lstm_lite"],
                        choices=("poseformer", "full_attention", "lstm_lite"))  # fmt: skip
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--preset", choices=("micro", "small", "base"), default=None)
    parser.add_argument("--clips-per-class", type=int, nargs=3, default=None, metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    from har_tf.training.config import load_train_config
    from har_tf.training.stage1 import load_training_data, train_stage1

    base = {"epochs": args.epochs, "preset": args.preset,
            "synthetic_clips_per_class": tuple(args.clips_per_class) if args.clips_per_class else None}  # fmt: skip
    config = load_train_config(args.config, base)
    dataset, _ = load_training_data(config, args.cache_dir)
    rows = []
    for name in args.models:
        run_config = load_train_config(args.config, {**base, "model": name})
        print(f"=== {name} ===", flush=True)
        metrics = train_stage1(run_config, args.out / name, dataset=dataset)
        rows.append({
            "model": name, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "sequence_accuracy": metrics.get("sequence_level", {}).get("accuracy"),
            "parameters": metrics["parameters"], "training_seconds": metrics["training_seconds"],
            "epochs_run": metrics.get("epochs_run"),
        })  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "comparison.json").write_text(json.dumps({"config": config.to_dict(), "results": rows}, indent=2))
    lines = ["| model | test accuracy | macro-F1 | sequence-level accuracy | parameters | training time | epochs |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        seq = f"{r['sequence_accuracy']:.1%}" if r["sequence_accuracy"] is not None else "—"
        lines.append(f"| {r['model']} | {r['accuracy']:.1%} | {r['macro_f1']:.3f} | {seq} | {r['parameters']:,} | "
                     f"{r['training_seconds'] / 60:.1f} min | {r['epochs_run']} |")  # fmt: skip
    table = "\n".join(lines)
    (args.out / "comparison.md").write_text(table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    from har_tf.cli import run_cli

    run_cli(main)
