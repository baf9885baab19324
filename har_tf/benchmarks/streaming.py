"""The streaming recogniser on real clips: per-frame latency and the cost of each stage (decode, pose,
embed, classify; drawing is not included).

:func:`suite_streaming` (suite ``streaming``) compares configurations on a trained model over every clip
of a folder; :func:`stream_fresh_fusion` streams one clip through a fresh fusion model (latency does not
depend on the weights) for the all-in-one run.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from har_tf.benchmarks.report import table
from har_tf.errors import InvalidInputError

STREAM_CONFIGS = (  # name, estimator, embedder, embed_every, use_frames
    ("default: MoveNet + Keras backbone", "movenet", "keras", 1, True),
    ("TFLite fp32 backbone", "movenet", "tflite_fp32", 1, True),
    ("TFLite fp32 backbone, embed every 2nd frame", "movenet", "tflite_fp32", 2, True),
    ("BlazePose + Keras backbone", "blazepose", "keras", 1, True),
    ("pose only (no image branch)", "movenet", "keras", 1, False),
)
STAGE_NAMES = ("decode", "pose", "embed", "classify")
MOVENET_FILE = "movenet_singlepose_lightning_int8.tflite"
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")


def shared_dir() -> Path:
    """The ``../shared`` folder of real data beside the checkout (``$HAR_TF_SHARED_DIR`` if set)."""
    return Path(os.environ.get("HAR_TF_SHARED_DIR", Path(__file__).resolve().parents[3] / "shared"))


def stream_clip(
    model,
    estimator,
    video: Path,
    embed_every: int = 1,
    use_frames: bool = True,
    stride: int = 5,
    max_frames: int | None = None,
    warmup_frames: int = 10,
) -> dict:
    """Stream ``video`` (its first ``max_frames`` frames when given): frames, windows, per-stage latency
    summary after ``warmup_frames``, per-frame totals (ms) and each window's top-1 class."""
    from har_tf.inference.streaming import StreamingRecognizer

    recogniser = StreamingRecognizer(model, estimator, stride=stride, embed_every=embed_every, use_frames=use_frames)
    windows = recogniser.run(video, max_frames=max_frames)
    warmup = min(warmup_frames, recogniser.frames_seen - 1)
    totals = [sum(f.values()) * 1000.0 for f in recogniser.latency.frames[warmup:]]
    return {
        "frames": recogniser.frames_seen,
        "windows": len(windows),
        "stages": recogniser.latency.summary(warmup),
        "totals_ms": totals,
        "top1": [int(w.probabilities.argmax()) for w in windows],
    }


def stream_fresh_fusion(
    video: str,
    movenet: str,
    embedder: str = "tflite_fp32",
    stride: int = 5,
    threads: int = 2,
    max_frames: int | None = None,
) -> dict:
    """Stream one clip with MoveNet and a fresh fusion model of the default config (latency does not
    depend on the weights): median and p95 ms per frame after 10 warm-up frames, each stage's mean ms per
    frame, the seconds the model took to open (the ``tflite_*`` embedders convert then) and ``memory``: the
    peak resident memory (MB) up to the stream's start and while streaming, and the resident memory at the start."""
    import numpy as np

    from har_tf.benchmarks.memory import peak_rss_mb, reset_peak_rss, rss_mb
    from har_tf.benchmarks.models import build_model
    from har_tf.inference.pose import make_estimator
    from har_tf.inference.window_model import WindowModel

    start = time.perf_counter()
    keras_model = build_model("fusion").model
    model = WindowModel.from_keras(keras_model, embedder=embedder, num_threads=threads)
    estimator = make_estimator("movenet", movenet, threads)
    setup = time.perf_counter() - start
    setup_peak, before = peak_rss_mb(), rss_mb()
    reset = reset_peak_rss()  # from here on, the peak is the stream's
    clip = stream_clip(model, estimator, Path(video), stride=stride, max_frames=max_frames)
    memory = {
        "peak_rss_setup_mb": setup_peak,
        "rss_before_stream_mb": before,
        "peak_rss_while_streaming_mb": peak_rss_mb() if reset else None,
    }
    totals = np.asarray(clip.pop("totals_ms"))
    stages = {s: clip["stages"][s]["mean_ms_per_frame"] for s in STAGE_NAMES if s in clip["stages"]}
    return {
        "video": Path(video).name,
        "embedder": embedder,
        "stride": stride,
        "threads": threads,
        "estimator": "movenet",
        "frames": clip["frames"],
        "windows": clip["windows"],
        "warmup_frames": 10,
        "median_ms": round(float(np.median(totals)), 2),
        "p95_ms": round(float(np.percentile(totals, 95)), 2),
        "stage_ms_per_frame": stages,
        "stages": clip["stages"],
        "setup_seconds": round(setup, 1),
        "memory": memory,
    }


