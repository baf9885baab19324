"""har_tf.benchmarks without running a benchmark: capped timing, memory probes, multi-input FLOPs, settings,
and the all-in-one Markdown and figures from a made-up result."""

from __future__ import annotations

import argparse
import time

import pytest

from har_tf.benchmarks import plots
from har_tf.benchmarks.all_in_one import AllInOneSettings, _not_measured, all_markdown, make_plots
from har_tf.benchmarks.memory import peak_rss_mb, reset_peak_rss, rss_mb
from har_tf.benchmarks.report import ms, si, table
from har_tf.benchmarks.timing import Stopwatch, time_call


def test_time_call_caps_the_runs_to_max_seconds():
    calls = []
    slow = time_call(lambda: (calls.append(1), time.sleep(0.02)), runs=100, warmup=2, max_seconds=0.1, batch_size=4)
    assert slow["capped"] and 3 <= slow["runs"] <= 5 and slow["runs_asked"] == 100 and len(calls) == 2 + slow["runs"]
    assert slow["median_ms"] >= 20 and slow["median_ms_per_clip"] == pytest.approx(slow["median_ms"] / 4)
    floor = time_call(lambda: time.sleep(0.02), runs=10, warmup=1, max_seconds=0.001)
    assert floor["runs"] == 3 and floor["warmup"] == 1  # never fewer than min_runs
    fast = time_call(lambda: None, runs=7, warmup=0, max_seconds=1.0)
    assert not fast["capped"] and fast["runs"] == 7 and fast["warmup"] == 1  # one warm-up call at least


def test_stopwatch_and_formats():
    watch = Stopwatch()
    with watch.section("a"):
        pass
    watch.add("a: part", 1.26)
    watch.add("a: part", 1.0)
    assert set(watch.sections) == {"a", "a: part"} and watch.sections["a: part"] == pytest.approx(2.3)
    assert si(1.5e9, "FLOPs") == "1.5 GFLOPs" and si(None) == "—" and ms({"median_ms_per_clip": None}) == "—"
    assert ms({"median_ms_per_clip": 697.4, "p95_ms_per_clip": 1304.6}) == "697 (1305)"
    assert table(["a", "b"], [["1", "2"]]) == "| a | b |\n|---|---|\n| 1 | 2 |"


def test_memory_probes():
    now, peak = rss_mb(), peak_rss_mb()
    assert peak >= now > 0
    if reset_peak_rss():  # Linux: the peak restarts from the current resident memory
        assert peak_rss_mb() <= peak


def test_flops_of_a_model_with_named_inputs_match_the_single_input_count():
    import keras

    from har_tf.benchmarks.models import flops_per_clip
    from har_tf.models.cost import model_flops

    dense = keras.layers.Dense(5)
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    two = keras.Model({"a": a, "b": b}, dense(keras.layers.Concatenate()([a, b])))
    single = keras.Input((7,))
    one = keras.Model(single, dense(single))
    assert flops_per_clip(two) == model_flops(one) == 2 * 7 * 5 + 5
    assert flops_per_clip(one) == model_flops(one)


def _args(**kw) -> argparse.Namespace:
    base = dict(
        video=None,
        movenet=None,
        stride=5,
        cache_dir=None,
        threads=0,
        quick=False,
        full=False,
        runs=None,
        warmup=None,
        max_seconds=None,
    )
    return argparse.Namespace(**{**base, **kw})


def test_settings_of_each_mode():
    default = AllInOneSettings.from_args(_args())
    assert default.export_plan("poseformer_micro")[1] == (1, 32) and default.export_plan("fusion")[1] == (1,)
    assert default.export_plan("poseformer_base") == ((), ())
    assert "tflite_int8_full" not in default.export_plan("fusion")[0]
    notes = "; ".join(_not_measured(default))
    assert "PoseFormerFactorized (small)" in notes and "batch 32 of the exports of fusion" in notes
    assert "SavedModel, TFLite fp16 of fusion" in notes
    full = AllInOneSettings.from_args(_args(full=True, runs=7))
    assert full.runs == 7 and full.export_plan("lstm_lite")[1] == (1, 32) and not _not_measured(full)
    quick = AllInOneSettings.from_args(_args(quick=True))
    assert quick.models == ("poseformer_micro",) and quick.stage2_paths == ("cached",) and quick.stream_frames == 40


