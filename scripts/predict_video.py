#!/usr/bin/env python
"""Recognise actions in a video (a file, a webcam index or an RTSP URL): annotated video, timeline, latency.

    python scripts/predict_video.py clip.mp4 --model saved_models/run/fusion_model.keras \\
        --pose-model movenet_singlepose_lightning_int8.tflite --out annotated.mp4 --json timeline.json
    python scripts/predict_video.py 0 --model M.keras --estimator blazepose        # webcam 0, BlazePose

Every frame: the main person's pose (MoveNet by default; BlazePose after ``python -m
har_tf.inference.pose.blazepose fetch``; or precomputed OpenPose JSON with ``--estimator openpose
--pose-model JSON_DIR``), its image embedding once (fusion models), and every ``--stride`` frames the
top actions of the last T frames. ``--out`` gets the input's frames, size and rate with the skeleton and
the current top-3 drawn; ``--json`` the windows (start/end frame and time, top-k classes and
probabilities). At the end a latency table: per-frame time of decode, pose, object detector, image
embedding, classifier and drawing, median and 95th percentile. ``--model`` may also be an export
(SavedModel folder or .tflite): the backbone then runs in every window (exports are one graph).

A fusion model with an object branch takes each frame's detections: ``--detector PATH`` (a ``.tflite``
SSD detector or a TF Object Detection API SavedModel folder; ``--detector-labels coco`` or a labels file
when the model does not carry them) or ``--detections DIR`` (the video's detections JSON folder,
har_tf/data/detections.py). Without either it runs as with no detections. ``--out`` then also shows the
boxes the model used, with their class names.

A fusion model with an inertial branch takes a wrist sensor's recording: ``--imu samples.csv``, one line
per sample, its time in seconds from the video's first frame then the sensor's D values (accelerometer
x, y, z in g, then gyroscope x, y, z in deg/s for a 6-axis sensor), comma separated, a first line of
column names allowed; each window gets the samples of its frames' span resampled to the model's S
(har_tf/inference/imu_buffer.py). Without it the model runs as with no sensor.
"""

from __future__ import annotations

