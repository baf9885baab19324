"""The all-in-one benchmark: every figure of the README's result tables in one run (under 10 minutes on
2 CPU cores with the defaults).

Sections, each timed:

1. **models**: fresh (seeded, untrained) models of the default training config
   (:mod:`~har_tf.benchmarks.models`): parameters, FLOPs per clip, Keras latency per clip at batch 1 and
   32; by default also the SavedModel and every TFLite variant of PoseFormerFactorized (micro) at batch 1
   and 32, and TFLite fp32 and int8 of the fusion model at batch 1 (each fusion conversion takes 30-60 s;
   ``full``: every export of every model at both batches);
2. **attention**: PoseFormerFactorized against FullAttentionTransformer (small preset, T = 30) at J = 17
   and 25: FLOPs and latency ratios; latency against T (15, 30, 60, 120) for both;
3. **streaming**: per-frame latency by stage on one real clip (``../shared``; skipped, saying why, when
   absent) with MoveNet, a fresh fusion model and the TFLite fp32 embedder;
4. **training**: samples per second of stage-1 ``fit`` and of stage-2 ``fit`` with cached frame features
   and with the frames decoded and run through the frozen backbone in every step;
5. **memory**: the peak resident memory of each training and streaming job, each run in a fresh process.

Latency figures are medians (and p95) of up to ``runs`` timed calls after ``warmup`` calls, at most
``max_seconds`` of timed calls per figure (never fewer than 3 calls).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from har_tf.benchmarks.export import FORMAT_NAMES, SAVEDMODEL, export_latencies, keras_runner
from har_tf.benchmarks.machine import describe, load_average
from har_tf.benchmarks.models import MODEL_KEYS, MODEL_NAMES, build_model, flops_per_clip
from har_tf.benchmarks.report import mb, ms, si, table
from har_tf.benchmarks.timing import Stopwatch, time_call


def _image_size() -> str:
    from har_tf.training.config import TrainConfig

    size = TrainConfig().image_size
    return f"{size}x{size}" if size else "its native size"


def _crop_words() -> str:
    """The default config's crop, in words (the README's tables say what the fusion model sees)."""
    from har_tf.models.image_encoder import CROP_WORDS
    from har_tf.training.config import TrainConfig

    return CROP_WORDS.get(TrainConfig().image_crop, "whole frames")


POSE_EXPORTS = (SAVEDMODEL, "tflite_fp32", "tflite_fp16", "tflite_int8", "tflite_int8_full")
# no int8_full here: its calibration runs the backbone on 100 clips, and with an image branch the file is no
# smaller than fp32 (the export suite measures it)
FUSION_EXPORTS = (SAVEDMODEL, "tflite_fp32", "tflite_fp16", "tflite_int8")
DEFAULT_FUSION_EXPORTS = ("tflite_fp32", "tflite_int8")  # each conversion of the fusion model takes 30-60 s
DEFAULT_VIDEO = "ta_chi.mp4"
PLOTS = {
    "latency_by_model": "latency_by_model.png",
    "latency_vs_frames": "latency_vs_frames.png",
    "streaming_stages": "streaming_stages.png",
    "training_throughput": "training_throughput.png",
}


@dataclasses.dataclass(frozen=True)
class AllInOneSettings:
    """What the all-in-one run measures; :meth:`from_args` gives the defaults, ``--quick`` and ``--full``."""

    runs: int = 20
    warmup: int = 2
    max_seconds: float = 2.5
    batch_sizes: tuple[int, ...] = (1, 32)
    models: tuple[str, ...] = MODEL_KEYS
    exports: tuple[tuple[str, tuple[str, ...], tuple[int, ...]], ...] = (
        ("poseformer_micro", POSE_EXPORTS, (1, 32)),
        ("fusion", DEFAULT_FUSION_EXPORTS, (1,)),
    )
    cost_preset: str = "small"
    sweep_frames: tuple[int, ...] = (15, 30, 60, 120)
    video: str | None = None
    movenet: str | None = None
    stride: int = 5
    stream_frames: int | None = None
    embedder: str = "tflite_fp32"
    train_clips: tuple[int, int, int] = (4, 1, 1)
    stage1_steps: int = 15
    cached_steps: int = 20
    uncached_steps: int = 3
    warmup_steps: int = 2
    stage2_phases: tuple[str, ...] = ("pose encoder frozen",)
    stage2_paths: tuple[str, ...] = ("cached", "uncached")
    cache_dir: str | None = None
    threads: int = 2
    quick: bool = False
    full: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> AllInOneSettings:
        """Defaults (under 10 minutes on 2 cores), ``--quick`` (about two minutes: micro only, few runs, one fast
        export, 40 streamed frames, no stage-2 run on frames) or ``--full`` (every export of every model at batch 1
        and 32, both stage-2 phases); ``--runs``, ``--warmup``, ``--max-seconds`` override the mode's timing."""
        from har_tf.benchmarks.streaming import MOVENET_FILE, shared_dir
        from har_tf.benchmarks.training import STAGE2_PHASES

        shared = shared_dir()
        common = dict(
            video=str(args.video or shared / "data" / "videos" / DEFAULT_VIDEO),
            movenet=str(args.movenet or shared / "models" / MOVENET_FILE),
            stride=args.stride,
            cache_dir=None if args.cache_dir is None else str(args.cache_dir),
            threads=args.threads or 2,
            quick=args.quick,
            full=args.full,
        )
        if args.quick:
            settings = cls(
                runs=3,
                warmup=1,
                max_seconds=1.0,
                batch_sizes=(1, 8),
                models=("poseformer_micro",),
                exports=(("poseformer_micro", ("tflite_fp32",), (1, 8)),),
                cost_preset="micro",
                sweep_frames=(15, 30),
                stream_frames=40,
                embedder="keras",
                train_clips=(1, 1, 1),
                stage1_steps=2,
                cached_steps=2,
                stage2_paths=("cached",),
                warmup_steps=1,
                **common,
            )
        elif args.full:
            exports = tuple(
                (key, FUSION_EXPORTS if key == "fusion" else POSE_EXPORTS, (1, 32))
                for key in MODEL_KEYS
                if key != "image_only"
            )
            settings = cls(
                runs=50,
                warmup=5,
                max_seconds=10.0,
                exports=exports,
                stage2_phases=STAGE2_PHASES,
                stage1_steps=30,
                cached_steps=30,
                uncached_steps=8,
                **common,
            )
        else:
            settings = cls(**common)
        overrides = {k: getattr(args, k) for k in ("runs", "warmup", "max_seconds") if getattr(args, k) is not None}
        return dataclasses.replace(settings, **overrides)

    def export_plan(self, key: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
        """The export formats and batch sizes measured for model ``key`` (empty when none)."""
        for name, formats, batches in self.exports:
            if name == key:
                return formats, batches
        return (), ()

    def timing(self) -> dict:
        return {"runs": self.runs, "warmup": self.warmup, "max_seconds": self.max_seconds}


# ---------------------------------------------------------------------------------------------- models
def measure_model(key: str, settings: AllInOneSettings, watch: Stopwatch) -> dict:
    """Parameters, FLOPs per clip and latency per clip of one fresh model in Keras and its planned exports."""
    start = time.perf_counter()
    built = build_model(key)
    entry = {
        "key": key,
        "model": built.name,
        "description": built.description,
        "parameters": int(built.raw.count_params()),
        "flops_per_clip": flops_per_clip(built.raw),
        "inputs": {k: list(v.shape[1:]) for k, v in built.inputs(1).items()},
        "formats": {},
    }
    run = keras_runner(built.raw)
    entry["formats"]["keras"] = {
        f"batch_{b}": time_call(run(built.inputs(b)), batch_size=b, **settings.timing()) for b in settings.batch_sizes
    }
    keras_seconds = time.perf_counter() - start
    watch.add("models: Keras", keras_seconds)
    print(
        f"  {built.name:<46} {entry['parameters']:>10,} params {si(entry['flops_per_clip'], 'FLOPs'):>12}  "
        + "  ".join(f"b{b}: {ms(entry['formats']['keras'][f'batch_{b}'])}" for b in settings.batch_sizes)
        + f" ms/clip [{keras_seconds:.0f} s]",
        flush=True,
    )
    formats, batches = settings.export_plan(key)
    if formats and built.servable is not None:
        start = time.perf_counter()
        representative = {"pose": built.inputs(16)["pose"]} if "tflite_int8_full" in formats else None
        entry["formats"].update(
            export_latencies(
                built.servable, built.inputs, formats, batches, settings.timing(), representative, settings.threads
            )
        )
        watch.add("models: exports", time.perf_counter() - start)
    return entry


def _not_measured(settings: AllInOneSettings) -> list[str]:
    """What the default run leaves out of the latency tables, for the Markdown note."""
    notes = []
    no_exports = [MODEL_NAMES[k] for k in settings.models if k != "image_only" and not settings.export_plan(k)[0]]
    if no_exports:
        notes.append("SavedModel and TFLite latency of " + ", ".join(no_exports))
    for key, formats, batches in settings.exports:
        missing = [b for b in settings.batch_sizes if b not in batches]
        if key in settings.models and missing:
            notes.append(f"batch {', '.join(map(str, missing))} of the exports of {MODEL_NAMES[key]}")
        left = [FORMAT_NAMES[f] for f in (FUSION_EXPORTS if key == "fusion" else POSE_EXPORTS) if f not in formats]
        if key in settings.models and left:
            notes.append(f"{', '.join(left)} of {MODEL_NAMES[key]}")
    return notes


# ------------------------------------------------------------------------------------ other sections
def measure_attention(settings: AllInOneSettings) -> dict:
    """Factorized vs full attention: the cost suite's comparison with capped timing, no LSTM."""
    from har_tf.benchmarks.cost import CostSettings, compare_backbones, settings_block

    cost = CostSettings(
        preset=settings.cost_preset,
        kinds=("factorized", "full"),
        batch_sizes=settings.batch_sizes,
        sweep_frames=settings.sweep_frames,
        runs=settings.runs,
        warmup=settings.warmup,
        max_seconds=settings.max_seconds,
        adaptive=True,
        quick=settings.quick,
    )
    return {"settings": settings_block(cost), **compare_backbones(cost)}


def measure_streaming(settings: AllInOneSettings) -> dict:
    """The streaming job (a fresh process) on one real clip, or ``{"skipped": why}``."""
    from har_tf.benchmarks.memory import run_job

    for what, path in (("clip", settings.video), ("MoveNet model", settings.movenet)):
        if path is None or not Path(path).is_file():
            return {
                "skipped": f"the {what} {path} is absent (../shared holds the real clips and MoveNet; "
                f"pass --video and --movenet)"
            }
    report = run_job(
        "streaming",
        {
            "video": settings.video,
            "movenet": settings.movenet,
            "stride": settings.stride,
            "embedder": settings.embedder,
            "threads": settings.threads,
            "max_frames": settings.stream_frames,
        },
    )
    return {**report["result"], "process": {k: report[k] for k in ("peak_rss_mb", "rss_after_imports_mb", "seconds")}}


def measure_training(settings: AllInOneSettings) -> dict:
    """Stage-1 and stage-2 (cached / uncached) throughput, each job in a fresh process; the data and the
    feature cache are prepared first, here (not timed as throughput)."""
    from har_tf.benchmarks.memory import run_job
    from har_tf.benchmarks.training import stage2_features, training_dataset

    start = time.perf_counter()
    dataset = training_dataset(settings.cache_dir, settings.train_clips)
    _, _, extraction, from_cache = stage2_features(dataset, None, settings.cache_dir)
    prepare = {
        "seconds": round(time.perf_counter() - start, 1),
        "feature_extraction_seconds": round(extraction, 1),
        "features_from_cache": bool(from_cache),
        "train_clips": int(len(dataset.split("train")[1])),
    }
    print(f"  data and feature cache ready in {prepare['seconds']} s", flush=True)
    common = {"cache_dir": settings.cache_dir, "clips_per_class": list(settings.train_clips)}
    labels = {"cached": "stage 2, cached features", "uncached": "stage 2, frames through the backbone"}
    steps = {"cached": settings.cached_steps, "uncached": settings.uncached_steps}
    # The frames-through-the-backbone step traces for ~40 s and then takes seconds: one warm-up step there.
    warmup = {"cached": settings.warmup_steps, "uncached": 1}
    jobs = [("stage 1", "stage1", {"steps": settings.stage1_steps, "warmup_steps": settings.warmup_steps, **common})]
    jobs += [
        (
            labels[path],
            "stage2",
            {
                "path": path,
                "steps": steps[path],
                "phases": list(settings.stage2_phases),
                "warmup_steps": warmup[path],
                **common,
            },
        )
        for path in settings.stage2_paths
    ]
    runs = []
    for label, job, kwargs in jobs:
        report = run_job(job, kwargs)
        result = report.pop("result")
        for phase in result.pop("phases", None) or [{}]:
            runs.append(
                {
                    "label": label + (f", {phase['phase']}" if "phase" in phase else ""),
                    "job": label,
                    **result,
                    **phase,
                    "process": report,
                }
            )
            print(f"  {runs[-1]['label']}: {runs[-1]['samples_per_second']:.1f} samples/s", flush=True)
    return {"prepare": prepare, "runs": runs}


# -------------------------------------------------------------------------------------------- the run
def suite_all(args: argparse.Namespace, machine: dict) -> tuple[dict, str]:
    """Everything (see the module docstring); writes the PNGs into ``args.out``."""
    from har_tf.benchmarks import plots
    from har_tf.benchmarks.memory import JobError

    settings = AllInOneSettings.from_args(args)
    watch = Stopwatch()
    errors: list[str] = []
    result: dict = {
        "suite": "all",
        "machine": machine,
        "settings": {k: v for k, v in dataclasses.asdict(settings).items()},
    }
    with watch.section("models"):
        result["models"] = [measure_model(key, settings, watch) for key in settings.models]
        result["not_measured"] = _not_measured(settings)
    with watch.section("attention"):
        result["attention"] = measure_attention(settings)
    with watch.section("streaming"):
        try:
            result["streaming"] = measure_streaming(settings)
        except JobError as err:
            errors.append(f"streaming: {err}")
            result["streaming"] = {"error": str(err)}
    with watch.section("training"):
        try:
            result["training"] = measure_training(settings)
        except JobError as err:
            errors.append(f"training: {err}")
            result["training"] = {"error": str(err)}
    result["memory"] = memory_rows(result)
    with watch.section("plots"):
        result["plots"] = make_plots(result, Path(args.out), plots)
    result["sections_seconds"] = dict(watch.sections)
    result["load_average_by_section"] = dict(watch.loads)
    result["run_seconds"] = round(watch.elapsed(), 1)
    result["load_average_at_end"] = load_average()
    result["errors"] = errors
    return result, all_markdown(result)


def memory_rows(result: dict) -> list[dict]:
    """Peak resident memory of each child job (training and streaming)."""
    rows = []
    for run in (result.get("training") or {}).get("runs", []):
        if f"training: {run['job']}" not in [r["job"] for r in rows]:
            rows.append(
                {
                    "job": f"training: {run['job']}",
                    **{k: run["process"].get(k) for k in ("peak_rss_mb", "rss_after_imports_mb")},
                }
            )
    stream = result.get("streaming") or {}
    if "process" in stream:
        rows.append(
            {
                "job": f"streaming {stream['video']} ({stream['frames']} frames, {stream['embedder']} embedder)",
                "peak_rss_mb": stream["process"]["peak_rss_mb"],
                "rss_after_imports_mb": stream["process"]["rss_after_imports_mb"],
                "peak_rss_while_streaming_mb": stream["memory"].get("peak_rss_while_streaming_mb"),
                "rss_before_stream_mb": stream["memory"].get("rss_before_stream_mb"),
            }
        )
    return rows


def make_plots(result: dict, out: Path, plots) -> list[str]:
    """Write the PNGs that have data; their file names."""
    written = [plots.plot_model_latency(result["models"], out / PLOTS["latency_by_model"])]
    sweep = result["attention"]["frames_sweep"]
    written.append(
        plots.plot_frames_sweep(sweep, result["attention"]["settings"]["preset"], out / PLOTS["latency_vs_frames"])
    )
    if "stage_ms_per_frame" in (result.get("streaming") or {}):
        written.append(plots.plot_streaming(result["streaming"], out / PLOTS["streaming_stages"]))
    if (result.get("training") or {}).get("runs"):
        written.append(plots.plot_training(result["training"]["runs"], out / PLOTS["training_throughput"]))
    return [p.name for p in written]


# ------------------------------------------------------------------------------------------ Markdown
def _runs_range(entries) -> str:
    counts = [e["runs"] for e in entries if e and "runs" in e]
    if not counts:
        return "—"
    return str(min(counts)) if min(counts) == max(counts) else f"{min(counts)}–{max(counts)}"


def _models_markdown(result: dict) -> list[str]:
    s = result["settings"]
    batches = s["batch_sizes"]
    rows, export_rows, timed = [], [], []
    for m in result["models"]:
        keras = m["formats"]["keras"]
        timed += keras.values()
        rows.append(
            [
                m["model"],
                f"{m['parameters']:,}",
                si(m["flops_per_clip"]),
                *(ms(keras.get(f"batch_{b}")) for b in batches),
            ]
        )
        for fmt, entry in m["formats"].items():
            if fmt == "keras":
                continue
            if "error" in entry:
                export_rows.append([m["model"], FORMAT_NAMES[fmt], "—", "—", *(["failed"] * len(batches))])
                continue
            timed += [entry[f"batch_{b}"] for b in batches if f"batch_{b}" in entry]
            export_rows.append(
                [
                    m["model"],
                    FORMAT_NAMES[fmt],
                    mb(entry["size_bytes"]),
                    f"{entry['conversion_seconds']:.0f}",
                    *(ms(entry.get(f"batch_{b}")) if f"batch_{b}" in entry else "not measured" for b in batches),
                ]
            )
    lat = [f"ms / clip, batch {b}" for b in batches]
    parts = [
        "### Models: size, FLOPs and CPU latency per clip (Keras)",
        "",
        table(["model", "parameters", "FLOPs / clip", *lat], rows),
        "",
    ]
    if export_rows:
        parts += [
            "### Exports: size and CPU latency per clip",
            "",
            table(["model", "format", "size", "conversion (s)", *lat], export_rows),
            "",
        ]
    parts += [
        f"Fresh models of the default training config (seeded, untrained: latency, size and FLOPs do not depend on "
        f"the weights), timed on raw inputs as served: pixel poses T = 30, J = 17, C = 3 (the pose classifiers "
        f"include the pose normalisation), and for the fusion and image-only models 8 uint8 frames of 224x224 "
        f"of which EfficientNet-Lite0 sees {_crop_words()} at {_image_size()}. Latency: median (p95) per clip of up "
        f"to {s['runs']} "
        f"timed calls after {s['warmup']} warm-up call{'s' if s['warmup'] != 1 else ''}, at most "
        f"{s['max_seconds']:g} s of timed calls per figure "
        f"(at least 3): {_runs_range(timed)} calls per figure here; batch latency / batch size; one graph traced "
        f"for any batch size, as the exports run. TFLite: LiteRT interpreter, {s['threads']} threads. FLOPs: one "
        f"forward pass at batch 1 (`har_tf.models.cost` rules).",
    ]
    if result.get("not_measured"):
        parts += [
            "",
            "Not measured by default (`--full` measures them): "
            + "; ".join(result["not_measured"])
            + ". The fusion model's TFLite int8_full is measured by the export suite (`--suite export`, which "
            "calibrates it on training clips); the image-only model has "
            "no export path (`make_servable` takes pose classifiers and fusion models).",
        ]
    parts += ["", f"![CPU latency per clip by model and format]({PLOTS['latency_by_model']})", ""]
    return parts


def _streaming_markdown(stream: dict) -> list[str]:
    parts = ["### Streaming: per-frame latency on a real clip", ""]
    if "skipped" in stream or "error" in stream:
        return parts + [f"Not measured: {stream.get('skipped') or stream.get('error')}", ""]
    stages = stream["stage_ms_per_frame"]
    parts += [
        table(
            ["clip", "frames", "windows", "embedder", "median (ms)", "p95 (ms)", "decode", "pose", "embed", "classify"],
            [
                [
                    stream["video"],
                    str(stream["frames"]),
                    str(stream["windows"]),
                    stream["embedder"],
                    f"{stream['median_ms']:.1f}",
                    f"{stream['p95_ms']:.1f}",
                    *(f"{stages.get(k, 0.0):.1f}" for k in ("decode", "pose", "embed", "classify")),
                ]
            ],
        ),
        "",
        f"MoveNet SinglePose Lightning (int8 TFLite), a fresh fusion model of the default config (micro pose "
        f"branch, EfficientNet-Lite0 on {_crop_words()}), stride {stream['stride']}, {stream['threads']} TFLite "
        "threads. "
        f"Median and p95 of the per-frame totals after {stream['warmup_frames']} warm-up frames; stage columns: "
        f"mean ms per frame (classify runs every {stream['stride']}th frame). Opening the model took "
        f"{stream['setup_seconds']:.0f} s"
        + (
            f" (the {stream['embedder']} embedder is converted then)."
            if stream["embedder"].startswith("tflite")
            else "."
        ),
        "",
        f"![Streaming stages]({PLOTS['streaming_stages']})",
        "",
    ]
    return parts


def _training_markdown(training: dict) -> list[str]:
    parts = ["### Training throughput", ""]
    if "error" in training:
        return parts + [f"Not measured: {training['error']}", ""]
    runs = training["runs"]
    parts += [
        table(
            [
                "training",
                "samples / s",
                "ms / step: median (p95)",
                "timed steps x batch",
                "warm-up steps",
                "peak RSS (MB)",
            ],
            [
                [
                    r["label"],
                    f"{r['samples_per_second']:.1f}",
                    f"{r['median_ms_per_step']:.0f} ({r['p95_ms_per_step']:.0f})",
                    f"{r['steps']} x {r['batch_size']}",
                    str(r["warmup_steps"]),
                    f"{r['process']['peak_rss_mb']:.0f}",
                ]
                for r in runs
            ],
        ),
        "",
        f"`fit` on the synthetic data ({training['prepare']['train_clips']} training clips, repeated), fresh "
        f"models of the default config (PoseFormerFactorized micro with 3 streams; stage 2 around it with "
        f"EfficientNet-Lite0 on {_crop_words()} at {_image_size()}), timed after the warm-up steps (the first traces "
        "the "
        f"train step). Samples / s: over the whole timed `fit`, data pipeline included. Cached features: the "
        f"fusion head on the features stage 2 caches once; frames through the backbone: the whole model on JPEG "
        f"frames decoded in every step"
        + ("" if any(r["job"].endswith("backbone") for r in runs) else " (not measured with --quick)")
        + ". Each row is a fresh process.",
        "",
        f"![Training throughput]({PLOTS['training_throughput']})",
        "",
    ]
    return parts


def _memory_markdown(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    lines = [
        [
            r["job"],
            f"{r['peak_rss_mb']:.0f}",
            f"{r['rss_after_imports_mb']:.0f}",
            "—" if r.get("peak_rss_while_streaming_mb") is None else f"{r['peak_rss_while_streaming_mb']:.0f}",
        ]
        for r in rows
    ]
    return [
        "### Memory: peak resident set size",
        "",
        table(
            [
                "job (a fresh process each)",
                "peak RSS (MB)",
                "after importing TF + Keras (MB)",
                "peak while streaming (MB)",
            ],
            lines,
        ),
        "",
        "Peak RSS: `VmHWM` of the child process at its end (imports, data, model, tracing and the run). "
        "Streaming: the setup (model, TFLite conversion of the embedder, MoveNet) is in the first column, "
        "the stream alone in the last.",
        "",
    ]


def all_markdown(result: dict) -> str:
    """The all-in-one ``benchmark.md``: every table, the figures, the machine and the section times."""
    from har_tf.benchmarks.cost import cost_markdown

    sections = result.get("sections_seconds", {})
    loads = result.get("load_average_by_section") or {}
    during = f" (1-minute load average {max(loads.values()):g} at most as sections ended)" if loads else ""
    mode = "quick" if result["settings"]["quick"] else "full" if result["settings"]["full"] else "default"
    times = []
    for name, seconds in sections.items():
        if ":" not in name:
            parts_of = [f"{k.split(': ')[1]} {v:.0f} s" for k, v in sections.items() if k.startswith(name + ": ")]
            times.append(f"{name} {seconds:.0f} s" + (f" ({', '.join(parts_of)})" if parts_of else ""))
    parts = [
        f"## Benchmark ({mode} settings)",
        "",
        f"Measured on: {describe(result['machine'], result.get('load_average_at_end'))}{during}. "
        f"`python scripts/benchmark.py --out DIR{' --' + mode if mode != 'default' else ''}`: "
        f"{result.get('run_seconds', 0.0):.0f} s in all: " + ", ".join(times) + ".",
        "",
    ]
    parts += _models_markdown(result)
    parts += [
        cost_markdown(result["attention"], level="###"),
        f"![Latency against T]({PLOTS['latency_vs_frames']})",
        "",
    ]
    parts += _streaming_markdown(result.get("streaming") or {"skipped": "not run"})
    parts += _training_markdown(result.get("training") or {"error": "not run"})
    parts += _memory_markdown(result.get("memory") or [])
    if result.get("errors"):
        parts += ["Errors: " + "; ".join(e.splitlines()[0] for e in result["errors"]), ""]
    return "\n".join(parts)
