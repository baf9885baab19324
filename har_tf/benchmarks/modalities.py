"""Suite ``modalities``: each modality alone and every fusion of them with the skeleton, on one multimodal
dataset (for example UTD-MHAD from ``scripts/convert_utd_mhad.py``), over several seeds.

Per seed, with the recipe of ``--config`` (every setting chosen on training subjects only):

- stage 1 on the skeleton as stored (3D for UTD-MHAD) and on its 2D projection (x, y only: what a
  single camera gives);
- stage 2 on the 3D skeleton model fused with the depth (or RGB) frames, with the inertial sensor, and
  with both; stage 2 also trains the image-only and the inertial-only baselines on the same data.

Each seed's runs are kept under ``OUT/seed<N>/``; rerunning the same command reuses the runs that
finished with the same settings (so an interrupted benchmark goes on, and seeds can run in parallel
processes into the same ``OUT``).

The report gives accuracy and macro-F1 (mean ± sd over the seeds) of every row, whether the best fused
model beats the best single modality by more than the seed spread, the confusion matrix of the best
fused model, and the parameters and per-clip CPU latency (batch 1) of each branch.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np

from har_tf.benchmarks.report import ms, table
from har_tf.benchmarks.timing import Stopwatch, time_call
from har_tf.errors import InvalidInputError

FUSIONS = (("image",), ("imu",), ("image", "imu"))
ROW_NAMES = {
    "skeleton": "skeleton only",
    "skeleton_2d": "skeleton only, 2D projection (x, y)",
    "image_only": "depth only",
    "imu_only": "inertial only",
    "image": "skeleton + depth",
    "imu": "skeleton + inertial",
    "image+imu": "skeleton + depth + inertial",
}
SINGLE_ROWS = ("skeleton", "skeleton_2d", "image_only", "imu_only")


def xy_projection(dataset):
    """The dataset with its poses reduced to (x, y) (and confidence, when stored): what one camera gives."""
    from har_tf.data.pose_npz import PoseDataset

    channels = dataset.channels
    if "z" not in channels:
        raise InvalidInputError(f"the poses are already 2D (channels {channels!r})")
    keep = [i for i, c in enumerate(channels) if c != "z"]
    splits = {f"{p}_{s}": None for s in ("val", "test") for p in ("x", "y")}
    for split in dataset.splits:
        x, y = dataset.split(split)
        if split != "train":
            splits[f"x_{split}"], splits[f"y_{split}"] = x[..., keep], y
    return PoseDataset(
        dataset.x_train[..., keep],
        dataset.y_train,
        dataset.class_names,
        dataset.layout,
        channels=channels.replace("z", ""),
        extras=dict(dataset.extras),
        **splits,
    )


def _mean_sd(values: list[float]) -> tuple[float, float]:
    array = np.asarray(values, dtype=float)
    return float(array.mean()), float(array.std(ddof=1)) if len(array) > 1 else 0.0


def _row(name: str, runs: list[dict]) -> dict:
    acc, acc_sd = _mean_sd([r["accuracy"] for r in runs])
    f1, f1_sd = _mean_sd([r["macro_f1"] for r in runs])
    return {
        "row": name,
        "label": ROW_NAMES[name],
        "accuracy_mean": acc,
        "accuracy_sd": acc_sd,
        "macro_f1_mean": f1,
        "macro_f1_sd": f1_sd,
        "accuracy_per_seed": [r["accuracy"] for r in runs],
    }


def branch_costs(fusion_path: Path, runs: int, warmup: int) -> list[dict]:
    """Parameters and batch-1 CPU latency of each branch of a trained fusion model, and of the whole."""
    import tensorflow as tf

    from har_tf.models.saving import load_keras_model

    fusion = load_keras_model(fusion_path)
    inputs = {name: np.zeros([1, *tensor.shape[1:]], tensor.dtype) for name, tensor in fusion.input.items()}
    rng = np.random.default_rng(0)
    inputs["pose"] = rng.uniform(-0.5, 0.5, inputs["pose"].shape).astype(np.float32) + np.float32(2.0)
    if "frames" in inputs:
        inputs["frames"] = rng.integers(0, 255, inputs["frames"].shape).astype(np.uint8)
    if "imu" in inputs:
        inputs["imu"] = rng.normal(size=inputs["imu"].shape).astype(np.float32)
    pose_only = fusion.pose_only_model()
    parts = [("skeleton (pose branch, with its head)", pose_only, inputs["pose"], int(pose_only.count_params()))]
    if fusion.frame_encoder is not None:
        parts.append(
            (
                "depth (frozen image encoder, F frames)",
                fusion.frame_encoder,
                inputs["frames"],
                int(fusion.frame_encoder.count_params()),
            )
        )
    if getattr(fusion, "inertial_encoder", None) is not None:
        parts.append(
            ("inertial encoder", fusion.inertial_encoder, inputs["imu"], int(fusion.inertial_encoder.count_params()))
        )
    parts.append(("whole fusion model", fusion, inputs, int(fusion.count_params())))
    rows = []
    for name, model, x, params in parts:
        call = tf.function(lambda x, model=model: model(x, training=False))
        latency = time_call(
            lambda call=call, x=x: tf.nest.map_structure(lambda t: t.numpy(), call(x)), runs, warmup, max_seconds=10.0
        )
        rows.append({"branch": name, "parameters": params, "latency": latency})
    return rows


def suite_modalities(args: argparse.Namespace, machine: dict) -> tuple[dict, str]:
    """Train and measure every modality row over ``args.seeds`` on ``args.data`` with ``args.config``."""
    from har_tf.data.pose_npz import load_pose_npz
    from har_tf.models.saving import load_keras_model
    from har_tf.training.config import load_train_config
    from har_tf.training.stage1 import stage1_finished, train_stage1
    from har_tf.training.stage2 import train_stage2

    if args.data is None:
        raise InvalidInputError(
            "the modalities suite needs --data: a multimodal dataset NPZ (e.g. from scripts/convert_utd_mhad.py)"
        )
    dataset = load_pose_npz(args.data)
    if "test" not in dataset.splits:
        raise InvalidInputError(f"{args.data} has no test split: convert it with test subjects")
    has_frames, has_imu = "frame_indices" in dataset.extras, "imu_train" in dataset.extras
    fusions = [f for f in FUSIONS if (has_frames or "image" not in f) and (has_imu or "imu" not in f)]
    if not fusions:
        raise InvalidInputError(f"{args.data} has neither frames nor inertial data to fuse with the skeleton")
    base = load_train_config(args.config, {"data": str(args.data)})
    seeds = list(args.seeds or (0, 1, 2))
    out = Path(args.out)
    watch = Stopwatch()
    flat = xy_projection(dataset) if "z" in dataset.channels else None
    results: dict[str, list[dict]] = {}

    def keep(name: str, metrics: dict | None) -> None:
        if metrics is not None:
            results.setdefault(name, []).append({"accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]})

    for seed in seeds:
        run = out / f"seed{seed}"
        config = dataclasses.replace(base, seed=seed)
        fresh = not stage1_finished(run / "skeleton", config)  # a rerun reuses the runs that finished
        with watch.section(f"seed {seed}: skeleton"):
            pose_metrics = (
                train_stage1(config, run / "skeleton", dataset=dataset, verbose=0)
                if fresh
                else json.loads((run / "skeleton" / "metrics.json").read_text())
            )
        keep("skeleton", pose_metrics)
        if flat is not None:
            with watch.section(f"seed {seed}: skeleton, 2D projection"):
                keep(
                    "skeleton_2d",
                    train_stage1(config, run / "skeleton_2d", dataset=flat, verbose=0)
                    if not stage1_finished(run / "skeleton_2d", config)
                    else json.loads((run / "skeleton_2d" / "metrics.json").read_text()),
                )
        pose_model = run / "skeleton" / "pose_model.keras"
        for combo in fusions:
            name = "+".join(combo)
            done = run / f"fused_{name}" / "summary.json"
            with watch.section(f"seed {seed}: skeleton + {name}"):
                summary = (
                    train_stage2(
                        dataclasses.replace(config, modalities=combo),
                        run / f"fused_{name}",
                        dataset,
                        load_keras_model(pose_model),
                        cache_dir=args.cache_dir,
                        verbose=0,
                        pose_metrics=pose_metrics,
                    )
                    if fresh or not done.is_file()
                    else json.loads(done.read_text())
                )
            models = summary["models"]
            keep(name, models["fused"])
            for baseline in ("image_only", "imu_only"):
                if baseline in models and baseline.split("_")[0] in combo and len(combo) == 1:
                    keep(baseline, models[baseline])

    rows = [_row(name, results[name]) for name in ROW_NAMES if name in results]
    singles = [r for r in rows if r["row"] in SINGLE_ROWS and r["row"] != "skeleton_2d"]
    fused_rows = [r for r in rows if r["row"] not in SINGLE_ROWS]
    best_single = max(singles, key=lambda r: r["accuracy_mean"])
    best_fused = max(fused_rows, key=lambda r: r["accuracy_mean"])
    margin = best_fused["accuracy_mean"] - best_single["accuracy_mean"]
    spread = max(best_fused["accuracy_sd"], best_single["accuracy_sd"])
    best_seed = seeds[int(np.argmax(best_fused["accuracy_per_seed"]))]
    best_dir = out / f"seed{best_seed}" / f"fused_{best_fused['row']}"
    matrix = out / "confusion_matrix_best_fused.png"
    if (best_dir / "fusion" / "confusion_matrix.png").is_file():
        shutil.copyfile(best_dir / "fusion" / "confusion_matrix.png", matrix)
    with watch.section("branch costs"):
        costs = branch_costs(
            out / f"seed{seeds[0]}" / f"fused_{'+'.join(fusions[-1])}" / "fusion_model.keras", args.runs, args.warmup
        )
    result = {
        "suite": "modalities",
        "machine": machine,
        "data": str(args.data),
        "config": base.to_dict(),
        "seeds": seeds,
        "channels": dataset.channels,
        "class_names": list(dataset.class_names),
        "num_train": int(len(dataset.y_train)),
        "num_test": int(len(dataset.y_test)),
        "subjects": {
            s: sorted(np.unique(dataset.extras[f"subject_{s}"]).tolist())
            for s in dataset.splits
            if f"subject_{s}" in dataset.extras
        },
        "rows": rows,
        "best_single": best_single["row"],
        "best_fused": best_fused["row"],
        "margin": margin,
        "seed_spread": spread,
        "fused_beats_best_single": bool(margin > spread),
        "confusion_matrix": str(matrix) if matrix.is_file() else None,
        "branches": costs,
        "sections": watch.sections,
    }
    return result, modalities_markdown(result)


def modalities_markdown(result: dict) -> str:
    """The README's table of the modalities suite."""
    subjects = result.get("subjects", {})
    who = ", ".join(f"{split} subjects {ids}" for split, ids in subjects.items())
    rows = [
        [
            ("**" + r["label"] + "**") if r["row"] == result["best_fused"] else r["label"],
            f"{r['accuracy_mean']:.1%} ± {r['accuracy_sd']:.1%}",
            ", ".join(f"{a:.1%}" for a in r["accuracy_per_seed"]),
            f"{r['macro_f1_mean']:.3f} ± {r['macro_f1_sd']:.3f}",
        ]
        for r in result["rows"]
    ]
    verdict = "more" if result["fused_beats_best_single"] else "not more"
    lines = [
        f"#### Each modality and its fusion with the skeleton ({result['num_train']} training and "
        f"{result['num_test']} test clips; {who}; seeds {result['seeds']})",
        "",
        table(["model", "test accuracy (mean ± sd)", "per seed", "macro-F1"], rows),
        "",
        f"Best fused ({ROW_NAMES[result['best_fused']]}) minus best single modality "
        f"({ROW_NAMES[result['best_single']]}): {result['margin']:+.1%}, {verdict} than the seed spread "
        f"({result['seed_spread']:.1%}).",
        "",
        f"#### Branches: parameters and CPU latency per clip at batch 1 ({result['machine'].get('cores')} cores)",
        "",
        table(
            ["branch", "parameters", "ms per clip, median (p95)"],
            [[b["branch"], f"{b['parameters']:,}", ms(b["latency"])] for b in result["branches"]],
        ),
    ]
    return "\n".join(lines)
