#!/usr/bin/env python
"""Benchmarks: what the models cost (and, later, how they compare on data).

    python scripts/benchmark.py --suite cost --out saved_models/bench             # small preset, 50 runs
    python scripts/benchmark.py --suite cost --out /tmp/bench --preset micro --runs 5 --quick
    python scripts/benchmark.py --suite fusion --out saved_models/bench_fusion     # backbones, feature cache
    python scripts/benchmark.py --suite export --pose-model RUN/pose_model.keras --fusion-model RUN/fusion_model.keras --out saved_models/bench_export
    python scripts/benchmark.py --suite streaming --fusion-model RUN/fusion_model.keras --out saved_models/bench_stream

Suite ``cost``: PoseFormerFactorized against FullAttentionTransformer (same preset: same width, depth
and parameters) and LSTMLite (fixed 3 x 128 units), at T = 30, C = 3, for J = 17 (coco17) and
J = 25 (body25): parameters, FLOPs per clip (whole model, batch 1, counted by TensorFlow's profiler
with the corrections of ``har_tf.models.cost``), attention-only FLOPs (analytic), CPU latency per clip
at batch 1 and batch 64 (median and p95 of ``--runs`` timed calls after ``--warmup``), the
full/factorized ratios; then latency against T (15, 30, 60, 120) at J = 17, batch 1, for both
transformers, skipping a combination whose timed runs would take more than ``--max-seconds``.

Suite ``fusion``: per-frame CPU latency (batch 1 and 32) of each offered image backbone at
``--image-size``, and the stage-2 epoch time on the default synthetic data with cached frame features
against decoding the frames and running them through the frozen backbone in every step.

Suite ``export``: for ``--pose-model`` and/or ``--fusion-model`` (``.keras`` files written by
``scripts/train.py``; parity clips from the data in the ``config.json`` beside each), every export
(Keras, SavedModel, TFLite fp32 / fp16 / int8 / int8_full) with its size, its top-1 agreement and max
absolute difference against Keras on ``--samples`` held-out clips, and its CPU latency per clip at
batch 1 (median and p95 of ``--runs`` calls; TFLite with ``--threads`` threads, default 2). The
exports are kept under ``OUT/exports``.

Suite ``streaming``: for ``--fusion-model``, the streaming recogniser over every clip in ``--videos``
(default ``../shared/data/videos``) with MoveNet (``--movenet``, default ``../shared/models``) in several
configurations (Keras or TFLite fp32 backbone, every or every 2nd frame embedded, BlazePose when
fetched, pose only): per-frame latency median and p95 after 10 warm-up frames, the mean cost per frame
of each stage (decode, pose, embed, classify; drawing is not included), and how often each
configuration's top-1 class agrees with the default's. ``--quick``: the first two configurations on
the first two clips.

Writes ``OUT/benchmark.json`` (with a ``machine`` block) and ``OUT/benchmark.md`` (Markdown tables
ready for the README), and prints the tables. Add a suite by writing ``suite_<name>(args) -> (result,
markdown)`` and registering it in :data:`SUITES`.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from har_tf.errors import InvalidInputError

PRESET_CHOICES = ("micro", "small", "base")
LAYOUTS = (("coco17", 17), ("body25", 25))
NUM_FRAMES = 30
NUM_CHANNELS = 3
SWEEP_FRAMES = (15, 30, 60, 120)
QUICK_SWEEP_FRAMES = (15, 30)
SWEEP_JOINTS = ("coco17", 17)
MODEL_NAMES = {"factorized": "PoseFormerFactorized", "full": "FullAttentionTransformer", "lstm": "LSTMLite"}


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one-line :class:`InvalidInputError` (exit 2 through ``run_cli``)."""

    def error(self, message: str):
        raise InvalidInputError(message)