def suite_streaming(args: argparse.Namespace, machine: dict) -> tuple[dict, str]:
    """Per-frame latency of the streaming recogniser on real clips: decode, pose, embedding, classifier.

    Uses ``args.fusion_model``, ``videos`` (default ``../shared/data/videos``), ``movenet`` (default in
    ``../shared/models``), ``stride``, ``threads`` and ``quick`` (two configurations, two clips)."""
    import numpy as np

    from har_tf.inference.pose import make_estimator
    from har_tf.inference.pose.blazepose import find_blazepose_models
    from har_tf.inference.window_model import WindowModel
    from har_tf.models.saving import load_keras_model

    shared = shared_dir()
    videos = args.videos or shared / "data" / "videos"
    movenet = args.movenet or shared / "models" / MOVENET_FILE
    if args.fusion_model is None:
        raise InvalidInputError("the streaming suite needs --fusion-model (a fusion_model.keras)")
    clips = sorted(p for p in Path(videos).glob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
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
        per_clip = {
            clip.name: stream_clip(model, estimator, clip, embed_every, use_frames, args.stride) for clip in clips
        }
        totals = np.concatenate([c["totals_ms"] for c in per_clip.values()])
        stages = {
            stage: float(
                np.median([c["stages"][stage]["mean_ms_per_frame"] for c in per_clip.values() if stage in c["stages"]])
            )
            for stage in STAGE_NAMES
            if any(stage in c["stages"] for c in per_clip.values())
        }
        rows.append(
            {
                "config": name,
                "estimator": estimator_name,
                "embedder": embedder,
                "embed_every": embed_every,
                "use_frames": use_frames,
                "median_ms": round(float(np.median(totals)), 2),
                "p95_ms": round(float(np.percentile(totals, 95)), 2),
                "stage_ms_per_frame": stages,
                "per_clip_median_ms": {k: round(float(np.median(c["totals_ms"])), 2) for k, c in per_clip.items()},
                "clips": {k: {kk: v for kk, v in c.items() if kk != "totals_ms"} for k, c in per_clip.items()},
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        print(f"  {name}: median {rows[-1]['median_ms']} ms, p95 {rows[-1]['p95_ms']} ms per frame", flush=True)
    reference = rows[0]["clips"]
    for row in rows[1:]:
        same = [a == b for clip in reference for a, b in zip(reference[clip]["top1"], row["clips"][clip]["top1"])]
        row["top1_agreement_with_default"] = round(float(np.mean(same)), 4) if same else None
    lines = [
        [
            r["config"],
            f"{r['median_ms']:.1f}",
            f"{r['p95_ms']:.1f}",
            *(f"{r['stage_ms_per_frame'].get(s, 0.0):.1f}" for s in STAGE_NAMES),
            "—" if r.get("top1_agreement_with_default") is None else f"{r['top1_agreement_with_default']:.0%}",
            " / ".join(f"{v:.0f}" for v in r["per_clip_median_ms"].values()),
        ]
        for r in rows
    ]
    frames = sum(rows[0]["clips"][c]["frames"] for c in rows[0]["clips"])
    markdown = "\n".join(
        [
            f"#### Streaming: per-frame latency on {len(clips)} real clips ({frames} frames), stride {args.stride}, "
            f"{machine.get('cores')} cores",
            "",
            table(
                [
                    "configuration",
                    "median (ms)",
                    "p95 (ms)",
                    "decode",
                    "pose",
                    "embed",
                    "classify",
                    "top-1 as default",
                    "per-clip median (" + ", ".join(c.stem for c in clips) + ")",
                ],
                lines,
            ),
            "",
            "Stage columns: mean ms per frame (a stage that skips frames costs less than its per-run time).",
        ]
    )
    return {
        "suite": "streaming",
        "machine": machine,
        "model": str(args.fusion_model),
        "clips": [c.name for c in clips],
        "stride": args.stride,
        "configs": rows,
    }, markdown
