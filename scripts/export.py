#!/usr/bin/env python
"""Export a trained model for TF Serving (SavedModel) and for devices (TFLite), each checked against Keras.

    python scripts/export.py --model saved_models/run/fusion_model.keras --out saved_models/har
    python scripts/export.py --model saved_models/run/pose_model.keras --out saved_models/har_pose \\
        --format savedmodel tflite --quantization fp32 fp16 int8 int8_full
    python scripts/export.py --model M.keras --out saved_models/har --version 3 --force    # replace version 3

SavedModel: ``OUT/<version>/`` (next version number by default), built in a temporary folder and
renamed into place when checked, plus ``OUT/models.config`` for ``tensorflow_model_server
--model_config_file``. Signatures ``serving_default`` (pose [+ frames] [+ objects] [+ imu] -> probabilities),
``pose_only`` and ``topk`` (class_ids, class_names, scores). TFLite: ``OUT/tflite/<model>_<quant>.tflite``
(``_b1`` with ``--batch-one``) and a ``.json`` beside each with classes, shapes and the parity report.

Parity: every export is run on held-out clips of ``--data`` (default: the data the model was trained
on, from the ``config.json`` beside it) and must agree with the Keras model's top-1 class on at least
99% of them (fp32, fp16, SavedModel) or 97% (int8, int8_full); otherwise nothing is written and the
command fails. int8_full calibrates on clips of the training split. The clips carry the data's objects
and wearable-sensor samples (``objects_<split>``, ``imu_<split>``) for a model with those branches.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, required=True, help="a .keras model written by scripts/train.py")
    parser.add_argument("--out", type=Path, required=True, help="the TF Serving model folder, e.g. saved_models/har")
    parser.add_argument("--format", nargs="+", choices=("savedmodel", "tflite"), default=["savedmodel"])
    parser.add_argument(
        "--quantization",
        nargs="+",
        choices=("fp32", "fp16", "int8", "int8_full"),
        default=["fp32"],
        help="TFLite quantisation(s) (default fp32)",
    )
    parser.add_argument("--batch-one", action="store_true", help="TFLite with a fixed batch of 1 (for devices)")
    parser.add_argument("--version", type=int, default=None, help="SavedModel version (default: the next number)")
    parser.add_argument("--force", action="store_true", help="replace an existing SavedModel version")
    parser.add_argument("--top-k", type=int, default=5, help="k of the topk signature (default 5)")
    parser.add_argument(
        "--data",
        default=None,
        help="'synthetic' or a dataset NPZ for the parity clips (default: the model's training data)",
    )
    parser.add_argument("--samples", type=int, default=200, help="held-out clips for the parity checks (default 200)")
    parser.add_argument(
        "--calibration", type=int, default=100, help="training clips calibrating int8_full (default 100)"
    )
    parser.add_argument(
        "--min-agreement",
        type=float,
        default=None,
        help="top-1 agreement required (default 0.99 for fp32/fp16/SavedModel, 0.97 for int8)",
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="synthetic data cache (default ~/.cache/har_tf)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from har_tf.cli import check_at_least, check_between
    from har_tf.errors import InvalidInputError
    from har_tf.export import export_samples, export_saved_model, export_tflite, held_out_split, make_servable
    from har_tf.io import check_output_dir
    from har_tf.models.saving import load_keras_model
    from har_tf.training.config import run_config
    from har_tf.training.stage1 import load_training_data

    if args.samples < 1 or args.calibration < 1:
        raise InvalidInputError("--samples and --calibration must be at least 1")
    check_between("--min-agreement", args.min_agreement, 0.0, 1.0)
    check_at_least("--top-k", args.top_k, 1)
    check_at_least("--version", args.version, 1)
    check_output_dir(args.out, "--out")
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")
    if (
        "savedmodel" in args.format
        and args.version is not None
        and (args.out / str(args.version)).exists()
        and not args.force
    ):
        raise InvalidInputError(
            f"{args.out / str(args.version)} already exists: pass --force to replace it, or "
            "leave --version out to write the next version"
        )
    model = load_keras_model(args.model)
    config = run_config(args.model, args.data)
    dataset, _ = load_training_data(config, args.cache_dir)
    servable = make_servable(model, layout=dataset.layout)
    if list(servable.spec.class_names) != list(dataset.class_names):
        raise InvalidInputError(
            f"the model's classes {list(servable.spec.class_names)} differ from the data's "
            f"{list(dataset.class_names)}: pass the data it was trained on (--data)"
        )
    split = held_out_split(dataset)
    samples = export_samples(dataset, split, servable.spec, limit=args.samples)
    print(
        f"{servable.spec.kind} model {args.model} ({servable.spec.num_classes} classes); parity on "
        f"{len(samples['pose'])} {split} clips"
    )
    source = {"source_model": str(args.model)}
    rows = []
    if "savedmodel" in args.format:
        start = time.perf_counter()
        kwargs = {} if args.min_agreement is None else {"min_agreement": args.min_agreement}
        path = export_saved_model(
            servable,
            args.out,
            samples=samples,
            version=args.version,
            force=args.force,
            top_k=args.top_k,
            extra_info=source,
            **kwargs,
        )
        info = json.loads((path / "assets.extra" / "export_info.json").read_text())
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        rows.append(("SavedModel", path, size, info["parity"], time.perf_counter() - start))
        print(f"wrote {path} and {args.out / 'models.config'}")
    if "tflite" in args.format:
        calibration = None
        if "int8_full" in args.quantization:
            calibration = export_samples(dataset, "train", servable.spec, limit=args.calibration, seed=1)
        for quantization in args.quantization:
            start = time.perf_counter()
            name = f"{args.model.stem}_{quantization}{'_b1' if args.batch_one else ''}.tflite"
            path = args.out / "tflite" / name
            info = export_tflite(
                servable,
                path,
                quantization=quantization,
                samples=samples,
                representative=calibration,
                batch_size=1 if args.batch_one else None,
                min_agreement=args.min_agreement,
                extra_info=source,
            )
            rows.append(
                (f"TFLite {quantization}", path, info["size_bytes"], info["parity"], time.perf_counter() - start)
            )
            print(f"wrote {path}")
    fp32 = next((size for label, _, size, _, _ in rows if label == "TFLite fp32"), None)
    print(
        "\n| export | size | of TFLite fp32 | top-1 agreement | max abs diff | seconds | file |\n"
        "|---|---|---|---|---|---|---|"
    )
    for label, path, size, parity, seconds in rows:
        agreement = min(r["top1_agreement"] for r in parity.values())
        diff = max(r["max_abs_diff"] for r in parity.values())
        share = f"{size / fp32:.1%}" if fp32 and label.startswith("TFLite") else "—"
        print(f"| {label} | {size / 1e6:.2f} MB | {share} | {agreement:.1%} | {diff:.2g} | {seconds:.0f} | {path} |")
    return 0


if __name__ == "__main__":
    from har_tf.cli import run_cli

    run_cli(main)
