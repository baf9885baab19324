#!/usr/bin/env python
"""The main job: data, stage 1 (pose), stage 2 (fusion with the other modalities), evaluated on the test split.

    python scripts/train.py                                  # synthetic default data, all stages
    python scripts/train.py --stage pose --data my.npz --out saved_models/mine
    python scripts/train.py --stage fusion --pose-model saved_models/mine/pose_model.keras --data multimodal.npz
    python scripts/train.py --config configs/motions.yaml --epochs 60
    python scripts/train.py --config configs/utd_mhad.yaml --data utd_mhad.npz --out saved_models/utd
    python scripts/train.py --stage data                     # only generate, check and summarise the data

Writes into ``--out`` (default ``saved_models/<run>``): ``data_summary.json``, ``data_preview.png``
(stage ``data``); for stage ``pose``: ``pose_model.keras``, ``metrics.json``, ``config.json``,
``training_curves.png``, ``confusion_matrix.png``, ``classification_report.txt``, ``predictions.csv``
; for stage ``fusion``: ``fusion_model.keras``, ``fusion/``, ``image_only/`` and ``imu_only/``
(metrics.json and plots each, for the modalities fused), ``summary.json`` and ``summary.md``
(pose-only, each single-modality baseline and fused side by side). Stage 2 runs when the data has
what the config's ``modalities`` need (frames for ``image``, as the synthetic data has;
detections for ``objects``; sensor samples for ``imu``); the frame features are cached.

Interrupted (a crash, a kill, Ctrl-C)? Rerun the same command with the same ``--out``: stage 1 resumes
from its last finished epoch (BackupAndRestore), and stage 2 resumes its frozen or fine-tuning phase
from the last finished epoch. A stage 1 that finished in ``--out`` with the same settings is kept
(``--stage all`` and ``--stage pose`` say so and go on); with other settings it is trained again
from the start, replacing its history and metrics. One run at a time per ``--out``: a second run
into a folder in use is refused (``OUT/.run.lock``; a lock left by a killed run is taken over).
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--stage",
        choices=("all", "data", "pose", "fusion"),
        default="all",
        help="all (default: data check, pose training, fusion training), data, pose or fusion",
    )
    parser.add_argument(
        "--pose-model", type=Path, default=None, help="stage-1 model for --stage fusion (default OUT/pose_model.keras)"
    )
    parser.add_argument(
        "--data",
        default=None,
        help="'synthetic' (default), a pose dataset NPZ path, "
        "or a TFRecord folder (scripts/make_tfrecords.py; stage 1 only)",
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default saved_models/<run>)")
    parser.add_argument(
        "--strategy",
        choices=("default", "mirrored", "multiworker", "tpu"),
        default=None,
        help="tf.distribute strategy for stage 1 (multiworker reads TF_CONFIG; see docs/distributed.md)",
    )
    parser.add_argument("--config", type=Path, default=None, help="YAML or JSON training settings")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--preset", choices=("micro", "small", "base"), default=None)
    parser.add_argument("--model", choices=("poseformer", "full_attention", "lstm_lite", "ddnet"), default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--fusion-epochs", type=int, default=None)
    parser.add_argument(
        "--modalities",
        nargs="+",
        choices=("image", "objects", "imu"),
        default=None,
        help="the branches stage 2 fuses with the pose (default: the config's, else image)",
    )
    parser.add_argument("--backbone", default=None, help="image backbone for stage 2 (default efficientnet_lite0)")
    parser.add_argument("--image-size", type=int, default=None, help="backbone input size (default 96)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="synthetic data and image feature cache (default $HAR_TF_CACHE_DIR or ~/.cache/har_tf)",
    )
    parser.add_argument(
        "--clips-per-class",
        type=int,
        nargs=3,
        metavar=("TRAIN", "VAL", "TEST"),
        default=None,
        help="synthetic clips per class and split (default 80 12 25)",
    )
    parser.add_argument("--no-check", action="store_true", help="skip the pose-only ambiguity check")
    return parser.parse_args(argv)


def summarise_data(dataset, origin: dict, out: Path, check: bool, seconds: float) -> None:
    """data_summary.json, data_preview.png and, for the synthetic data, the pose-only ambiguity check."""
    from har_tf.data.preview import save_contact_sheet
    from har_tf.data.synthetic.checks import pose_only_ambiguity_check

    print(dataset.summary())
    summary = {
        **origin,
        "seconds": round(seconds, 2),
        "layout": dataset.layout.name,
        "class_names": list(dataset.class_names),
        "splits": {
            s: {"num_clips": int(len(dataset.split(s)[1])), "shape": list(dataset.split(s)[0].shape)}
            for s in dataset.splits
        },
    }
    if "synthetic_config" in dataset.extras:
        summary["synthetic_config"] = json.loads(str(dataset.extras["synthetic_config"]))
    save_contact_sheet(dataset, out / "data_preview.png", split="test" if "test" in dataset.splits else "train")
    if check and "class_group" in dataset.extras and "test" in dataset.splits:
        result = pose_only_ambiguity_check(dataset)
        summary["pose_only_check"] = result
        print(
            f"pose-only check ({result['classifier']}): accuracy {result['accuracy']:.1%}, "
            f"group accuracy {result['group_accuracy']:.1%}"
        )
        for name, group in result["groups"].items():
            print(
                f"  inside {name} ({', '.join(group['classes'])}): {group['within_group_accuracy']:.1%} "
                f"(chance {group['chance']:.0%}): pose alone cannot tell these apart; the image can"
            )
    (out / "data_summary.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {out / 'data_summary.json'} and {out / 'data_preview.png'}")


def run_stage2(config, dataset, out: Path, pose_model_path: Path, cache_dir, pose_metrics) -> None:
    from har_tf.errors import MissingFileError
    from har_tf.models.saving import load_keras_model
    from har_tf.training.stage2 import summary_table, train_stage2

    if not Path(pose_model_path).is_file():
        raise MissingFileError(f"no stage-1 model at {pose_model_path}: run --stage pose first or pass --pose-model")
    pose_model = load_keras_model(pose_model_path)
    if pose_metrics is None and (Path(pose_model_path).parent / "metrics.json").is_file():
        pose_metrics = json.loads((Path(pose_model_path).parent / "metrics.json").read_text())
    summary = train_stage2(config, out, dataset, pose_model, cache_dir=cache_dir, pose_metrics=pose_metrics)
    print(summary_table(summary))
    cached = summary["cached_epoch_seconds"]
    if "image" in summary["modalities"]:
        print(
            f"image features {'read from cache' if summary['features_from_cache'] else 'computed'} in "
            f"{summary['feature_seconds']:.0f} s; stage-2 epochs on cached features: {cached:.1f} s (median)"
        )
    elif cached is not None:
        print(f"stage-2 epochs: {cached:.1f} s (median)")
    folders = [out / name for name in ("fusion", "image_only", "imu_only") if (out / name).is_dir()]
    print(f"wrote {out / 'fusion_model.keras'}, {out / 'summary.md'} and {', '.join(str(f) for f in folders)}")


def stage2_missing(config, dataset) -> list[str]:
    """What the data lacks for the config's stage-2 modalities (empty: stage 2 can run)."""
    needs = {
        "image": ("frame_indices", "RGB or depth frames"),
        "objects": ("objects_train", "object detections"),
        "imu": ("imu_train", "wearable sensor samples"),
    }
    return [needs[m][1] for m in config.modalities if needs[m][0] not in dataset.extras]


