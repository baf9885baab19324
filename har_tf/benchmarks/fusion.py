"""Suite ``fusion``: per-frame CPU latency of each image backbone, and the stage-2 epoch time with cached
frame features against decoding the frames and running them through the frozen backbone in every step."""

from __future__ import annotations

import argparse
import contextlib
import time

from har_tf.benchmarks.report import table

FUSION_BACKBONES = ("efficientnet_lite0", "mobilenet_v3_small", "efficientnet_b0", "resnet50")


def backbone_latency(name: str, image_size: int, runs: int, warmup: int) -> dict:
    """Per-frame latency of one backbone at batch 1 and 32 (weights do not change the cost: the
    ``keras.applications`` ones are timed with random weights when theirs are not on this machine)."""
    import numpy as np
    import tensorflow as tf

    from har_tf.models.image_encoder import build_frame_backbone

    weights = "imagenet" if name == "efficientnet_lite0" else None
    network, info = build_frame_backbone(name, image_size, weights)
    call = tf.function(lambda x: network(x, training=False))
    row = {
        "backbone": name,
        "image_size": image_size,
        "feature_dim": info.feature_dim,
        "parameters": int(network.count_params()),
        "weights": weights or "random (timing only)",
    }
    for batch in (1, 32):
        x = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch, image_size, image_size, 3)), tf.float32)
        count = max(2, runs // (8 if batch > 1 else 1))
        for _ in range(max(warmup, 1)):
            call(x).numpy()
        times = []
        for _ in range(count):
            start = time.perf_counter()
            call(x).numpy()
            times.append((time.perf_counter() - start) * 1000 / batch)
        row[f"batch{batch}_ms_per_frame"] = float(np.median(times))
    return row


def suite_fusion(args: argparse.Namespace, machine: dict) -> tuple[dict, str]:
    """Backbone latency per frame, and stage-2 epoch time with the feature cache vs running the backbone.

    Uses ``args.image_size`` (default: the training default), ``cache_dir``, ``runs``, ``warmup`` and
    ``quick`` (one backbone, a small data set, the frozen phase only)."""
    from har_tf.benchmarks.training import (
        SMALL_CLIPS_PER_CLASS,
        STAGE2_PHASES,
        compile_stage2,
        stage2_setup,
        training_dataset,
        whole_model_training,
    )
    from har_tf.training.config import TrainConfig

    config = TrainConfig()
    size = args.image_size or config.image_size
    names = FUSION_BACKBONES[:1] if args.quick else FUSION_BACKBONES
    backbones = [backbone_latency(name, size, args.runs, args.warmup) for name in names]
    clips = SMALL_CLIPS_PER_CLASS if args.quick else config.synthetic_clips_per_class
    setup = stage2_setup(training_dataset(args.cache_dir, clips), size, args.cache_dir)
    fusion = setup.fusion
    timings = {}
    phases = STAGE2_PHASES[:1] if args.quick else STAGE2_PHASES
    for phase in phases:
        fusion.pose_backbone.trainable = phase == STAGE2_PHASES[1]
        for path, model, data in (("cached", fusion.head, setup.cached), ("uncached", fusion, setup.uncached)):
            compile_stage2(model)
            with whole_model_training() if path == "uncached" else contextlib.nullcontext():
                model.fit(data.take(2), epochs=1, verbose=0)  # trace and warm up
                epochs = 3 if path == "cached" else 1
                start = time.perf_counter()
                model.fit(data, epochs=epochs, verbose=0)
            timings[(phase, path)] = (time.perf_counter() - start) / epochs
    rows = [
        {
            "phase": phase,
            "epoch_seconds_cached": timings[(phase, "cached")],
            "epoch_seconds_uncached": timings[(phase, "uncached")],
            "speedup": timings[(phase, "uncached")] / timings[(phase, "cached")],
        }
        for phase in phases
    ]
    result = {
        "suite": "fusion",
        "machine": machine,
        "image_size": size,
        "backbones": backbones,
        "feature_cache": {
            "train_clips": setup.train_clips,
            "frames_per_clip": setup.frames_per_clip,
            "feature_extraction_seconds": setup.extraction_seconds,
            "extraction_from_cache": setup.extraction_from_cache,
            "phases": rows,
        },
    }
    backbone_rows = [
        [
            b["backbone"],
            f"{b['image_size']}",
            f"{b['parameters']:,}",
            f"{b['feature_dim']}",
            f"{b['batch1_ms_per_frame']:.1f}",
            f"{b['batch32_ms_per_frame']:.1f}",
            b["weights"],
        ]
        for b in backbones
    ]
    cache = result["feature_cache"]
    markdown = "\n".join(
        [
            f"#### Frozen backbones: CPU latency per frame ({machine.get('cores')} cores, {size}x{size})",
            "",
            table(
                ["backbone", "size", "parameters", "D", "batch 1 (ms/frame)", "batch 32 (ms/frame)", "weights"],
                backbone_rows,
            ),
            "",
            f"#### Stage-2 epoch time on the default data ({cache['train_clips']} training clips x "
            f"{cache['frames_per_clip']} frames)",
            "",
            table(
                [
                    "stage-2 phase",
                    "cached features (s / epoch)",
                    "frames through the frozen backbone (s / epoch)",
                    "speed-up",
                ],
                [
                    [
                        p["phase"],
                        f"{p['epoch_seconds_cached']:.1f}",
                        f"{p['epoch_seconds_uncached']:.1f}",
                        f"{p['speedup']:.0f}x",
                    ]
                    for p in cache["phases"]
                ],
            ),
            "",
            f"Computing the cache once: {cache['feature_extraction_seconds']:.0f} s"
            + (" (read from an existing cache)" if cache["extraction_from_cache"] else ""),
        ]
    )
    return result, markdown