def _latency(median: float) -> dict:
    return {
        "median_ms": median,
        "p95_ms": median * 1.2,
        "median_ms_per_clip": median,
        "p95_ms_per_clip": median * 1.2,
        "runs": 20,
    }


def _made_up_result() -> dict:
    settings = AllInOneSettings.from_args(_args())
    import dataclasses

    model = {
        "key": "poseformer_micro",
        "model": "PoseFormerFactorized (micro)",
        "parameters": 36396,
        "flops_per_clip": 43.6e6,
        "formats": {
            "keras": {"batch_1": _latency(6.0), "batch_32": _latency(1.7)},
            "tflite_fp32": {
                "size_bytes": 250000,
                "conversion_seconds": 4.9,
                "batch_1": _latency(0.9),
                "batch_32": _latency(1.2),
            },
            "tflite_int8_full": {"error": "conversion failed"},
        },
    }
    fusion = {
        "key": "fusion",
        "model": "fusion",
        "parameters": 3.6e6,
        "flops_per_clip": 2.1e9,
        "formats": {
            "keras": {"batch_1": _latency(60.0), "batch_32": _latency(30.0)},
            "savedmodel": {"size_bytes": 3.7e7, "conversion_seconds": 12, "batch_1": _latency(55.0)},
        },
    }
    cost_models = [
        {
            "model": name,
            "kind": kind,
            "preset": "small",
            "layout": "coco17",
            "num_joints": 17,
            "parameters": 271168,
            "flops_per_clip": flops,
            "attention_flops_per_clip": flops / 10,
            "attention_sub_blocks": 8,
            "latency": {"batch_1": _latency(t), "batch_32": _latency(t / 2)},
        }
        for name, kind, flops, t in (
            ("PoseFormerFactorized", "factorized", 3e8, 10.0),
            ("FullAttentionTransformer", "full", 8.6e8, 15.0),
        )
    ]
    sweep = [
        {
            "num_frames": t,
            "num_joints": 17,
            "tokens": 17 * t,
            "factorized": _latency(t / 3),
            "full": _latency(t / 2),
            "latency_ratio": 1.5,
            "flops_ratio": 2.0,
            "attention_flops_ratio": 20.0,
        }
        for t in (15, 30, 60, 120)
    ]
    stream = {
        "video": "ta_chi.mp4",
        "frames": 300,
        "windows": 55,
        "embedder": "tflite_fp32",
        "stride": 5,
        "threads": 2,
        "warmup_frames": 10,
        "median_ms": 11.5,
        "p95_ms": 20.2,
        "setup_seconds": 16.1,
        "stage_ms_per_frame": {"decode": 0.5, "pose": 4.3, "embed": 6.4, "classify": 1.5},
        "memory": {"peak_rss_while_streaming_mb": 1010.0, "rss_before_stream_mb": 1008.0},
        "process": {"peak_rss_mb": 1037.0, "rss_after_imports_mb": 660.0, "seconds": 31.0},
    }
    process = {"peak_rss_mb": 1200.0, "rss_after_imports_mb": 660.0}
    runs = [
        {
            "label": "stage 1",
            "job": "stage 1",
            "samples_per_second": 61.0,
            "ms_per_step": 525.0,
            "steps": 15,
            "median_ms_per_step": 500.0,
            "p95_ms_per_step": 610.0,
            "batch_size": 32,
            "warmup_steps": 2,
            "process": process,
        },
        {
            "label": "stage 2, frames through the backbone, pose encoder frozen",
            "job": "stage 2, frames through the backbone",
            "samples_per_second": 12.4,
            "ms_per_step": 2578.0,
            "steps": 4,
            "batch_size": 32,
            "median_ms_per_step": 2500.0,
            "p95_ms_per_step": 2700.0,
            "warmup_steps": 2,
            "process": {**process, "peak_rss_mb": 2600.0},
        },
    ]
    result = {
        "suite": "all",
        "machine": {
            "cpu": "CPU",
            "cores": 2,
            "tensorflow": "2.x",
            "keras": "3.x",
            "date": "today",
            "load_average_1_5_15min": [1.0, 1.0, 1.0],
        },
        "settings": dataclasses.asdict(settings),
        "models": [model, fusion],
        "not_measured": _not_measured(settings),
        "attention": {
            "settings": {
                "preset": "small",
                "num_frames": 30,
                "num_channels": 3,
                "layouts": ["coco17"],
                "batch_sizes": [1, 32],
                "runs": 20,
                "warmup": 2,
                "max_seconds": 2.5,
                "adaptive": True,
            },
            "models": cost_models,
            "ratios": [],
            "frames_sweep": sweep,
            "notes": [],
        },
        "streaming": stream,
        "training": {"prepare": {"train_clips": 48}, "runs": runs},
        "sections_seconds": {"models": 100.0, "models: Keras": 60.0, "models: exports": 40.0},
        "run_seconds": 420.0,
        "load_average_at_end": [2.0, 1.5, 1.2],
        "errors": [],
        "load_average_by_section": {"models": 1.5, "attention": 2.5},
    }
    from har_tf.benchmarks.all_in_one import memory_rows

    result["memory"] = memory_rows(result)
    return result


