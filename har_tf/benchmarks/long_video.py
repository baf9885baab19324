"""Memory of ``scripts/predict_video.py`` on a long input: does it stay bounded?

A real clip is looped into a long video (:func:`looped_video`); the script then runs on its first
``short`` frames and on all of it, each in a fresh process with an annotated video and a timeline
written, as a user would run it. Its resident memory and high-water mark are sampled while it runs
(:func:`run_with_peak_rss`); the growth is the long run's peak minus the short
run's (imports, models and warm-up are in both). Suite ``long_video`` of ``scripts/benchmark.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from har_tf.benchmarks.memory import status_mb
from har_tf.benchmarks.report import table
from har_tf.errors import InvalidInputError, MissingFileError

REPO_ROOT = Path(__file__).resolve().parents[2]
GROWTH_LIMIT_MB = 50.0
"""The bound on peak resident memory growth after warm-up."""


def looped_video(source: str | os.PathLike, out: str | os.PathLike, num_frames: int) -> Path:
    """Write ``out`` (``.avi``, MJPG) with ``num_frames`` frames: ``source`` played again and again."""
    import cv2

    from har_tf.data.video import read_video

    frames, info = read_video(source)
    frames = [cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) for frame in frames]  # once, not once per loop
    height, width = frames[0].shape[:2]
    fps = info.fps
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise MissingFileError(f"OpenCV cannot write {out}")
    try:
        for i in range(num_frames):
            writer.write(frames[i % len(frames)])
    finally:
        writer.release()
    return out


def run_with_peak_rss(
    command: list[str], sample_every: float = 0.25, timeout: float = 3600.0, env: dict | None = None
) -> dict:
    """Run ``command``; ``{"returncode", "seconds", "peak_rss_mb", "rss_mb": [(seconds, MB), ...], "stdout",
    "stderr"}``. Every ``sample_every`` seconds ``/proc/PID/status`` gives the resident memory and its
    high-water mark since the ``exec`` (``VmHWM``): the peak is the last mark read, so only the final
    ``sample_every`` seconds before the exit go unseen (``wait4``'s ``ru_maxrss`` would count the parent's
    pages copied at the fork). None when the command ended before the first sample."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    samples: list[tuple[float, float]] = []
    peak = None
    output: dict[str, str] = {}

    def drain(stream, key):
        output[key] = stream.read()

    readers = [
        threading.Thread(target=drain, args=(process.stdout, "stdout"), daemon=True),
        threading.Thread(target=drain, args=(process.stderr, "stderr"), daemon=True),
    ]
    for reader in readers:
        reader.start()
    while process.poll() is None:
        rss, high = status_mb("VmRSS", process.pid), status_mb("VmHWM", process.pid)
        if rss is not None:
            samples.append((round(time.perf_counter() - start, 2), rss))
        peak = high if high is not None else peak
        if time.perf_counter() - start > timeout:
            process.kill()
        time.sleep(sample_every)
    for reader in readers:
        reader.join()
    return {
        "returncode": process.returncode,
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mb": peak,
        "rss_mb": samples,
        "stdout": output.get("stdout", ""),
        "stderr": output.get("stderr", ""),
    }


