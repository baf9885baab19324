"""Convert UTD-MHAD (official layout: Skeleton/, Depth/, Inertial/ .mat files) into a multimodal dataset NPZ.

Usage (from the repository root; see docs/utd_mhad.md):
    python scripts/convert_utd_mhad.py ../shared/data/utd_mhad --out data/utd_xyz.npz --test-subjects 5 7 \
        [--frames 8] [--image-size 112] [--imu-samples 128] [--channels xyz|xy] [--crop person|none]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from har_tf.cli import run_cli
from har_tf.data.depth import DEPTH_CROPS
from har_tf.data.utd_mhad import POSE_CHANNELS, STANDARD_TEST_SUBJECTS, convert_utd_mhad
from har_tf.io import check_output_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="the UTD-MHAD folder (holds Skeleton/, Depth/, Inertial/)")
    parser.add_argument("--out", required=True, help="output dataset NPZ")
    parser.add_argument(
        "--test-subjects",
        type=int,
        nargs="+",
        default=list(STANDARD_TEST_SUBJECTS),
        help="subjects of the test split (default: the standard protocol's 2 4 6 8)",
    )
    parser.add_argument("--val-subjects", type=int, nargs="*", default=[], help="subjects of a validation split")
    parser.add_argument("--frames", type=int, default=8, help="depth frames per clip (0: no depth)")
    parser.add_argument("--image-size", type=int, default=112, help="side of the square depth images")
    parser.add_argument("--imu-samples", type=int, default=128, help="inertial samples per clip (0: no inertial)")
    parser.add_argument("--channels", choices=POSE_CHANNELS, default="xyz", help="3D skeleton or x, y only")
    parser.add_argument("--crop", choices=DEPTH_CROPS, default="person", help="depth crop (see docs/utd_mhad.md)")
    parser.add_argument(
        "--num-frames", type=int, default=30, help="the model's pose frames T that frame_indices refer to (default 30)"
    )
    parser.add_argument("--actions", nargs="+", default=None, help="only these actions (numbers 1-27 or names)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    check_output_file(args.out, "--out")
    start = time.perf_counter()
    dataset = convert_utd_mhad(
        args.root,
        args.out,
        test_subjects=args.test_subjects,
        val_subjects=args.val_subjects,
        frames=args.frames,
        image_size=args.image_size,
        imu_samples=args.imu_samples,
        channels=args.channels,
        crop=args.crop,
        num_frames=args.num_frames,
        actions=args.actions,
        progress=not args.no_progress,
    )
    seconds = time.perf_counter() - start
    print(dataset.summary())
    for split in dataset.splits:
        subjects = sorted(set(dataset.extras[f"subject_{split}"].tolist()))
        shapes = [f"x {dataset.split(split)[0].shape}"]
        if f"frames_{split}_offsets" in dataset.extras:
            frames = len(dataset.extras["frame_indices"])
            size = tuple(int(s) for s in dataset.extras["image_size"])
            jpeg_mb = dataset.extras[f"frames_{split}_jpeg"].size / 1e6
            count = len(dataset.split(split)[1])
            shapes.append(f"depth {count} x {frames} x {size[0]}x{size[1]} ({jpeg_mb:.1f} MB JPEG)")
        if f"imu_{split}" in dataset.extras:
            shapes.append(f"imu {dataset.extras[f'imu_{split}'].shape}")
        print(f"  {split:5s} subjects {subjects}: " + ", ".join(shapes))
    boxes = json.loads(str(dataset.extras["conversion_info"]))["depth_boxes"]
    if boxes:
        print("  depth crops from: " + ", ".join(f"{source} {count}" for source, count in sorted(boxes.items())))
    if "imu_rate_hz" in dataset.extras:
        raw = np.median(np.concatenate([dataset.extras[f"imu_length_{s}"] for s in dataset.splits]))
        names, rate = ", ".join(dataset.extras["imu_channels"]), float(dataset.extras["imu_rate_hz"])
        print(f"  imu: {names} at about {rate:.1f} Hz (raw 50 Hz, {int(raw)} samples per clip in the median)")
    size_mb = Path(args.out).stat().st_size / 1e6
    print(f"wrote {args.out} ({size_mb:.1f} MB) in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    run_cli(main)
