#!/usr/bin/env python
"""Evaluate a trained pose classifier on a dataset's test split (or another split).

    python scripts/evaluate.py --model saved_models/run/pose_model.keras --data synthetic --out saved_models/run/eval
    python scripts/evaluate.py --model m.keras --data data/motions_body25_pose.npz --out eval --sampling window

Writes ``metrics.json`` (same keys as training), ``classification_report.txt``, ``confusion_matrix.png``
and ``predictions.csv`` (one row per sequence). With ``--sampling window`` (the default for long
sequences) it reports the centre-window protocol and, under ``sequence_level``, the mean over sliding
windows, with ``predictions_sequence_level.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a .keras model written by scripts/train.py")
    parser.add_argument("--data", default="synthetic", help="'synthetic' (default) or a pose dataset NPZ path")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--split", default="test", choices=("train", "val", "test"))
    parser.add_argument("--sampling", default="auto", choices=("auto", "window", "resample"))
    parser.add_argument("--cache-dir", type=Path, default=None, help="synthetic data cache (default ~/.cache/har_tf)")
    args = parser.parse_args(argv)

    from har_tf.io import check_output_dir
    from har_tf.models.saving import load_keras_model
    from har_tf.training.config import TrainConfig
    from har_tf.training.evaluation import evaluate_classifier, write_evaluation
    from har_tf.training.stage1 import check_model_matches, choose_sampling, load_training_data

    check_output_dir(args.out, "--out")
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")
    model = load_keras_model(args.model)
    num_frames = int(model.input_shape[1])
    config = TrainConfig(data=args.data, num_frames=num_frames, sampling=args.sampling)
    dataset, _ = load_training_data(config, args.cache_dir)
    check_model_matches(model, dataset)
    x, y = dataset.split(args.split)
    sampling = choose_sampling(config, x)
    names = list(dataset.class_names)
    result = evaluate_classifier(
        model,
        x,
        y,
        dataset.layout,
        names,
        num_frames,
        sampling,
        dataset.extras.get("class_group"),
        [str(g) for g in dataset.extras.get("group_names", [])],
        channels=dataset.channels,
    )
    extra = {
        "model_file": str(args.model),
        "data": args.data,
        "split": args.split,
        "sampling": sampling,
        "parameters": int(model.count_params()),
    }
    metrics = write_evaluation(args.out, result, y, names, extra, f"{args.model.name} on {args.split}")
    print(
        f"{args.split}: accuracy {metrics['accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.3f} "
        f"({metrics['protocol']}, {metrics['num_test']} sequences)"
    )
    if "sequence_level" in metrics:
        print(f"sequence level: accuracy {metrics['sequence_level']['accuracy']:.1%}")
    print(f"wrote {args.out / 'metrics.json'} and the report files in {args.out}")
    return 0


if __name__ == "__main__":
    from har_tf.cli import run_cli

    run_cli(main)
