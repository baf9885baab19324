#!/usr/bin/env python
"""A multimodal dataset NPZ from a folder of videos: poses, clips and RGB frames, for scripts/train.py --data.

    python scripts/extract_poses.py videos/ --out data/haa500.npz --pose-model movenet_singlepose_lightning_int8.tflite
    python scripts/extract_poses.py videos/ --out data/mine.npz --estimator openpose --openpose-json json/
    python scripts/train.py --data data/haa500.npz

Videos: ``ROOT/<class>/<clip>.mp4`` (also .avi, .mov, .mkv, .webm ...), or ``ROOT/train/<class>/...``
and ``ROOT/test/<class>/...`` to keep your own split (otherwise ``--test-fraction`` of each class's
videos go to test, seeded). Every frame goes through the pose estimator (the main person of each frame);
clips are windows of ``--num-frames`` frames every ``--stride`` frames, with ``--frames-per-clip``
letterboxed ``--image-size`` RGB frames each. The output's arrays are listed in har_tf/inference/extraction.py.

MoveNet: ``--pose-model`` is a local ``.tflite`` file (movenet_singlepose_lightning_int8.tflite from Kaggle
Models / TF Hub ``google/movenet/tfLite/singlepose-lightning``) or a TF Hub handle (downloaded once).
BlazePose: ``python -m har_tf.inference.pose.blazepose fetch`` once, or ``--pose-model`` its model folder.
OpenPose: ``--openpose-json DIR`` holds ``DIR/<class>/<clip>/`` folders of per-frame JSON
(``--write_json`` output of each video; ``<clip>`` is the video's file name without extension).

Objects (optional): ``--detections DIR`` reads ``DIR/<class>/<clip>/`` detections JSON folders
(har_tf/data/detections.py; class names from ``--object-classes``), or ``--detector PATH`` runs a
``.tflite`` SSD detector or a TF Object Detection API SavedModel on every frame (``--detector-labels
coco`` when the model does not carry its labels; its classes are mapped by name to ``--object-classes``,
default all of them). Each clip then gets its ``(T, K, 6)`` objects (``--max-objects`` K, nearest the
person first) as ``objects_<split>``, with ``object_classes``.

Resumable: each finished video is kept in ``OUT.parts/``; rerun the same command after an interruption
and only the missing videos are extracted. Unreadable videos are skipped with a warning and listed in
``OUT.report.json`` (with per-class counts, clips per split and the frames per second of extraction).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", type=Path, help="folder of class folders of videos (ROOT/<class>/<clip>.mp4)")
    parser.add_argument("--out", type=Path, required=True, help="the dataset NPZ to write, e.g. data/mine.npz")
    parser.add_argument(
        "--estimator",
        choices=("movenet", "blazepose", "openpose"),
        default="movenet",
        help="pose source: MoveNet (default) or BlazePose on every frame, or precomputed OpenPose JSON",
    )
    parser.add_argument(
        "--pose-model",
        default=None,
        help="MoveNet: a .tflite file or TF Hub handle; BlazePose: its model folder (default: the fetched cache)",
    )
    parser.add_argument(
        "--openpose-json",
        type=Path,
        default=None,
        help="folder of DIR/<class>/<clip>/ OpenPose JSON folders (--estimator openpose)",
    )
    parser.add_argument(
        "--detections",
        type=Path,
        default=None,
        help="folder of DIR/<class>/<clip>/ detections JSON folders (objects per frame)",
    )
    parser.add_argument(
        "--detector", default=None, help="object detector run on every frame: a .tflite file or a SavedModel folder"
    )
    parser.add_argument(
        "--detector-labels",
        default=None,
        help="the detector's label map: 'coco' or a text file of one name per line, line 1 = class "
        "id 1 (default: what the model file carries)",
    )
    parser.add_argument("--min-score", type=float, default=0.3, help="drop detections scoring less (default 0.3)")
    parser.add_argument(
        "--object-classes",
        default=None,
        help="the dataset's object classes, comma-separated (cup,phone,book); required with "
        "--detections, default with --detector: every class it names",
    )
    parser.add_argument("--max-objects", type=int, default=4, help="K, object rows per frame (default 4)")
    parser.add_argument("--layout", default=None, help="convert the poses to this layout (default: the estimator's)")
    parser.add_argument("--num-frames", type=int, default=30, help="T, pose frames per clip (default 30)")
    parser.add_argument("--stride", type=int, default=15, help="frames between clip starts (default 15)")
    parser.add_argument("--frames-per-clip", type=int, default=8, help="F, RGB frames per clip (default 8)")
    parser.add_argument("--image-size", type=int, default=224, help="side of the square RGB frames (default 224)")
    parser.add_argument("--test-fraction", type=float, default=0.2, help="videos per class for test (default 0.2)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/test split (default 0)")
    parser.add_argument("--max-frames", type=int, default=None, help="read at most this many frames of each video")
    parser.add_argument("--jpeg-quality", type=int, default=90, help="JPEG quality of the stored frames (default 90)")
    parser.add_argument(
        "--no-track",
        action="store_true",
        help="estimate each frame on its own (default: follow the person from frame to frame)",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="pose model interpreter threads (default: TFLite's; 1 with --workers)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="videos extracted side by side in separate processes (default 1)"
    )
    parser.add_argument("--keep-parts", action="store_true", help="keep OUT.parts/ (per-video results) after success")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def pose_source(args: argparse.Namespace):
    """The pose source the arguments name, with a clear error for a missing or misplaced option."""
    from har_tf.errors import InvalidInputError
    from har_tf.inference.extraction import EstimatorSource, OpenPoseJsonFolders

    if args.estimator == "openpose":
        if args.openpose_json is None:
            raise InvalidInputError(
                "--estimator openpose needs --openpose-json DIR (DIR/<class>/<clip>/ per-frame "
                "OpenPose JSON folders, one per video)"
            )
        return OpenPoseJsonFolders(args.openpose_json)
    if args.openpose_json is not None:
        raise InvalidInputError("--openpose-json is for --estimator openpose")
    if args.estimator == "movenet" and args.pose_model is None:
        raise InvalidInputError(
            "--estimator movenet needs --pose-model: a local MoveNet .tflite file "
            "(movenet_singlepose_lightning_int8.tflite from Kaggle Models / TF Hub "
            "google/movenet/tfLite/singlepose-lightning) or a TF Hub handle"
        )
    threads = 1 if args.threads is None and args.workers > 1 else args.threads
    source = EstimatorSource(args.estimator, args.pose_model, num_threads=threads, track=not args.no_track)
    source.load()  # a wrong model file fails now, not once per video
    return source


def detections_source(args: argparse.Namespace):
    """The detections source the arguments name (None for none), with a clear error for a wrong combination."""
    from har_tf.errors import InvalidInputError
    from har_tf.inference.extraction import DetectionJsonFolders, DetectorSource

    classes = None if args.object_classes is None else [c.strip() for c in args.object_classes.split(",")]
    if args.detections is not None and args.detector is not None:
        raise InvalidInputError("give --detections (JSON folders) or --detector (a model on every frame), not both")
    if args.detections is None and args.detector is None:
        for option in ("object_classes", "detector_labels"):
            if getattr(args, option) is not None:
                raise InvalidInputError(f"--{option.replace('_', '-')} goes with --detections or --detector")
        return None
    if args.detections is not None:
        if classes is None:
            raise InvalidInputError(
                "--detections needs --object-classes (the class names its files use, e.g. cup,phone,book)"
            )
        return DetectionJsonFolders(args.detections, classes)
    from har_tf.inference.detection import read_label_map

    labels = None if args.detector_labels is None else read_label_map(args.detector_labels)
    kwargs = {"min_score": args.min_score} if labels is None else {"class_names": labels, "min_score": args.min_score}
    source = DetectorSource(args.detector, classes, **kwargs)
    source.load()  # a wrong model file fails now, not once per video
    return source


def main(argv=None) -> int:
    args = parse_args(argv)
    from tqdm.auto import tqdm

    from har_tf.cli import check_at_least, check_between
    from har_tf.inference.extraction import ExtractionConfig, extract_dataset, summary_lines
    from har_tf.io import check_output_dir, check_output_file

    for option, value, low in (
        ("--workers", args.workers, 1),
        ("--threads", args.threads, 1),
        ("--max-frames", args.max_frames, 1),
        ("--max-objects", args.max_objects, 1),
    ):
        check_at_least(option, value, low)
    check_between("--min-score", args.min_score, 0.0, 1.0)
    check_output_file(args.out, "--out")
    parts = args.out.with_suffix(".parts")
    if parts.exists() and not parts.is_dir():
        check_output_dir(parts, "the resume folder")

    config = ExtractionConfig(
        num_frames=args.num_frames,
        stride=args.stride,
        frames_per_clip=args.frames_per_clip,
        image_size=args.image_size,
        test_fraction=args.test_fraction,
        seed=args.seed,
        max_frames=args.max_frames,
        layout=args.layout,
        jpeg_quality=args.jpeg_quality,
        max_objects=args.max_objects,
    )
    detections = detections_source(args)
    source = pose_source(args)

    def warn(line: str) -> None:
        tqdm.write(f"warning: {line}", file=sys.stderr)

    result = extract_dataset(
        args.root,
        args.out,
        source,
        config,
        workers=args.workers,
        keep_parts=args.keep_parts,
        progress=not args.quiet,
        warn=warn,
        detections=detections,
    )
    print(result.dataset.summary())
    print("\n".join(summary_lines(result.report)))
    print(f"wrote {result.path} and {result.report_path}")
    return 0


if __name__ == "__main__":
    from har_tf.cli import run_cli

    run_cli(main)
