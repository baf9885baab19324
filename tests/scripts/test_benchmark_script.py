"""scripts/benchmark.py: the all-in-one run and each suite end to end (quick settings), and one-line errors."""

from __future__ import annotations

import importlib.util
import json
import re

import pytest

from har_tf.errors import InvalidInputError
from tests.helpers import REPO_ROOT, SHARED_DIR, run_script


def _run(*args: str):
    return run_script("benchmark.py", *args)


def test_cost_suite_quick(tmp_path):
    out = tmp_path / "bench"
    result = _run("--suite", "cost", "--preset", "micro", "--runs", "2", "--warmup", "1", "--quick", "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "benchmark.json").read_text())
    assert {"machine", "suite", "settings", "models", "ratios", "frames_sweep", "notes"} <= set(report)
    assert {"cpu", "cores", "tensorflow", "keras", "date"} <= set(report["machine"])
    assert report["settings"]["batch_sizes"] == [1, 8] and report["settings"]["sweep_frames"] == [15, 30]
    models = {(m["model"], m["num_joints"]) for m in report["models"]}
    assert models == {
        (name, j) for name in ("PoseFormerFactorized", "FullAttentionTransformer", "LSTMLite") for j in (17, 25)
    }
    for m in report["models"]:
        assert m["parameters"] > 0 and m["flops_per_clip"] > 0
        for key in ("batch_1", "batch_8"):
            assert m["latency"][key]["median_ms_per_clip"] > 0 and m["latency"][key]["runs"] == 2
    for r in report["ratios"]:
        tj = 30 * r["num_joints"] / (30 + r["num_joints"])
        assert abs(r["attention_flops_ratio"] - 2 * tj) < 1e-9  # equal sub-block counts: 2·T·J/(T+J)
        assert 1.0 < r["flops_ratio"] < r["attention_flops_ratio"]
        assert r["parameters_equal"] and r["latency_ratio_batch_1"] > 0 and r["latency_ratio_batch_8"] > 0
    assert [p["num_frames"] for p in report["frames_sweep"]] == [15, 30]
    markdown = (out / "benchmark.md").read_text()
    for heading in ("### Cost per clip", "### Full attention / factorized", "### Latency against T"):
        assert heading in markdown
    assert "| PoseFormerFactorized (micro) | 17 |" in markdown and "| LSTMLite | 25 |" in markdown
    assert "### Cost per clip" in result.stdout  # the tables are printed too


def _load_script():
    spec = importlib.util.spec_from_file_location("benchmark_script", REPO_ROOT / "scripts" / "benchmark.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bad_arguments_are_one_line_errors(tmp_path):
    result = _run("--suite", "speed", "--out", str(tmp_path / "o"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: unknown suite 'speed'")
    assert "Traceback" not in result.stderr
    script = _load_script()
    out = ["--out", str(tmp_path / "o")]
    for args, message in (
        (["--suite", "cost", "--runs", "0"], "--runs must be"),
        (["--suite", "cost", "--preset", "huge"], "unknown preset 'huge'"),
        (["--suite", "cost", "--max-seconds", "0"], "--max-seconds must be"),
        (["--quick", "--full"], "--quick and --full exclude each other"),
        (["--suite", "cost", "--full"], "--full applies to the all-in-one run"),
        (["--stride", "0"], "--stride must be"),
        (["--suite", "long_video", "--frames", "50"], "--frames must be at least 200"),
    ):
        with pytest.raises(InvalidInputError, match=re.escape(message)):
            script.parse_args([*args, *out])
    with pytest.raises(InvalidInputError, match=re.escape("the following arguments are required: --out")):
        script.parse_args([])
    assert set(script.SUITES) >= {"all", "cost", "fusion", "export", "streaming", "long_video"}
    assert script.parse_args(out).suite == "all"  # no --suite: the all-in-one run
    cost = script.parse_args(["--suite", "cost", *out])
    assert (cost.runs, cost.warmup, cost.max_seconds) == (50, 5, 30.0)  # the detailed suites keep their defaults


@pytest.mark.slow  # 2 minutes since the each_hand crops: keeps the CI suite under 15 minutes
def test_fusion_suite_quick(tmp_path):
    out = tmp_path / "bench"
    result = _run(
        "--suite",
        "fusion",
        "--quick",
        "--runs",
        "2",
        "--warmup",
        "1",
        "--image-size",
        "64",
        "--cache-dir",
        str(tmp_path / "cache"),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "benchmark.json").read_text())
    (lite,) = report["backbones"]
    assert lite["backbone"] == "efficientnet_lite0" and lite["feature_dim"] == 1280 and lite["weights"] == "imagenet"
    assert lite["batch1_ms_per_frame"] > 0 and lite["batch32_ms_per_frame"] > 0
    cache = report["feature_cache"]
    assert cache["train_clips"] == 6 * 12 and cache["frames_per_clip"] == 8
    assert [p["phase"] for p in cache["phases"]] == ["pose encoder frozen"]  # --quick: the frozen phase only
    for phase in cache["phases"]:
        assert phase["speedup"] == pytest.approx(phase["epoch_seconds_uncached"] / phase["epoch_seconds_cached"])
    assert "speed-up" in (out / "benchmark.md").read_text()


@pytest.mark.slow  # three exports of a model; the script's other suites run in the default set
def test_export_suite_reports_every_export(tiny_pose_classifier, tmp_path):
    from har_tf.data.pose_npz import PoseDataset
    from tests.helpers import EXPORT_CLASSES, export_inputs

    clips = export_inputs(n=12, seed=12, frames=False)["pose"]
    labels = [i % len(EXPORT_CLASSES) for i in range(12)]
    data = PoseDataset(clips[:6], labels[:6], EXPORT_CLASSES, "coco17", x_test=clips[6:], y_test=labels[6:])
    run = tmp_path / "run"
    run.mkdir()
    tiny_pose_classifier.save(run / "pose_model.keras")
    (run / "config.json").write_text(json.dumps({"data": str(data.save(tmp_path / "data.npz")), "epochs": 1}))
    out = tmp_path / "bench"
    result = _run(
        "--suite",
        "export",
        "--pose-model",
        str(run / "pose_model.keras"),
        "--runs",
        "2",
        "--warmup",
        "1",
        "--samples",
        "6",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((out / "benchmark.json").read_text())["exports"]
    assert [r["format"] for r in rows] == [
        "Keras (.keras)",
        "SavedModel",
        "TFLite fp32",
        "TFLite fp16",
        "TFLite int8",
        "TFLite int8_full",
    ]
    assert all(r["latency"]["median_ms"] > 0 and r["size_bytes"] > 0 for r in rows)
    assert all(r["parity"]["serving_default"]["num_samples"] == 6 for r in rows[1:])
    assert "| pose | TFLite int8 |" in (out / "benchmark.md").read_text()


def test_streaming_suite_quick(tiny_fusion_model, shared_dir, tmp_path):
    from tests.helpers import shared_file

    movenet = shared_file(shared_dir, "models/movenet_singlepose_lightning_int8.tflite")
    videos = tmp_path / "videos"
    videos.mkdir()
    from har_tf.data.video import read_video
    from har_tf.inference.rendering import AnnotatedVideoWriter

    for name in ("ta_chi", "clean_and_jerk"):  # the first 60 frames of two real clips
        clip, info = read_video(shared_file(shared_dir, f"data/videos/{name}.mp4"), max_frames=60)
        with AnnotatedVideoWriter(videos / f"{name}.avi", info.fps, info.width, info.height) as writer:
            for frame in clip:
                writer.write(frame)
    tiny_fusion_model.save(tmp_path / "fusion_model.keras")
    out = tmp_path / "bench"
    result = _run(
        "--suite",
        "streaming",
        "--fusion-model",
        str(tmp_path / "fusion_model.keras"),
        "--videos",
        str(videos),
        "--movenet",
        str(movenet),
        "--quick",
        "--stride",
        "10",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    configs = json.loads((out / "benchmark.json").read_text())["configs"]
    assert [c["embedder"] for c in configs] == ["keras", "tflite_fp32"]
    for config in configs:
        assert config["median_ms"] > 0 and config["p95_ms"] >= config["median_ms"]
        assert {c: v["frames"] for c, v in config["clips"].items()} == {"clean_and_jerk.avi": 60, "ta_chi.avi": 60}
    assert configs[1]["top1_agreement_with_default"] >= 0.95  # the TFLite fp32 backbone gives the same features
    assert "| TFLite fp32 backbone |" in (out / "benchmark.md").read_text()


@pytest.mark.slow
def test_all_in_one_quick(tmp_path):
    """No --suite: every section in one run (--quick: micro only, few runs, one export, 40 streamed frames)."""
    out = tmp_path / "bench"
    result = _run("--quick", "--cache-dir", str(tmp_path / "cache"), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out / "benchmark.json").read_text())
    assert {
        "machine",
        "settings",
        "models",
        "not_measured",
        "attention",
        "streaming",
        "training",
        "memory",
        "plots",
        "sections_seconds",
        "load_average_at_end",
        "errors",
        "seconds",
    } <= set(report)
    assert report["suite"] == "all" and report["errors"] == []
    assert {"cpu", "cores", "tensorflow", "keras", "date", "load_average_1_5_15min"} <= set(report["machine"])
    assert set(report["sections_seconds"]) >= {"models", "attention", "streaming", "training", "plots"}
    (micro,) = report["models"]
    assert micro["model"] == "PoseFormerFactorized (micro)" and micro["parameters"] > 0 and micro["flops_per_clip"] > 0
    for fmt in ("keras", "tflite_fp32"):
        for batch in (1, 8):
            entry = micro["formats"][fmt][f"batch_{batch}"]
            assert entry["median_ms_per_clip"] > 0 and entry["runs"] == 3 and entry["batch_size"] == batch
    assert micro["formats"]["tflite_fp32"]["size_bytes"] > 0
    attention = report["attention"]
    assert [r["num_joints"] for r in attention["ratios"]] == [17, 25]
    assert all(r["flops_ratio"] > 1 and r["latency_ratio_batch_1"] > 0 for r in attention["ratios"])
    assert [p["num_frames"] for p in attention["frames_sweep"]] == [15, 30]
    runs = report["training"]["runs"]
    assert [r["label"] for r in runs] == ["stage 1", "stage 2, cached features, pose encoder frozen"]
    assert all(r["samples_per_second"] > 0 and r["samples"] == r["steps"] * 32 for r in runs)
    memory = {row["job"]: row for row in report["memory"]}
    assert {"training: stage 1", "training: stage 2, cached features"} <= set(memory)
    assert all(row["peak_rss_mb"] >= row["rss_after_imports_mb"] > 0 for row in memory.values())
    markdown = (out / "benchmark.md").read_text()
    for heading in (
        "## Benchmark (quick settings)",
        "### Models: size, FLOPs",
        "### Exports:",
        "### Cost per clip",
        "### Full attention / factorized",
        "### Latency against T",
        "### Streaming",
        "### Training throughput",
        "### Memory",
    ):
        assert heading in markdown
    assert "| PoseFormerFactorized (micro) | TFLite fp32 |" in markdown and "Not measured by default" in markdown
    stream = report["streaming"]
    if (SHARED_DIR / "data" / "videos" / "ta_chi.mp4").is_file():
        assert stream["frames"] == 40 and stream["median_ms"] > 0 and set(stream["stage_ms_per_frame"]) >= {"pose"}
        assert any(job.startswith("streaming ta_chi.mp4") for job in memory)
        assert "| ta_chi.mp4 | 40 |" in markdown
    else:
        assert "absent" in stream["skipped"] and "Not measured: the clip" in markdown
    for name in report["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({name})" in markdown
    assert {"latency_by_model.png", "latency_vs_frames.png", "training_throughput.png"} <= set(report["plots"])