def parse_args(argv=None) -> argparse.Namespace:
    parser = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", required=True, help=f"which benchmark: {', '.join(SUITES)}")
    parser.add_argument("--out", type=Path, required=True, help="output folder (benchmark.json, benchmark.md)")
    parser.add_argument("--runs", type=int, default=50, help="timed calls per latency figure (default 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed calls first (default 5)")
    parser.add_argument("--preset", default="small",
                        help=f"transformer size: {', '.join(PRESET_CHOICES)} (default small)")
    parser.add_argument("--quick", action="store_true",
                        help="cost: T sweep (15, 30) only and batch 8 instead of 64; fusion: one backbone, a small "
                             "data set and the frozen phase only")
    parser.add_argument("--max-seconds", type=float, default=30.0,
                        help="skip a T-sweep point whose timed runs would take longer (default 30)")
    parser.add_argument("--image-size", type=int, default=None, help="fusion suite: backbone input size (default: the training default, 128)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="fusion suite: data and feature cache")
    parser.add_argument("--pose-model", type=Path, default=None, help="export suite: a stage-1 pose_model.keras")
    parser.add_argument("--fusion-model", type=Path, default=None, help="export and streaming suites: a fusion_model.keras")
    parser.add_argument("--samples", type=int, default=200, help="export suite: held-out clips for parity (default 200)")
    parser.add_argument("--videos", type=Path, default=None, help="streaming suite: folder of clips (default ../shared/data/videos)")
    parser.add_argument("--movenet", type=Path, default=None, help="streaming suite: MoveNet .tflite (default ../shared/models)")
    parser.add_argument("--stride", type=int, default=5, help="streaming suite: frames between predictions (default 5)")
    parser.add_argument("--threads", type=int, default=0,
                        help="TensorFlow intra-op threads (default 0: TensorFlow's choice)")
    args = parser.parse_args(argv)
    if args.suite not in SUITES:
        raise InvalidInputError(f"unknown suite {args.suite!r}; choose one of {sorted(SUITES)}")
    if args.preset not in PRESET_CHOICES:
        raise InvalidInputError(f"unknown preset {args.preset!r}; choose one of {list(PRESET_CHOICES)}")
    if args.runs < 1:
        raise InvalidInputError(f"--runs must be at least 1, got {args.runs}")
    if args.warmup < 0:
        raise InvalidInputError(f"--warmup must be 0 or more, got {args.warmup}")
    if not args.max_seconds > 0:
        raise InvalidInputError(f"--max-seconds must be positive, got {args.max_seconds}")
    if args.threads < 0:
        raise InvalidInputError(f"--threads must be 0 or more, got {args.threads}")
    if args.out.exists() and not args.out.is_dir():
        raise InvalidInputError(f"--out {args.out} exists and is not a folder")
    return args


# --------------------------------------------------------------------------------------------- shared
def machine_info() -> dict:
    """CPU model, cores, load, library versions and date of this run."""
    import keras
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = None
    return {"cpu": cpu, "cores": os.cpu_count(), "load_average_1_5_15min": load, "platform": platform.platform(),
            "python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "gpus_visible": len(tf.config.list_physical_devices("GPU")), "device": "/CPU:0",
            "date": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")}  # fmt: skip


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _si(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}".strip()


def _ms(entry: dict | None) -> str:
    if not entry or entry.get("median_ms_per_clip") is None:
        return "—"
    return f"{entry['median_ms_per_clip']:.3g} ({entry['p95_ms_per_clip']:.3g})"


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _x(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}×"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


# ------------------------------------------------------------------------------------------ cost suite
def _build(kind: str, preset: str, layout: str, num_frames: int):
    from har_tf.models import FullAttentionTransformer, LSTMLite, PoseFormerFactorized
    from har_tf.skeleton.layouts import get_layout

    if kind == "factorized":
        return PoseFormerFactorized.from_preset(preset, layout, num_frames=num_frames, num_channels=NUM_CHANNELS)
    if kind == "full":
        return FullAttentionTransformer.from_preset(preset, layout, num_frames=num_frames, num_channels=NUM_CHANNELS)
    return LSTMLite(get_layout(layout).num_joints, num_frames=num_frames, num_channels=NUM_CHANNELS, layout=layout)


def _latency(model, batch_size: int, args, max_seconds: float | None = None) -> dict:
    from har_tf.models.cost import LatencyBudgetExceeded, measure_latency

    try:
        result = measure_latency(model, batch_size, runs=args.runs, warmup=args.warmup, max_seconds=max_seconds)
    except LatencyBudgetExceeded as err:
        return {"skipped": f"{args.runs} runs {err}", "median_ms_per_clip": None, "p95_ms_per_clip": None}
    return {**result, "median_ms_per_clip": result["median_ms"] / batch_size,
            "p95_ms_per_clip": result["p95_ms"] / batch_size}  # fmt: skip


def _attention(kind: str, model, num_frames: int, num_joints: int) -> tuple[int | None, int]:
    from har_tf.models.cost import attention_flops, num_attention_sub_blocks

    blocks = num_attention_sub_blocks(model)
    if kind == "lstm":
        return None, blocks
    return attention_flops(num_frames, num_joints, model.hidden_dim, blocks, factorized=kind == "factorized"), blocks


def _measure_model(kind: str, layout: str, num_frames: int, batch_sizes, args, max_seconds=None) -> dict:
    import keras

    from har_tf.models.cost import count_params, flops_breakdown

    keras.utils.clear_session()
    start = time.perf_counter()
    model = _build(kind, args.preset, layout, num_frames)
    num_joints = int(model.input_shape[2])
    flops = flops_breakdown(model, 1)
    attention, blocks = _attention(kind, model, num_frames, num_joints)
    entry = {"model": MODEL_NAMES[kind], "kind": kind, "layout": layout, "num_joints": num_joints,
             "num_frames": num_frames, "num_channels": NUM_CHANNELS,
             "preset": None if kind == "lstm" else args.preset, "parameters": count_params(model),
             "flops_per_clip": flops["total"], "flops_breakdown": flops, "attention_sub_blocks": blocks,
             "attention_flops_per_clip": attention, "latency": {}}  # fmt: skip
    for batch in batch_sizes:
        entry["latency"][f"batch_{batch}"] = _latency(model, batch, args, max_seconds)
    entry["seconds"] = round(time.perf_counter() - start, 2)
    print(f"  {entry['model']:<26} J={num_joints:<3} T={num_frames:<4} {_si(flops['total'], 'FLOPs'):>12}  "
          + "  ".join(f"b{b}: {_ms(entry['latency'][f'batch_{b}'])} ms/clip" for b in batch_sizes)
          + f"  [{entry['seconds']} s]", flush=True)  # fmt: skip
    return entry


def suite_cost(args, machine: dict) -> tuple[dict, str]:
    """Parameters, FLOPs, attention FLOPs and latency of the three backbones; latency against T."""
    from har_tf.models.cost import attention_flops_ratio

    large = 8 if args.quick else 64
    batch_sizes = (1, large)
    sweep_frames = QUICK_SWEEP_FRAMES if args.quick else SWEEP_FRAMES
    models, ratios, sweep, notes = [], [], [], []

    print(f"cost suite: preset {args.preset}, T = {NUM_FRAMES}, C = {NUM_CHANNELS}, runs {args.runs}, "
          f"warm-up {args.warmup}, batches {batch_sizes}", flush=True)  # fmt: skip
    for layout, _ in LAYOUTS:
        by_kind = {kind: _measure_model(kind, layout, NUM_FRAMES, batch_sizes, args) for kind in MODEL_NAMES}
        models += by_kind.values()
        fac, full = by_kind["factorized"], by_kind["full"]
        j, t = fac["num_joints"], NUM_FRAMES
        row = {"layout": layout, "num_joints": j, "num_frames": t,
               "tj_over_t_plus_j": t * j / (t + j),
               "attention_flops_ratio": _ratio(full["attention_flops_per_clip"], fac["attention_flops_per_clip"]),
               "attention_flops_ratio_formula": "(full sub-blocks / factorized sub-blocks) · 2·T·J/(T+J)",
               "attention_flops_ratio_exact": str(attention_flops_ratio(t, j, full["attention_sub_blocks"],
                                                                        fac["attention_sub_blocks"])),
               "flops_ratio": _ratio(full["flops_per_clip"], fac["flops_per_clip"]),
               "parameters_equal": full["parameters"] == fac["parameters"]}  # fmt: skip
        for batch in batch_sizes:
            key = f"batch_{batch}"
            row[f"latency_ratio_{key}"] = _ratio(full["latency"][key]["median_ms_per_clip"],
                                                 fac["latency"][key]["median_ms_per_clip"])  # fmt: skip
        ratios.append(row)

    print(f"latency against T (J = {SWEEP_JOINTS[1]}, batch 1, at most {args.max_seconds:g} s per point)", flush=True)
    too_slow: dict[str, int] = {}
    for frames in sweep_frames:
        point = {"num_frames": frames, "num_joints": SWEEP_JOINTS[1], "tokens": frames * SWEEP_JOINTS[1]}
        for kind in ("factorized", "full"):
            if frames == NUM_FRAMES:  # the main table measured this point already
                entry = next(m for m in models if m["kind"] == kind and m["layout"] == SWEEP_JOINTS[0])
                latency = entry["latency"]["batch_1"]
            elif kind in too_slow:  # FLOPs only: a longer clip would be slower still
                entry = _measure_model(kind, SWEEP_JOINTS[0], frames, (), args)
                latency = {"skipped": f"T={too_slow[kind]} already exceeded {args.max_seconds:g} s",
                           "median_ms_per_clip": None, "p95_ms_per_clip": None}  # fmt: skip
            else:
                entry = _measure_model(kind, SWEEP_JOINTS[0], frames, (1,), args, args.max_seconds)
                latency = entry["latency"]["batch_1"]
            point[kind] = {"flops_per_clip": entry["flops_per_clip"], **latency,
                           "attention_flops_per_clip": entry["attention_flops_per_clip"]}  # fmt: skip
            if "skipped" in latency:
                too_slow.setdefault(kind, frames)
                notes.append(f"{MODEL_NAMES[kind]} T={frames}: latency skipped ({latency['skipped']})")
        point["latency_ratio"] = _ratio(point["full"]["median_ms_per_clip"], point["factorized"]["median_ms_per_clip"])
        point["flops_ratio"] = _ratio(point["full"].get("flops_per_clip"), point["factorized"].get("flops_per_clip"))
        point["attention_flops_ratio"] = _ratio(point["full"].get("attention_flops_per_clip"),
                                                point["factorized"].get("attention_flops_per_clip"))  # fmt: skip
        sweep.append(point)

    result = {"suite": "cost", "machine": machine,
              "settings": {"preset": args.preset, "num_frames": NUM_FRAMES, "num_channels": NUM_CHANNELS,
                           "layouts": [layout for layout, _ in LAYOUTS], "batch_sizes": list(batch_sizes),
                           "runs": args.runs, "warmup": args.warmup, "quick": args.quick,
                           "sweep_frames": list(sweep_frames), "sweep_layout": SWEEP_JOINTS[0],
                           "max_seconds": args.max_seconds, "threads": args.threads},
              "models": models, "ratios": ratios, "frames_sweep": sweep, "notes": notes}  # fmt: skip
    return result, _cost_markdown(result)


def _cost_markdown(result: dict) -> str:
    s = result["settings"]
    large = s["batch_sizes"][-1]
    rows = []
    for m in result["models"]:
        rows.append([m["model"] + ("" if m["preset"] is None else f" ({m['preset']})"), str(m["num_joints"]),
                     f"{m['parameters']:,}", _si(m["flops_per_clip"]), _si(m["attention_flops_per_clip"]),
                     _ms(m["latency"]["batch_1"]), _ms(m["latency"][f"batch_{large}"])])  # fmt: skip
    cost = _table(["model", "J", "parameters", "FLOPs / clip", "attention FLOPs / clip",
                   "ms / clip, batch 1", f"ms / clip, batch {large}"], rows)  # fmt: skip
    ratio_rows = [[str(r["num_joints"]), f"{r['tj_over_t_plus_j']:.3g}", _x(r["attention_flops_ratio"]),
                   _x(r["flops_ratio"]), _x(r["latency_ratio_batch_1"]), _x(r[f"latency_ratio_batch_{large}"])]
                  for r in result["ratios"]]  # fmt: skip
    ratios = _table(["J", "T·J/(T+J)", "attention FLOPs ratio", "whole-model FLOPs ratio",
                     "latency ratio, batch 1", f"latency ratio, batch {large}"], ratio_rows)  # fmt: skip
    sweep_rows = []
    for p in result["frames_sweep"]:
        sweep_rows.append([str(p["num_frames"]), str(p["tokens"]), _ms(p["factorized"]), _ms(p["full"]),
                           _x(p["latency_ratio"]), _x(p["flops_ratio"]), _x(p["attention_flops_ratio"])])  # fmt: skip
    sweep = _table(["T", "tokens T·J", "factorized ms / clip", "full ms / clip", "latency ratio",
                    "whole-model FLOPs ratio", "attention FLOPs ratio"], sweep_rows)  # fmt: skip
    mach = result["machine"]
    load = mach.get("load_average_1_5_15min")
    machine = (f"{mach['cpu']}, {mach['cores']} cores, TensorFlow {mach['tensorflow']}, Keras {mach['keras']}, "
               f"{mach['date']}" + (f", load average {load[0]} at start" if load else ""))  # fmt: skip
    blocks = {m["kind"]: m["attention_sub_blocks"] for m in result["models"] if m["layout"] == s["layouts"][0]}
    fac_blocks, full_blocks = blocks["factorized"], blocks["full"]
    formula = "2·T·J/(T+J)" if fac_blocks == full_blocks else f"({full_blocks}/{fac_blocks // 2})·T·J/(T+J)"
    parts = [
        f"### Cost per clip ({s['preset']} preset, T = {s['num_frames']}, C = {s['num_channels']})", "",
        cost, "",
        f"Latency: median (p95) of {s['runs']} timed calls after {s['warmup']} warm-up, CPU, batch latency / "
        f"batch size. FLOPs: one forward pass, batch 1 (`har_tf.models.cost.model_flops`: TensorFlow profiler "
        f"+ einsum attention and LSTM time steps it misses). Attention FLOPs: QKᵀ and AV only, analytic. "
        f"LSTMLite is 3 x 128 units whatever the preset.", "",
        f"### Full attention / factorized ({s['preset']} preset, T = {s['num_frames']})", "",
        ratios, "",
        f"PoseFormerFactorized has {fac_blocks} attention sub-blocks ({fac_blocks // 2} spatial + {fac_blocks // 2} "
        f"temporal), FullAttentionTransformer {full_blocks} over all T·J tokens, with the same parameters: "
        f"their attention-FLOPs ratio is {formula}, while T·J/(T+J) is the ratio per attention layer (one "
        f"full layer against one spatial + temporal pair). Projections, MLPs and norms cost the same per token "
        f"in both, hence the smaller whole-model ratio.", "",
        f"### Latency against T (J = {result['frames_sweep'][0]['num_joints'] if result['frames_sweep'] else '—'}, "
        f"batch 1, {s['preset']} preset)", "",
        sweep, "",
    ]  # fmt: skip
    if result["notes"]:
        parts += ["Skipped: " + "; ".join(result["notes"]) + ".", ""]
    parts += [f"Measured on: {machine}.", ""]
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------- fusion suite
FUSION_BACKBONES = ("efficientnet_lite0", "mobilenet_v3_small", "efficientnet_b0", "resnet50")


def _backbone_latency(name: str, image_size: int, args) -> dict:
    """Per-frame latency of one backbone at batch 1 and 32 (weights do not change the cost: the
    ``keras.applications`` ones are timed with random weights when theirs are not on this machine)."""
    import numpy as np
    import tensorflow as tf

    from har_tf.models.image_encoder import build_frame_backbone

    weights = "imagenet" if name == "efficientnet_lite0" else None
    network, info = build_frame_backbone(name, image_size, weights)
    call = tf.function(lambda x: network(x, training=False))
    row = {"backbone": name, "image_size": image_size, "feature_dim": info.feature_dim,
           "parameters": int(network.count_params()), "weights": weights or "random (timing only)"}  # fmt: skip
    for batch in (1, 32):
        x = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch, image_size, image_size, 3)), tf.float32)
        runs = max(2, args.runs // (8 if batch > 1 else 1))
        for _ in range(max(args.warmup, 1)):
            call(x).numpy()
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            call(x).numpy()
            times.append((time.perf_counter() - start) * 1000 / batch)
        row[f"batch{batch}_ms_per_frame"] = float(np.median(times))
    return row


def suite_fusion(args, machine: dict) -> tuple[dict, str]:
    """Backbone latency per frame, and stage-2 epoch time with the feature cache vs running the backbone."""
    import keras
    import numpy as np
    import tensorflow as tf

    from har_tf.data.feature_cache import cached_frame_features
    from har_tf.data.pipeline import make_pose_dataset
    from har_tf.data.synthetic import SyntheticConfig, load_or_generate
    from har_tf.models import PoseClassifier, PoseFormerFactorized
    from har_tf.training.config import TrainConfig
    from har_tf.training.stage2 import OUTPUTS, build_fusion, crop_boxes, encoder_key, frame_encoder_for, fusion_targets

    config = TrainConfig()
    size = args.image_size or config.image_size
    backbones = [_backbone_latency(name, size, args) for name in (FUSION_BACKBONES[:1] if args.quick else FUSION_BACKBONES)]
    clips = (6, 2, 3) if args.quick else config.synthetic_clips_per_class
    dataset, _, _ = load_or_generate(SyntheticConfig(seed=config.seed, clips_per_class=clips), args.cache_dir)
    encoder = frame_encoder_for(TrainConfig(image_size=size), dataset)
    start = time.perf_counter()
    boxes = crop_boxes(dataset, encoder, ("train",))
    features, _, from_cache = cached_frame_features(dataset, encoder, encoder_key(encoder), args.cache_dir,
                                                    splits=("train",), boxes=boxes)  # fmt: skip
    extraction = time.perf_counter() - start
    x, y = dataset.split("train")
    backbone = PoseFormerFactorized.from_preset(config.preset, dataset.layout, num_frames=config.num_frames,
                                                num_channels=dataset.num_channels)  # fmt: skip
    pose_model = PoseClassifier(backbone, dataset.num_classes, class_names=list(dataset.class_names))
    fusion = build_fusion(config, pose_model, encoder, dataset)
    k, num_frames = dataset.num_classes, encoder.num_frames
    blob, offsets = dataset.extras["frames_train_jpeg"], dataset.extras["frames_train_offsets"]
    jpegs = tf.constant([blob[offsets[i]:offsets[i + 1]].tobytes() for i in range(len(offsets) - 1)])

    raw_poses = tf.constant(x[:, : config.num_frames])

    def with_frames(inputs, label):  # the full model takes raw poses and frames: it normalises and crops itself
        index = inputs.pop("index")
        frames = tf.stack([tf.io.decode_jpeg(jpegs[index * num_frames + f], channels=3) for f in range(num_frames)])
        frames = tf.ensure_shape(frames, (num_frames, encoder.frame_size, encoder.frame_size, 3))
        return {"pose": raw_poses[index], "frames": frames}, label

    common = dict(num_frames=config.num_frames, batch_size=config.batch_size, training=True, seed=0)
    cached_ds = make_pose_dataset(x, y, dataset.layout, extras={"frame_features": features["train"]}, **common)
    raw_ds = make_pose_dataset(x, y, dataset.layout, extras={"index": np.arange(len(y))}, **common)
    raw_ds = raw_ds.unbatch().map(with_frames, num_parallel_calls=tf.data.AUTOTUNE).batch(config.batch_size)
    timings = {}
    phase_list = (("pose encoder frozen", False), ("pose encoder fine-tuned", True))
    for phase, pose_trainable in phase_list[:1] if args.quick else phase_list:
        fusion.pose_backbone.trainable = pose_trainable
        for path, model, data in (("cached", fusion.head, cached_ds.map(fusion_targets(k))),
                                  ("uncached", fusion, raw_ds.map(fusion_targets(k)))):  # fmt: skip
            model.compile(optimizer=keras.optimizers.AdamW(1e-3), loss={o: "categorical_crossentropy" for o in OUTPUTS})
            model.fit(data.take(2), epochs=1, verbose=0)  # trace and warm up
            epochs = 3 if path == "cached" else 1
            start = time.perf_counter()
            model.fit(data, epochs=epochs, verbose=0)
            timings[(phase, path)] = (time.perf_counter() - start) / epochs
    phases = [{"phase": phase, "epoch_seconds_cached": timings[(phase, "cached")],
               "epoch_seconds_uncached": timings[(phase, "uncached")],
               "speedup": timings[(phase, "uncached")] / timings[(phase, "cached")]}
              for phase, _ in (phase_list[:1] if args.quick else phase_list)]  # fmt: skip
    result = {
        "suite": "fusion", "machine": machine, "image_size": size, "backbones": backbones,
        "feature_cache": {"train_clips": int(len(y)), "frames_per_clip": num_frames,
                          "feature_extraction_seconds": round(extraction, 1), "extraction_from_cache": from_cache,
                          "phases": phases},
    }  # fmt: skip
    rows = [[b["backbone"], f"{b['image_size']}", f"{b['parameters']:,}", f"{b['feature_dim']}",
             f"{b['batch1_ms_per_frame']:.1f}", f"{b['batch32_ms_per_frame']:.1f}", b["weights"]] for b in backbones]  # fmt: skip
    cache = result["feature_cache"]
    markdown = "\n".join([
        f"#### Frozen backbones: CPU latency per frame ({machine.get('cores')} cores, {size}x{size})", "",
        _table(["backbone", "size", "parameters", "D", "batch 1 (ms/frame)", "batch 32 (ms/frame)", "weights"], rows),
        "", f"#### Stage-2 epoch time on the default data ({cache['train_clips']} training clips x {num_frames} frames)", "",
        _table(["stage-2 phase", "cached features (s / epoch)", "frames through the frozen backbone (s / epoch)",
                "speed-up"],
               [[p["phase"], f"{p['epoch_seconds_cached']:.1f}", f"{p['epoch_seconds_uncached']:.1f}",
                 f"{p['speedup']:.0f}x"] for p in cache["phases"]]),
        "", f"Computing the cache once: {cache['feature_extraction_seconds']:.0f} s"
            + (" (read from an existing cache)" if cache["extraction_from_cache"] else ""),
    ])  # fmt: skip
    return result, markdown


# ---------------------------------------------------------------------------------------- export suite
def _export_rows(kind: str, model_path: Path, args) -> list[dict]:
    import json

    import numpy as np
    import tensorflow as tf

    from har_tf.export import QUANTIZATIONS, TFLiteRunner, export_samples, export_saved_model, export_tflite, make_servable
    from har_tf.export.parity import MIN_AGREEMENT
    from har_tf.export.samples import held_out_split
    from har_tf.export.saved_model import run_signature
    from har_tf.models.cost import time_calls
    from har_tf.models.saving import load_keras_model
    from har_tf.training.config import run_config
    from har_tf.training.stage1 import load_training_data

    model = load_keras_model(model_path)
    dataset, _ = load_training_data(run_config(model_path), args.cache_dir)
    servable = make_servable(model, layout=dataset.layout)
    samples = export_samples(dataset, held_out_split(dataset), servable.spec, limit=args.samples)
    calibration = export_samples(dataset, "train", servable.spec, limit=min(100, args.samples), seed=1)
    one = {k: v[:1] for k, v in samples.items()}
    folder = args.out / "exports" / kind
    threads = args.threads or 2
    print(f"export suite: {kind} model {model_path} ({servable.spec.num_classes} classes), parity on "
          f"{len(samples['pose'])} clips, latency at batch 1 over {args.runs} runs")  # fmt: skip
    keras_call = tf.function(lambda x: servable.full(x, training=False))
    keras_input = {k: tf.constant(v) for k, v in one.items()} if "frames" in one else tf.constant(one["pose"])
    rows = [{"model": kind, "format": "Keras (.keras)", "size_bytes": model_path.stat().st_size,
             "latency": time_calls(lambda: np.asarray(keras_call(keras_input)), args.runs, max(args.warmup, 1))}]  # fmt: skip
    path = export_saved_model(servable, folder / "savedmodel", samples=samples, version=1, force=True,
                              min_agreement=0.0)  # fmt: skip
    info = json.loads((path / "assets.extra" / "export_info.json").read_text())
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    rows.append({"model": kind, "format": "SavedModel", "size_bytes": sum(p.stat().st_size for p in path.rglob("*") if p.is_file()),
                 "parity": info["parity"], "min_agreement": MIN_AGREEMENT["savedmodel"],
                 "latency": time_calls(lambda: run_signature(signature, one), args.runs, max(args.warmup, 1))})  # fmt: skip
    for quantization in QUANTIZATIONS:
        if quantization == "int8_full" and servable.spec.frames_shape is not None:
            continue  # not available for fusion models (convert_to_tflite says why)
        start = time.perf_counter()
        tflite = folder / f"{kind}_{quantization}.tflite"
        info = export_tflite(servable, tflite, quantization=quantization, samples=samples, representative=calibration,
                             min_agreement=0.0)  # fmt: skip
        runner = TFLiteRunner(tflite, num_threads=threads)
        rows.append({"model": kind, "format": f"TFLite {quantization}", "size_bytes": info["size_bytes"],
                     "parity": info["parity"], "min_agreement": MIN_AGREEMENT[quantization],
                     "conversion_seconds": round(time.perf_counter() - start, 1), "threads": threads,
                     "latency": time_calls(lambda: runner(one), args.runs, max(args.warmup, 1))})  # fmt: skip
    return rows


def suite_export(args, machine: dict) -> tuple[dict, str]:
    """Size, parity and batch-1 CPU latency of every export of the pose-only and fusion models."""
    models = [(kind, path) for kind, path in (("pose", args.pose_model), ("fusion", args.fusion_model)) if path]
    if not models:
        raise InvalidInputError("the export suite needs --pose-model and/or --fusion-model (.keras files)")
    rows = [row for kind, path in models for row in _export_rows(kind, Path(path), args)]
    table = []
    for row in rows:
        fp32 = next(r for r in rows if r["model"] == row["model"] and r["format"] == "TFLite fp32")
        parity = row.get("parity")
        agreement = min(p["top1_agreement"] for p in parity.values()) if parity else None
        diff = max(p["max_abs_diff"] for p in parity.values()) if parity else None
        meets = "—" if parity is None else ("yes" if agreement >= row["min_agreement"] else f"no (< {row['min_agreement']:.0%})")
        table.append([row["model"], row["format"], f"{row['size_bytes'] / 1e6:.2f} MB",
                      f"{row['size_bytes'] / fp32['size_bytes']:.0%}" if row["format"].startswith("TFLite") else "—",
                      "—" if agreement is None else f"{agreement:.1%}", "—" if diff is None else f"{diff:.2g}", meets,
                      f"{row['latency']['median_ms']:.2f}", f"{row['latency']['p95_ms']:.2f}"])  # fmt: skip
    markdown = "\n".join([
        f"#### Exports: size, parity with Keras and CPU latency per clip at batch 1 ({machine.get('cores')} cores)", "",
        _table(["model", "export", "size", "of TFLite fp32", "top-1 agreement", "max abs diff", "meets the default",
                "median (ms)", "p95 (ms)"], table),
    ])  # fmt: skip
    return {"suite": "export", "machine": machine, "exports": rows}, markdown


# ------------------------------------------------------------------------------------- streaming suite
STREAM_CONFIGS = (  # name, estimator, embedder, embed_every, use_frames
    ("default: MoveNet + Keras backbone", "movenet", "keras", 1, True),
    ("TFLite fp32 backbone", "movenet", "tflite_fp32", 1, True),
    ("TFLite fp32 backbone, embed every 2nd frame", "movenet", "tflite_fp32", 2, True),
    ("BlazePose + Keras backbone", "blazepose", "keras", 1, True),
    ("pose only (no image branch)", "movenet", "keras", 1, False),
)


def _stream_clip(model, estimator, video: Path, embed_every: int, use_frames: bool, stride: int) -> dict:
    from har_tf.inference.streaming import StreamingRecognizer

    recogniser = StreamingRecognizer(model, estimator, stride=stride, embed_every=embed_every, use_frames=use_frames)
    windows = recogniser.run(video)
    warmup = min(10, recogniser.frames_seen - 1)
    totals = [sum(f.values()) * 1000.0 for f in recogniser.latency.frames[warmup:]]
    return {"frames": recogniser.frames_seen, "windows": len(windows), "stages": recogniser.latency.summary(warmup),
            "totals_ms": totals, "top1": [int(w.probabilities.argmax()) for w in windows]}  # fmt: skip


def suite_streaming(args, machine: dict) -> tuple[dict, str]:
    """Per-frame latency of the streaming recogniser on real clips: decode, pose, embedding, classifier."""
    import numpy as np

    from har_tf.inference.pose import make_estimator
    from har_tf.inference.pose.blazepose import find_blazepose_models
    from har_tf.inference.window_model import WindowModel
    from har_tf.models.saving import load_keras_model

    shared = Path(__file__).resolve().parents[2] / "shared"
    videos = args.videos or shared / "data" / "videos"
    movenet = args.movenet or shared / "models" / "movenet_singlepose_lightning_int8.tflite"
    if args.fusion_model is None:
        raise InvalidInputError("the streaming suite needs --fusion-model (a fusion_model.keras)")
    clips = sorted(p for p in Path(videos).glob("*") if p.suffix.lower() in (".mp4", ".avi", ".mkv", ".mov"))
    if not clips:
        raise InvalidInputError(f"no videos in {videos} (pass --videos DIR)")
    try:
        find_blazepose_models()
        configs = STREAM_CONFIGS
    except Exception:  # noqa: BLE001 - not fetched: leave BlazePose out and say so
        print("BlazePose models not fetched (python -m har_tf.inference.pose.blazepose fetch): its row is left out")
        configs = tuple(c for c in STREAM_CONFIGS if c[1] != "blazepose")
    if args.quick:
        configs, clips = configs[:2], clips[:2]
    keras_model = load_keras_model(args.fusion_model)
    threads = args.threads or 2
    rows = []
    for name, estimator_name, embedder, embed_every, use_frames in configs:
        start = time.perf_counter()
        model = WindowModel.from_keras(keras_model, embedder=embedder, num_threads=threads)
        estimator = make_estimator(estimator_name, movenet if estimator_name == "movenet" else None, threads)
        per_clip = {clip.name: _stream_clip(model, estimator, clip, embed_every, use_frames, args.stride) for clip in clips}
        totals = np.concatenate([c["totals_ms"] for c in per_clip.values()])
        stages = {stage: float(np.median([c["stages"][stage]["mean_ms_per_frame"] for c in per_clip.values()
                                          if stage in c["stages"]])) for stage in ("decode", "pose", "embed", "classify")
                  if any(stage in c["stages"] for c in per_clip.values())}  # fmt: skip
        rows.append({"config": name, "estimator": estimator_name, "embedder": embedder, "embed_every": embed_every,
                     "use_frames": use_frames, "median_ms": round(float(np.median(totals)), 2),
                     "p95_ms": round(float(np.percentile(totals, 95)), 2), "stage_ms_per_frame": stages,
                     "per_clip_median_ms": {k: round(float(np.median(c["totals_ms"])), 2) for k, c in per_clip.items()},
                     "clips": {k: {kk: v for kk, v in c.items() if kk != "totals_ms"} for k, c in per_clip.items()},
                     "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
        print(f"  {name}: median {rows[-1]['median_ms']} ms, p95 {rows[-1]['p95_ms']} ms per frame", flush=True)
    reference = rows[0]["clips"]
    for row in rows[1:]:
        same = [a == b for clip in reference for a, b in zip(reference[clip]["top1"], row["clips"][clip]["top1"])]
        row["top1_agreement_with_default"] = round(float(np.mean(same)), 4) if same else None
    table = [[r["config"], f"{r['median_ms']:.1f}", f"{r['p95_ms']:.1f}",
              *(f"{r['stage_ms_per_frame'].get(s, 0.0):.1f}" for s in ("decode", "pose", "embed", "classify")),
              "—" if r.get("top1_agreement_with_default") is None else f"{r['top1_agreement_with_default']:.0%}",
              " / ".join(f"{v:.0f}" for v in r["per_clip_median_ms"].values())] for r in rows]  # fmt: skip
    markdown = "\n".join([
        f"#### Streaming: per-frame latency on {len(clips)} real clips ({sum(rows[0]['clips'][c]['frames'] for c in rows[0]['clips'])} "
        f"frames), stride {args.stride}, {machine.get('cores')} cores", "",
        _table(["configuration", "median (ms)", "p95 (ms)", "decode", "pose", "embed", "classify",
                "top-1 as default", "per-clip median (" + ", ".join(c.stem for c in clips) + ")"], table), "",
        "Stage columns: mean ms per frame (a stage that skips frames costs less than its per-run time).",
    ])  # fmt: skip
    return {"suite": "streaming", "machine": machine, "model": str(args.fusion_model), "clips": [c.name for c in clips],
            "stride": args.stride, "configs": rows}, markdown  # fmt: skip


SUITES: dict[str, Callable[[argparse.Namespace, dict], tuple[dict, str]]] = {"cost": suite_cost, "fusion": suite_fusion,
                                                                             "export": suite_export,
                                                                             "streaming": suite_streaming}
"""Suite name -> function(args, machine) returning (JSON-ready result, Markdown). Issue #7 adds more here."""


def main(argv=None) -> int:
    args = parse_args(argv)
    import tensorflow as tf

    from har_tf.training.metrics import write_metrics_json

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    start = time.perf_counter()
    machine = machine_info()
    result, markdown = SUITES[args.suite](args, machine)
    result = {**result, "seconds": round(time.perf_counter() - start, 1)}
    write_metrics_json(args.out / "benchmark.json", result)
    _write_text(args.out / "benchmark.md", markdown)
    print()
    print(markdown)
    print(f"wrote {args.out / 'benchmark.json'} and {args.out / 'benchmark.md'} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    from har_tf.cli import run_cli

    run_cli(main)
