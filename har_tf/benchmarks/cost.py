"""Suite ``cost``: PoseFormerFactorized against FullAttentionTransformer and LSTMLite.

Same preset for both transformers (same width, depth and parameters), LSTMLite fixed at 3 x 128
units; T = 30, C = 3, J = 17 (coco17) and J = 25 (body25): parameters, FLOPs per clip (whole model,
batch 1, :func:`har_tf.models.cost.flops_breakdown`), attention-only FLOPs (analytic), CPU latency per
clip at batch 1 and a large batch, the full/factorized ratios; then latency against T at J = 17.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from har_tf.benchmarks.machine import describe
from har_tf.benchmarks.report import ms, ratio, si, table, times
from har_tf.benchmarks.timing import time_call

LAYOUTS = (("coco17", 17), ("body25", 25))
NUM_FRAMES = 30
NUM_CHANNELS = 3
SWEEP_FRAMES = (15, 30, 60, 120)
QUICK_SWEEP_FRAMES = (15, 30)
SWEEP_JOINTS = ("coco17", 17)
MODEL_NAMES = {"factorized": "PoseFormerFactorized", "full": "FullAttentionTransformer", "lstm": "LSTMLite"}


@dataclasses.dataclass(frozen=True)
class CostSettings:
    """What :func:`compare_backbones` measures and how.

    ``adaptive``: every latency figure takes at most ``max_seconds`` (fewer runs, at least 3);
    otherwise the main table takes all ``runs`` and a T-sweep point whose runs would exceed
    ``max_seconds`` is skipped (and the longer clips of that model with it).
    """

    preset: str = "small"
    kinds: tuple[str, ...] = ("factorized", "full", "lstm")
    batch_sizes: tuple[int, ...] = (1, 64)
    sweep_frames: tuple[int, ...] = SWEEP_FRAMES
    runs: int = 50
    warmup: int = 5
    max_seconds: float = 30.0
    adaptive: bool = False
    threads: int = 0
    quick: bool = False


def build_backbone(kind: str, preset: str, layout: str, num_frames: int):
    """A fresh backbone: ``factorized``, ``full`` (both at ``preset``) or ``lstm``."""
    from har_tf.models import FullAttentionTransformer, LSTMLite, PoseFormerFactorized
    from har_tf.skeleton.layouts import get_layout

    if kind == "factorized":
        return PoseFormerFactorized.from_preset(preset, layout, num_frames=num_frames, num_channels=NUM_CHANNELS)
    if kind == "full":
        return FullAttentionTransformer.from_preset(preset, layout, num_frames=num_frames, num_channels=NUM_CHANNELS)
    return LSTMLite(get_layout(layout).num_joints, num_frames=num_frames, num_channels=NUM_CHANNELS, layout=layout)


def _latency(model, batch_size: int, settings: CostSettings, max_seconds: float | None = None) -> dict:
    import numpy as np
    import tensorflow as tf

    from har_tf.models.cost import LatencyBudgetExceeded, measure_latency, random_poses

    if settings.adaptive:
        x = tf.constant(random_poses((batch_size, *model.input_shape[1:])))
        forward = tf.function(lambda inputs: model(inputs, training=False))
        return time_call(
            lambda: np.asarray(forward(x)), settings.runs, settings.warmup, settings.max_seconds, batch_size=batch_size
        )
    try:
        result = measure_latency(model, batch_size, runs=settings.runs, warmup=settings.warmup, max_seconds=max_seconds)
    except LatencyBudgetExceeded as err:
        return {"skipped": f"{settings.runs} runs {err}", "median_ms_per_clip": None, "p95_ms_per_clip": None}
    return {
        **result,
        "median_ms_per_clip": result["median_ms"] / batch_size,
        "p95_ms_per_clip": result["p95_ms"] / batch_size,
    }


def _attention(kind: str, model, num_frames: int, num_joints: int) -> tuple[int | None, int]:
    from har_tf.models.cost import attention_flops, num_attention_sub_blocks

    blocks = num_attention_sub_blocks(model)
    if kind == "lstm":
        return None, blocks
    return attention_flops(num_frames, num_joints, model.hidden_dim, blocks, factorized=kind == "factorized"), blocks


def measure_backbone(
    kind: str, layout: str, num_frames: int, batch_sizes, settings: CostSettings, max_seconds: float | None = None
) -> dict:
    """Parameters, FLOPs, attention FLOPs and latency at each of ``batch_sizes`` of one fresh backbone."""
    import keras

    from har_tf.models.cost import count_params, flops_breakdown

    keras.utils.clear_session()
    keras.utils.set_random_seed(0)
    start = time.perf_counter()
    model = build_backbone(kind, settings.preset, layout, num_frames)
    num_joints = int(model.input_shape[2])
    flops = flops_breakdown(model, 1)
    attention, blocks = _attention(kind, model, num_frames, num_joints)
    entry = {
        "model": MODEL_NAMES[kind],
        "kind": kind,
        "layout": layout,
        "num_joints": num_joints,
        "num_frames": num_frames,
        "num_channels": NUM_CHANNELS,
        "preset": None if kind == "lstm" else settings.preset,
        "parameters": count_params(model),
        "flops_per_clip": flops["total"],
        "flops_breakdown": flops,
        "attention_sub_blocks": blocks,
        "attention_flops_per_clip": attention,
        "latency": {},
    }
    for batch in batch_sizes:
        entry["latency"][f"batch_{batch}"] = _latency(model, batch, settings, max_seconds)
    entry["seconds"] = round(time.perf_counter() - start, 2)
    print(
        f"  {entry['model']:<26} J={num_joints:<3} T={num_frames:<4} {si(flops['total'], 'FLOPs'):>12}  "
        + "  ".join(f"b{b}: {ms(entry['latency'][f'batch_{b}'])} ms/clip" for b in batch_sizes)
        + f"  [{entry['seconds']} s]",
        flush=True,
    )
    return entry


def compare_backbones(settings: CostSettings) -> dict:
    """``{"models", "ratios", "frames_sweep", "notes"}``: the cost table, the full/factorized ratios at
    T = 30 for J = 17 and 25, and latency against T (batch 1, J = 17) for both transformers."""
    from har_tf.models.cost import attention_flops_ratio

    batch_sizes = settings.batch_sizes
    models, ratios, sweep, notes = [], [], [], []
    print(
        f"backbones: preset {settings.preset}, T = {NUM_FRAMES}, C = {NUM_CHANNELS}, runs {settings.runs}, "
        f"warm-up {settings.warmup}, batches {batch_sizes}",
        flush=True,
    )
    for layout, _ in LAYOUTS:
        by_kind = {kind: measure_backbone(kind, layout, NUM_FRAMES, batch_sizes, settings) for kind in settings.kinds}
        models += by_kind.values()
        fac, full = by_kind["factorized"], by_kind["full"]
        j, t = fac["num_joints"], NUM_FRAMES
        row = {
            "layout": layout,
            "num_joints": j,
            "num_frames": t,
            "tj_over_t_plus_j": t * j / (t + j),
            "attention_flops_ratio": ratio(full["attention_flops_per_clip"], fac["attention_flops_per_clip"]),
            "attention_flops_ratio_formula": "(full sub-blocks / factorized sub-blocks) · 2·T·J/(T+J)",
            "attention_flops_ratio_exact": str(
                attention_flops_ratio(t, j, full["attention_sub_blocks"], fac["attention_sub_blocks"])
            ),
            "flops_ratio": ratio(full["flops_per_clip"], fac["flops_per_clip"]),
            "parameters_equal": full["parameters"] == fac["parameters"],
        }
        for batch in batch_sizes:
            key = f"batch_{batch}"
            row[f"latency_ratio_{key}"] = ratio(
                full["latency"][key]["median_ms_per_clip"], fac["latency"][key]["median_ms_per_clip"]
            )
        ratios.append(row)

    cap = f"at most {settings.max_seconds:g} s per point"
    print(f"latency against T (J = {SWEEP_JOINTS[1]}, batch 1, {cap})", flush=True)
    too_slow: dict[str, int] = {}
    for frames in settings.sweep_frames:
        point = {"num_frames": frames, "num_joints": SWEEP_JOINTS[1], "tokens": frames * SWEEP_JOINTS[1]}
        for kind in ("factorized", "full"):
            if frames == NUM_FRAMES:  # the main table measured this point already
                entry = next(m for m in models if m["kind"] == kind and m["layout"] == SWEEP_JOINTS[0])
                latency = entry["latency"]["batch_1"]
            elif kind in too_slow:  # FLOPs only: a longer clip would be slower still
                entry = measure_backbone(kind, SWEEP_JOINTS[0], frames, (), settings)
                latency = {
                    "skipped": f"T={too_slow[kind]} already exceeded {settings.max_seconds:g} s",
                    "median_ms_per_clip": None,
                    "p95_ms_per_clip": None,
                }
            else:
                entry = measure_backbone(kind, SWEEP_JOINTS[0], frames, (1,), settings, settings.max_seconds)
                latency = entry["latency"]["batch_1"]
            point[kind] = {
                "flops_per_clip": entry["flops_per_clip"],
                **latency,
                "attention_flops_per_clip": entry["attention_flops_per_clip"],
            }
            if "skipped" in latency:
                too_slow.setdefault(kind, frames)
                notes.append(f"{MODEL_NAMES[kind]} T={frames}: latency skipped ({latency['skipped']})")
        point["latency_ratio"] = ratio(point["full"]["median_ms_per_clip"], point["factorized"]["median_ms_per_clip"])
        point["flops_ratio"] = ratio(point["full"].get("flops_per_clip"), point["factorized"].get("flops_per_clip"))
        point["attention_flops_ratio"] = ratio(
            point["full"].get("attention_flops_per_clip"), point["factorized"].get("attention_flops_per_clip")
        )
        sweep.append(point)
    return {"models": models, "ratios": ratios, "frames_sweep": sweep, "notes": notes}


def settings_block(settings: CostSettings) -> dict:
    """The ``settings`` of a cost result (its JSON shape)."""
    return {
        "preset": settings.preset,
        "num_frames": NUM_FRAMES,
        "num_channels": NUM_CHANNELS,
        "layouts": [layout for layout, _ in LAYOUTS],
        "batch_sizes": list(settings.batch_sizes),
        "runs": settings.runs,
        "warmup": settings.warmup,
        "quick": settings.quick,
        "sweep_frames": list(settings.sweep_frames),
        "sweep_layout": SWEEP_JOINTS[0],
        "max_seconds": settings.max_seconds,
        "threads": settings.threads,
        "adaptive": settings.adaptive,
    }


def suite_cost(args: argparse.Namespace, machine: dict) -> tuple[dict, str]:
    """Parameters, FLOPs, attention FLOPs and latency of the three backbones; latency against T.

    Uses ``args.preset``, ``runs``, ``warmup``, ``quick`` (T sweep 15, 30 and batch 8 instead of 64),
    ``max_seconds`` and ``threads``."""
    settings = CostSettings(
        preset=args.preset,
        batch_sizes=(1, 8 if args.quick else 64),
        sweep_frames=QUICK_SWEEP_FRAMES if args.quick else SWEEP_FRAMES,
        runs=args.runs,
        warmup=args.warmup,
        max_seconds=args.max_seconds,
        threads=args.threads,
        quick=args.quick,
    )
    print("cost suite", flush=True)
    result = {"suite": "cost", "machine": machine, "settings": settings_block(settings), **compare_backbones(settings)}
    return result, cost_markdown(result)


def cost_markdown(result: dict, level: str = "###") -> str:
    """The three tables of a cost result: cost per clip, full/factorized ratios, latency against T."""
    s = result["settings"]
    large = s["batch_sizes"][-1]
    rows = []
    for m in result["models"]:
        rows.append(
            [
                m["model"] + ("" if m["preset"] is None else f" ({m['preset']})"),
                str(m["num_joints"]),
                f"{m['parameters']:,}",
                si(m["flops_per_clip"]),
                si(m["attention_flops_per_clip"]),
                ms(m["latency"]["batch_1"]),
                ms(m["latency"][f"batch_{large}"]),
            ]
        )
    cost = table(
        [
            "model",
            "J",
            "parameters",
            "FLOPs / clip",
            "attention FLOPs / clip",
            "ms / clip, batch 1",
            f"ms / clip, batch {large}",
        ],
        rows,
    )
    ratio_rows = [
        [
            str(r["num_joints"]),
            f"{r['tj_over_t_plus_j']:.3g}",
            times(r["attention_flops_ratio"]),
            times(r["flops_ratio"]),
            times(r["latency_ratio_batch_1"]),
            times(r[f"latency_ratio_batch_{large}"]),
        ]
        for r in result["ratios"]
    ]
    ratios = table(
        [
            "J",
            "T·J/(T+J)",
            "attention FLOPs ratio",
            "whole-model FLOPs ratio",
            "latency ratio, batch 1",
            f"latency ratio, batch {large}",
        ],
        ratio_rows,
    )
    sweep_rows = []
    for p in result["frames_sweep"]:
        sweep_rows.append(
            [
                str(p["num_frames"]),
                str(p["tokens"]),
                ms(p["factorized"]),
                ms(p["full"]),
                times(p["latency_ratio"]),
                times(p["flops_ratio"]),
                times(p["attention_flops_ratio"]),
            ]
        )
    sweep = table(
        [
            "T",
            "tokens T·J",
            "factorized ms / clip",
            "full ms / clip",
            "latency ratio",
            "whole-model FLOPs ratio",
            "attention FLOPs ratio",
        ],
        sweep_rows,
    )
    blocks = {m["kind"]: m["attention_sub_blocks"] for m in result["models"] if m["layout"] == s["layouts"][0]}
    fac_blocks, full_blocks = blocks["factorized"], blocks["full"]
    formula = "2·T·J/(T+J)" if fac_blocks == full_blocks else f"({full_blocks}/{fac_blocks // 2})·T·J/(T+J)"
    if s.get("adaptive"):
        runs = (
            f"median (p95) of up to {s['runs']} timed calls after {s['warmup']} warm-up, at most "
            f"{s['max_seconds']:g} s of timed calls per figure (at least 3 calls)"
        )
    else:
        runs = f"median (p95) of {s['runs']} timed calls after {s['warmup']} warm-up"
    lstm = any(m["kind"] == "lstm" for m in result["models"])
    sweep_joints = result["frames_sweep"][0]["num_joints"] if result["frames_sweep"] else "—"
    parts = [
        f"{level} Cost per clip ({s['preset']} preset, T = {s['num_frames']}, C = {s['num_channels']})",
        "",
        cost,
        "",
        f"Latency: {runs}, CPU, batch latency / batch size. FLOPs: one forward pass, batch 1 "
        f"(`har_tf.models.cost.model_flops`: TensorFlow profiler + einsum attention and LSTM time steps it "
        f"misses). Attention FLOPs: QKᵀ and AV only, analytic."
        + (" LSTMLite is 3 x 128 units whatever the preset." if lstm else ""),
        "",
        f"{level} Full attention / factorized ({s['preset']} preset, T = {s['num_frames']})",
        "",
        ratios,
        "",
        f"PoseFormerFactorized has {fac_blocks} attention sub-blocks ({fac_blocks // 2} spatial + {fac_blocks // 2} "
        f"temporal), FullAttentionTransformer {full_blocks} over all T·J tokens, with the same parameters: "
        f"their attention-FLOPs ratio is {formula}, while T·J/(T+J) is the ratio per attention layer (one "
        f"full layer against one spatial + temporal pair). Projections, MLPs and norms cost the same per token "
        f"in both, hence the smaller whole-model ratio.",
        "",
        f"{level} Latency against T (J = {sweep_joints}, batch 1, {s['preset']} preset)",
        "",
        sweep,
        "",
    ]
    if result["notes"]:
        parts += ["Skipped: " + "; ".join(result["notes"]) + ".", ""]
    if "machine" in result:
        parts += [f"Measured on: {describe(result['machine'])}.", ""]
    return "\n".join(parts)