import argparse
import sys
import time
from array import array
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", help="a video file, a webcam index (0) or a stream URL (rtsp://...)")
    parser.add_argument("--model", type=Path, required=True, help="fusion_model.keras / pose_model.keras or an export")
    parser.add_argument("--estimator", choices=("movenet", "blazepose", "openpose"), default="movenet")
    parser.add_argument(
        "--pose-model",
        default=None,
        help="MoveNet .tflite or TF Hub handle; BlazePose folder (default: the fetched cache); "
        "OpenPose: the folder of per-frame JSON files",
    )
    parser.add_argument("--out", type=Path, default=None, help="annotated video (.mp4 or .avi)")
    parser.add_argument("--json", type=Path, default=None, help="timeline JSON")
    parser.add_argument("--stride", type=int, default=5, help="frames between predictions (default 5)")
    parser.add_argument("--smoothing", type=float, default=0.0, help="EMA of probabilities over windows, 0..1")
    parser.add_argument("--top-k", type=int, default=3, help="classes per window in the timeline and on screen")
    parser.add_argument(
        "--embed-every",
        type=int,
        default=1,
        help="embed every k-th frame only (faster, approximate; default 1 = exact)",
    )
    parser.add_argument(
        "--embedder",
        choices=("keras", "tflite_fp32", "tflite_fp16", "tflite_int8"),
        default="keras",
        help="how a .keras fusion model embeds frames: keras (exact) or converted to TFLite at start "
        "(tflite_fp32: same features within 1e-5, about 2.5x faster on a CPU)",
    )
    parser.add_argument(
        "--detector",
        default=None,
        help="object detector for a model with an object branch: a .tflite file or a SavedModel folder",
    )
    parser.add_argument(
        "--detector-labels",
        default=None,
        help="the detector's label map: 'coco' (TF2 Detection Zoo / TF Hub models) or a text file of "
        "one name per line, line 1 = class id 1 (default: what the model file carries)",
    )
    parser.add_argument("--min-score", type=float, default=0.3, help="drop detections scoring less (default 0.3)")
    parser.add_argument(
        "--detections",
        type=Path,
        default=None,
        help="the video's detections JSON folder (instead of --detector), for an object branch",
    )
    parser.add_argument(
        "--imu",
        type=Path,
        default=None,
        help="a wrist sensor's CSV (t in seconds from the first frame, then its values) for a model "
        "with an inertial branch",
    )
    parser.add_argument("--pose-only", action="store_true", help="use the fusion model's pose branch alone")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    parser.add_argument("--num-threads", type=int, default=None, help="TFLite threads (default: all cores)")
    parser.add_argument("--no-track", action="store_true", help="run the pose detector on every frame")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from tqdm import tqdm

    from har_tf.data.video import VideoReader
    from har_tf.inference.pose import make_estimator
    from har_tf.inference.rendering import AnnotatedVideoWriter, TimelineWriter, annotate_frame
    from har_tf.inference.streaming import StreamingRecognizer
    from har_tf.inference.window_model import WindowModel

    check_arguments(args)
    if "://" not in args.video and not args.video.isdigit():  # a file: check it before loading the models
        VideoReader(args.video, max_frames=1).close()
    model = WindowModel.load(args.model, num_threads=args.num_threads, embedder=args.embedder)
    detector = object_detector(args, model)
    imu = sensor_samples(args, model)
    estimator = make_estimator(args.estimator, args.pose_model, args.num_threads, track=not args.no_track)
    objects = {"detector": detector, "use_objects": not args.pose_only} if model.takes_objects else {}
    if model.takes_imu:
        objects["use_imu"] = not args.pose_only
    recogniser = StreamingRecognizer(
        model,
        estimator,
        stride=args.stride,
        smoothing=args.smoothing,
        embed_every=args.embed_every,
        use_frames=not args.pose_only,
        **objects,
    )
    frames = recogniser.frames(args.video, args.max_frames, imu=imu)
    first_frame, first = next(frames)  # opens the video: bad input fails here, before any output file exists
    writer = None
    if args.out is not None:
        writer = AnnotatedVideoWriter(args.out, recogniser.fps, first_frame.shape[1], first_frame.shape[0])
    total = None if args.max_frames is None else args.max_frames
    progress = tqdm(total=total, unit="frame", disable=args.quiet or not sys.stderr.isatty(), desc="frames")
    # windows go to disk as they come (the recogniser keeps only its recent history): memory stays flat
    timeline_out = TimelineWriter(args.json)
    empty = array("q")  # start frames of the windows without a person
    current = None
    started = time.perf_counter()
    try:
        for frame, result in _chain(first_frame, first, frames):
            current = result.window or current
            if result.window is not None:
                timeline_out.add(result.window.to_dict(args.top_k))
            if recogniser.empty_windows and (not empty or recogniser.empty_windows[-1] != empty[-1]):
                empty.append(recogniser.empty_windows[-1])
            if writer is not None:
                start = time.perf_counter()
                scores = None if current is None else current.top(min(3, args.top_k))
                caption = None if current is not None else f"warming up: {recogniser.frames_seen}/{model.num_frames}"
                writer.write(
                    annotate_frame(
                        frame, result.pose, estimator.layout, scores, caption, result.objects, model.object_classes
                    )
                )
                recogniser.latency.add("render", time.perf_counter() - start)
            progress.update(1)
    except BaseException:
        if writer is not None:
            writer.abort()
        timeline_out.abort()
        raise
    finally:
        progress.close()
    seconds = time.perf_counter() - started
    if writer is not None:
        writer.close()
    if recogniser.windows and recogniser.windows[-1].padded:  # a short video's one window, from flush()
        timeline_out.add(recogniser.windows[-1].to_dict(args.top_k))
    timeline = {
        "video": str(args.video),
        "model": str(args.model),
        "model_kind": model.description,
        "estimator": args.estimator,
        "frames": recogniser.frames_seen,
        "fps": recogniser.fps,
        "num_frames": model.num_frames,
        "stride": args.stride,
        "smoothing": args.smoothing,
        "embed_every": args.embed_every,
        "classes": list(model.class_names),
        "windows_without_person": empty.tolist(),
        "latency_ms": recogniser.latency.summary(skip=min(10, max(recogniser.frames_seen - 1, 0))),
    }
    if model.takes_objects:
        timeline["objects"] = {
            "object_classes": list(model.object_classes),
            "max_objects": model.max_objects,
            "source": str(args.detector or args.detections or "none"),
        }
    if model.takes_imu:
        timeline["imu"] = {
            "imu_shape": list(model.imu_shape),
            "source": str(args.imu or "none"),
            "samples": 0 if imu is None else len(imu),
        }
    timeline_out.close(timeline)
    print(
        f"{recogniser.frames_seen} frames, {timeline_out.count} windows in {seconds:.1f} s "
        f"({recogniser.frames_seen / max(seconds, 1e-9):.1f} frames/s)"
    )
    for w in timeline_out.summary_windows():
        print(
            "  ..."
            if w is None
            else f"  frames {w['start_frame']:>5}-{w['end_frame']:<5} "
            + ", ".join(f"{c['class']} {c['probability']:.2f}" for c in w["top"])
        )
    print(recogniser.latency.report(skip=min(10, max(recogniser.frames_seen - 1, 0))))
    for path in (args.out, args.json):
        if path is not None:
            print(f"wrote {path}")
    return 0


def check_arguments(args: argparse.Namespace) -> None:
    """The numbers and output paths, checked before any model is loaded or frame read."""
    from har_tf.cli import check_at_least, check_between
    from har_tf.errors import InvalidInputError
    from har_tf.io import check_output_file

    for option, value, low in (
        ("--top-k", args.top_k, 1),
        ("--stride", args.stride, 1),
        ("--embed-every", args.embed_every, 1),
        ("--max-frames", args.max_frames, 1),
        ("--num-threads", args.num_threads, 1),
    ):
        check_at_least(option, value, low)
    check_between("--smoothing", args.smoothing, 0.0, 1.0, high_open=True)
    check_between("--min-score", args.min_score, 0.0, 1.0)
    if args.out is not None:
        from har_tf.inference.rendering import CODECS

        if args.out.suffix.lower() not in CODECS:
            raise InvalidInputError(f"--out {args.out}: the annotated video must end in {sorted(CODECS)}")
        check_output_file(args.out, "--out")
    if args.json is not None:
        check_output_file(args.json, "--json")
    if args.out is not None and args.json is not None and args.out.resolve() == args.json.resolve():
        raise InvalidInputError(f"--out and --json name the same file {args.out}")


def object_detector(args: argparse.Namespace, model):
    """The detector the arguments name (None for none), with a one-line error when the model cannot use it."""
    from har_tf.errors import InvalidInputError

    if args.detector is None and args.detections is None:
        if args.detector_labels is not None:
            raise InvalidInputError("--detector-labels goes with --detector")
        return None
    if args.detector is not None and args.detections is not None:
        raise InvalidInputError(
            "give --detector (run a detector on every frame) or --detections (a detections JSON folder), not both"
        )
    if not model.takes_objects:
        given = "--detector" if args.detector is not None else "--detections"
        kind = "a pose + image fusion model" if model.takes_frames else "a pose-only model"
        raise InvalidInputError(f"{given} needs a model with an object branch, but {args.model} has none ({kind})")
    from har_tf.inference.detection import AnnotationDetector, make_detector, read_label_map

    if args.detections is not None:
        if args.detector_labels is not None:
            raise InvalidInputError(
                "--detector-labels goes with --detector; a detections folder names the model's object classes"
            )
        return AnnotationDetector.from_folder(args.detections, model.object_classes)
    labels = None if args.detector_labels is None else read_label_map(args.detector_labels)
    detector = make_detector(args.detector, class_names=labels, min_score=args.min_score)
    if detector.names is None:
        raise InvalidInputError(
            f"{args.detector} carries no label names: pass --detector-labels coco (TF2 Detection "
            "Zoo / TF Hub models) or a labels file"
        )
    return detector


def sensor_samples(args: argparse.Namespace, model):
    """The ``--imu`` recording's rows ``[t, values]`` (None without it), with a one-line error when the model
    cannot use it."""
    from har_tf.errors import InvalidInputError

    if args.imu is None:
        return None
    if not model.takes_imu:
        raise InvalidInputError(f"--imu needs a model with an inertial branch, but {args.model} has none")
    from har_tf.inference.imu_buffer import read_imu_csv

    return read_imu_csv(args.imu, model.imu_shape[1])


def _chain(first_frame, first, rest):
    yield first_frame, first
    yield from rest


if __name__ == "__main__":
    from har_tf.cli import run_cli

    run_cli(main)