def report_stage1(metrics: dict, out: Path, config) -> None:
    print(
        f"stage 1 ({config.model}): test accuracy {metrics['accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.3f}, "
        f"{metrics['parameters']:,} parameters, {metrics['training_seconds']:.0f} s of training"
    )
    if "sequence_level" in metrics:
        print(f"  sequence level (sliding windows): accuracy {metrics['sequence_level']['accuracy']:.1%}")
    for name, group in metrics.get("groups", {}).items():
        print(f"  inside {name}: accuracy {group['accuracy']:.1%}")
    print(f"wrote {out / 'pose_model.keras'}, {out / 'metrics.json'} and the plots in {out}")


def run_lock_name(config) -> str:
    """The run folder's lock: one per machine of a multi-worker run (they share ``--out``)."""
    from har_tf.io import LOCK_NAME
    from har_tf.training.distribute import check_tf_config

    if config.strategy != "multiworker":
        return LOCK_NAME
    return f"{LOCK_NAME}.worker{int(check_tf_config()['task']['index'])}"


def main(argv=None) -> int:
    args = parse_args(argv)
    from har_tf.cli import check_at_least
    from har_tf.io import check_output_dir, run_folder_lock

    for option, value, low in (
        ("--epochs", args.epochs, 1),
        ("--batch-size", args.batch_size, 1),
        ("--fusion-epochs", args.fusion_epochs, 1),
        ("--image-size", args.image_size, 32),
        ("--seed", args.seed, 0),
    ):
        check_at_least(option, value, low)
    for count in args.clips_per_class or ():
        check_at_least("--clips-per-class", count, 1)
    if args.out is not None:
        check_output_dir(args.out, "--out")
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")
    if args.pose_model is not None and not args.pose_model.is_file():
        from har_tf.errors import MissingFileError

        raise MissingFileError(f"--pose-model {args.pose_model}: no such file (a stage-1 pose_model.keras)")
    from har_tf.training.config import load_train_config

    overrides = {
        "data": args.data,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "preset": args.preset,
        "model": args.model,
        "seed": args.seed,
        "strategy": args.strategy,
        "fusion_epochs": args.fusion_epochs,
        "backbone": args.backbone,
        "image_size": args.image_size,
        "modalities": args.modalities,
        "synthetic_clips_per_class": tuple(args.clips_per_class) if args.clips_per_class else None,
    }
    config = load_train_config(args.config, overrides)
    out = args.out or REPO_ROOT / "saved_models" / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    check_output_dir(out, "--out")
    with run_folder_lock(out, run_lock_name(config)):
        return run(args, config, out)