def test_markdown_and_figures_of_a_result(tmp_path):
    result = _made_up_result()
    assert [row["job"] for row in result["memory"]] == [
        "training: stage 1",
        "training: stage 2, frames through the backbone",
        "streaming ta_chi.mp4 (300 frames, tflite_fp32 embedder)",
    ]
    names = make_plots(result, tmp_path, plots)
    assert names == ["latency_by_model.png", "latency_vs_frames.png", "streaming_stages.png", "training_throughput.png"]
    assert all((tmp_path / n).stat().st_size > 1000 for n in names)
    markdown = all_markdown(result)
    assert "420 s in all: models 100 s (Keras 60 s, exports 40 s)" in markdown
    assert "load average 1.0 at start, 2.0 at the end (1-minute load average 2.5 at most as sections ended)" in markdown
    assert "| PoseFormerFactorized (micro) | 36,396 | 43.6 M | 6 (7.2) | 1.7 (2.04) |" in markdown
    assert "| PoseFormerFactorized (micro) | TFLite int8_full | — | — | failed | failed |" in markdown
    assert "| fusion | SavedModel | 37.00 MB | 12 | 55 (66) | not measured |" in markdown
    assert "| ta_chi.mp4 | 300 | 55 | tflite_fp32 | 11.5 | 20.2 | 0.5 | 4.3 | 6.4 | 1.5 |" in markdown
    assert "| stage 1 | 61.0 | 500 (610) | 15 x 32 | 2 | 1200 |" in markdown
    assert "| streaming ta_chi.mp4 (300 frames, tflite_fp32 embedder) | 1037 | 660 | 1010 |" in markdown
    assert "20 calls per figure here" in markdown and "Not measured by default (`--full` measures them)" in markdown
    result["streaming"] = {"skipped": "the clip x.mp4 is absent"}
    assert "Not measured: the clip x.mp4 is absent" in all_markdown(result)


def test_peak_memory_of_a_child_process_is_its_own():
    import sys

    from har_tf.benchmarks.long_video import run_with_peak_rss

    grows = "import time; b = b'x' * (300 * 2**20); time.sleep(0.6); print('ok')"
    run = run_with_peak_rss([sys.executable, "-c", grows], sample_every=0.05)
    assert run["returncode"] == 0 and run["stdout"].strip() == "ok"
    assert 300 <= run["peak_rss_mb"] < 400, run["peak_rss_mb"]
    assert max(mb for _, mb in run["rss_mb"]) >= 300, "the samples missed the allocation"
    small = run_with_peak_rss([sys.executable, "-c", "import time; time.sleep(0.5)"], sample_every=0.05)
    assert small["peak_rss_mb"] < 100 and small["returncode"] == 0, "not the child's own memory"
    assert run_with_peak_rss([sys.executable, "-c", "raise SystemExit(3)"])["returncode"] == 3


def test_looped_video_has_the_frames_asked_for(shared_dir, tmp_path):
    from har_tf.benchmarks.long_video import looped_video
    from har_tf.data.video import VideoReader
    from tests.helpers import shared_file

    clip = shared_file(shared_dir, "data/videos/exercise.avi")  # 393 frames
    out = looped_video(clip, tmp_path / "long.avi", 500)
    with VideoReader(out) as reader:
        assert sum(1 for _ in reader) == 500 and reader.info.width == 384