def predict_video_memory(
    model: str | os.PathLike,
    video: str | os.PathLike,
    movenet: str | os.PathLike,
    out_dir: str | os.PathLike,
    frames: int = 10_000,
    short: int = 1_000,
    stride: int = 5,
    extra_args: tuple[str, ...] = (),
) -> dict:
    """Peak resident memory of ``predict_video.py`` on the first ``short`` and on all ``frames`` frames of
    ``video`` looped; ``growth_mb`` is the difference."""
    if not 0 < short < frames:
        raise InvalidInputError(f"need 0 < short < frames, got short={short}, frames={frames}")
    out_dir = Path(out_dir)
    long_video = looped_video(video, out_dir / f"looped_{frames}.avi", frames)
    runs = []
    for length in (short, frames):
        command = [
            sys.executable,
            str(REPO_ROOT / "scripts" / "predict_video.py"),
            str(long_video),
            "--model",
            str(model),
            "--pose-model",
            str(movenet),
            "--stride",
            str(stride),
            "--max-frames",
            str(length),
            "--out",
            str(out_dir / f"annotated_{length}.mp4"),
            "--json",
            str(out_dir / f"timeline_{length}.json"),
            "--quiet",
            *extra_args,
        ]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        run = run_with_peak_rss(command, env=env)
        if run["returncode"] != 0:
            raise RuntimeError(f"predict_video.py failed on {length} frames:\n{run['stderr'][-2000:]}")
        timeline = json.loads((out_dir / f"timeline_{length}.json").read_text())
        runs.append(
            {
                "frames": timeline["frames"],
                "windows": len(timeline["windows"]),
                "seconds": run["seconds"],
                "frames_per_second": round(timeline["frames"] / max(run["seconds"], 1e-9), 1),
                "peak_rss_mb": run["peak_rss_mb"],
                "rss_mb": run["rss_mb"],
            }
        )
    (out_dir / f"looped_{frames}.avi").unlink(missing_ok=True)
    growth = round(runs[1]["peak_rss_mb"] - runs[0]["peak_rss_mb"], 1)
    return {
        "model": str(model),
        "video": Path(video).name,
        "stride": stride,
        "runs": runs,
        "growth_mb": growth,
        "limit_mb": GROWTH_LIMIT_MB,
        "bounded": growth < GROWTH_LIMIT_MB,
    }


def plot_rss(result: dict, path: Path) -> Path:
    """Resident memory against time for each run."""
    from har_tf.benchmarks.plots import _pyplot, _save

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for run in result["runs"]:
        if run["rss_mb"]:
            t, mb = zip(*run["rss_mb"])
            ax.plot(t, mb, label=f"{run['frames']:,} frames (peak {run['peak_rss_mb']:.0f} MB)")
    ax.set_xlabel("seconds")
    ax.set_ylabel("resident memory (MB)")
    ax.set_title(f"predict_video.py on {result['video']} looped: growth {result['growth_mb']:+.1f} MB")
    ax.legend(fontsize=8)
    return _save(fig, path)


def suite_long_video(args: argparse.Namespace, machine: dict) -> tuple[dict, str]:
    """``predict_video.py`` over a looped clip (``args.video``, default ta_chi.mp4; ``args.frames``, default
    10,000; ``--quick``: 400) with ``args.fusion_model`` or ``args.pose_model``; MoveNet from
    ``args.movenet``."""
    from har_tf.benchmarks.streaming import MOVENET_FILE, shared_dir

    model = args.fusion_model or args.pose_model
    if model is None:
        raise InvalidInputError("the long_video suite needs --fusion-model or --pose-model (a trained .keras file)")
    shared = shared_dir()
    video = args.video or shared / "data" / "videos" / "ta_chi.mp4"
    movenet = args.movenet or shared / "models" / MOVENET_FILE
    for path in (model, video, movenet):
        if not Path(path).is_file():
            raise MissingFileError(f"{path} does not exist")
    frames = 400 if args.quick else (getattr(args, "frames", None) or 10_000)
    short = max(frames // 10, 100)
    result = predict_video_memory(model, video, movenet, args.out, frames=frames, short=short, stride=args.stride)
    plot = plot_rss(result, Path(args.out) / "long_video_rss.png")
    rows = [
        [
            f"{r['frames']:,}",
            f"{r['windows']:,}",
            f"{r['seconds']:.0f} s",
            f"{r['frames_per_second']:.1f}",
            f"{r['peak_rss_mb']:.0f} MB",
        ]
        for r in result["runs"]
    ]
    markdown = "\n".join(
        [
            f"## predict_video.py on a long input ({result['video']} looped, {Path(model).name}, stride {args.stride})",
            "",
            table(["frames", "windows", "time", "frames/s", "peak RSS"], rows),
            "",
            f"Peak RSS growth from {result['runs'][0]['frames']:,} to {result['runs'][1]['frames']:,} frames: "
            f"**{result['growth_mb']:+.1f} MB** (bound {GROWTH_LIMIT_MB:.0f} MB). Each run writes an annotated video "
            f"and a timeline JSON. ![RSS]({plot.name})",
            "",
        ]
    )
    return {"machine": machine, "long_video": {**result, "plot": plot.name}}, markdown
