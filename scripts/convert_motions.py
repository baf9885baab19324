"""Convert the ragged motions BODY_25 NPZ into a pose dataset NPZ (see har_tf.data.motions).

Usage (from the repository root):
    python scripts/convert_motions.py ../shared/data/motions_body25/motions_body25.npz \
        --out data/motions_body25_pose.npz [--max-frames N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from har_tf.cli import run_cli
from har_tf.data.motions import convert_motions
from har_tf.io import check_output_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("src", help="the motions NPZ (frames, offsets, split, label, subject)")
    parser.add_argument("--out", default="data/motions_body25_pose.npz", help="output pose dataset NPZ")
    parser.add_argument(
        "--max-frames",
        type=int,
        default=None,
        help="pad/centre-crop every sequence to this many frames (default: the longest sequence)",
    )
    args = parser.parse_args(argv)
    check_output_file(args.out, "--out")
    start = time.perf_counter()
    dataset = convert_motions(args.src, args.out, max_frames=args.max_frames)
    seconds = time.perf_counter() - start
    size_mb = Path(args.out).stat().st_size / 1e6
    print(dataset.summary())
    print(f"wrote {args.out} ({size_mb:.1f} MB) in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    run_cli(main)
