#!/usr/bin/env python
"""Write a dataset as sharded TFRecords, for training on data larger than memory.

    python scripts/make_tfrecords.py synthetic --out data/synthetic_records                  # the default data
    python scripts/make_tfrecords.py data/mine.npz --out data/mine_records --clips-per-shard 2048
    python scripts/make_tfrecords.py synthetic --out data/records --frame-features           # + cached image features
    python scripts/train.py --stage pose --data data/mine_records --out saved_models/mine

Each split becomes ``<split>-00000-of-000NN.tfrecord`` shards (poses without their end padding, labels,
the data's ``objects_<split>`` detections, and with ``--frame-features`` each clip's frozen-backbone
features from the stage-2 feature cache) plus ``manifest.json``, written last: a folder without it
is an unfinished write. Stage 1 then streams the training split shard by shard (interleave, a
bounded shuffle buffer, prefetch), so its memory does not grow with the dataset; the format is in
har_tf/data/tfrecords.py.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="'synthetic' (the default data) or a pose dataset NPZ")
    parser.add_argument("--out", type=Path, required=True, help="output folder (its old shards are replaced)")
    parser.add_argument("--clips-per-shard", type=int, default=1024)
    parser.add_argument(
        "--frame-features",
        action="store_true",
        help="add each clip's frame features (the frozen backbone of the config; computed or "
        "read from the feature cache)",
    )
    parser.add_argument("--config", help="YAML or JSON training settings (backbone, image size, crop)")
    parser.add_argument("--cache-dir", help="synthetic data and feature cache folder (default ~/.cache/har_tf)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from har_tf.cli import check_at_least
    from har_tf.data.tfrecords import write_tfrecords
    from har_tf.io import check_output_dir
    from har_tf.training.config import load_train_config
    from har_tf.training.stage1 import load_training_data

    check_at_least("--clips-per-shard", args.clips_per_shard, 1)
    check_output_dir(args.out, "--out")
    if args.cache_dir is not None:
        check_output_dir(args.cache_dir, "--cache-dir")
    config = load_train_config(args.config, {"data": args.data})
    start = time.perf_counter()
    dataset, _ = load_training_data(config, args.cache_dir)
    extras = None
    if args.frame_features:
        from har_tf.data.feature_cache import cached_frame_features
        from har_tf.training.stage2 import crop_boxes, encoder_key, frame_encoder_for

        encoder = frame_encoder_for(config, dataset)
        features, _, _ = cached_frame_features(
            dataset, encoder, encoder_key(encoder), args.cache_dir, boxes=crop_boxes(dataset, encoder, dataset.splits)
        )
        extras = {split: {"frame_features": features[split]} for split in dataset.splits}
    manifest = write_tfrecords(dataset, args.out, args.clips_per_shard, extras)
    size = sum(f.stat().st_size for f in Path(args.out).glob("*.tfrecord")) / 2**20
    print(
        f"wrote {manifest} and {len(list(Path(args.out).glob('*.tfrecord')))} shards ({size:.1f} MB) in "
        f"{time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    from har_tf.cli import run_cli

    run_cli(main)