def run(args: argparse.Namespace, config, out: Path) -> int:
    """The stages ``args.stage`` asks for, into the (locked) run folder ``out``."""
    from har_tf.data.tfrecords import is_tfrecord_folder
    from har_tf.errors import InvalidInputError
    from har_tf.training.stage1 import check_trainable, load_training_data, stage1_finished, train_stage1

    start = time.perf_counter()
    print(f"data: {config.data} ...", flush=True)
    if is_tfrecord_folder(config.data):  # streamed shard by shard by stage 1; nothing else reads it
        if args.stage not in ("all", "pose"):
            raise InvalidInputError(
                f"{config.data} is a TFRecord dataset: stage 1 (--stage pose) trains on it; the "
                "data check and stage 2 need the dataset NPZ"
            )
        report_stage1(train_stage1(config, out), out, config)
        print(f"done in {(time.perf_counter() - start) / 60:.1f} min")
        return 0
    dataset, origin = load_training_data(config, args.cache_dir)
    how = "loaded from cache" if origin.get("from_cache") else "generated" if "from_cache" in origin else "loaded"
    print(f"{how} {origin.get('cache_file', config.data)} in {time.perf_counter() - start:.1f} s")
    if args.stage in ("all", "pose"):
        check_trainable(dataset)
    if args.stage in ("all", "data"):
        summarise_data(dataset, origin, out, not args.no_check, time.perf_counter() - start)
    metrics = None
    if args.stage in ("all", "pose") and stage1_finished(out, config):
        metrics = json.loads((out / "metrics.json").read_text())
        print(
            f"stage 1 already finished in {out} (same settings): kept; delete {out / 'metrics.json'} to train it again"
        )
    elif args.stage in ("all", "pose"):
        metrics = train_stage1(config, out, dataset=dataset)
        report_stage1(metrics, out, config)
    missing = stage2_missing(config, dataset)
    if args.stage == "fusion" or (args.stage == "all" and not missing):
        run_stage2(config, dataset, out, args.pose_model or out / "pose_model.keras", args.cache_dir, metrics)
    elif args.stage == "all":
        print(
            f"stage 2 skipped: the data has no {' and no '.join(missing)} for the modalities "
            f"{list(config.modalities)} (see docs/data_formats.md, multimodal additions)"
        )
    print(f"done in {(time.perf_counter() - start) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    from har_tf.cli import run_cli

    run_cli(main)
