#!/usr/bin/env python
"""The main job. For now (issue #2): generate or load the data, check it, and summarise it.

    python scripts/train.py                       # the embedded synthetic default data
    python scripts/train.py --data my_poses.npz   # a pose dataset NPZ of your own

Writes into ``--out`` (default ``saved_models/<run>``): ``data_summary.json`` and ``data_preview.png``
(one row per class with the skeleton drawn over the frames). Model training (stage 1 and stage 2)
lands with issues #3 and #4.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="synthetic", help="'synthetic' (default) or a pose dataset NPZ path")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default saved_models/<run>)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data (default 0)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="synthetic data cache (default ~/.cache/har_tf)")
    parser.add_argument("--clips-per-class", type=int, nargs=3, metavar=("TRAIN", "VAL", "TEST"), default=None,
                        help="synthetic clips per class and split (default 80 12 25)")
    parser.add_argument("--no-check", action="store_true", help="skip the pose-only ambiguity check")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from har_tf.data.pose_npz import load_pose_npz
    from har_tf.data.preview import save_contact_sheet
    from har_tf.data.synthetic import SyntheticConfig, load_or_generate
    from har_tf.data.synthetic.checks import pose_only_ambiguity_check

    out = args.out or REPO_ROOT / "saved_models" / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    summary: dict = {"data": args.data}
    start = time.perf_counter()
    if args.data == "synthetic":
        config = SyntheticConfig(seed=args.seed)
        if args.clips_per_class:
            config = SyntheticConfig(seed=args.seed, clips_per_class=tuple(args.clips_per_class))
        print(f"synthetic data, config key {config.cache_key()} ...", flush=True)
        dataset, path, cached = load_or_generate(config, args.cache_dir)
        summary.update(synthetic_config=config.to_dict(), cache_file=str(path), from_cache=cached)
        print(f"{'loaded from cache' if cached else 'generated'} {path} in {time.perf_counter() - start:.1f} s")
    else:
        dataset = load_pose_npz(args.data)
        print(f"loaded {args.data} in {time.perf_counter() - start:.1f} s")
    summary["seconds"] = round(time.perf_counter() - start, 2)
    print(dataset.summary())
    summary.update(
        layout=dataset.layout.name,
        class_names=list(dataset.class_names),
        splits={s: {"num_clips": int(len(dataset.split(s)[1])), "shape": list(dataset.split(s)[0].shape)}
                for s in dataset.splits},  # fmt: skip
    )

    out.mkdir(parents=True, exist_ok=True)
    preview_split = "test" if "test" in dataset.splits else "train"
    save_contact_sheet(dataset, out / "data_preview.png", split=preview_split)
    if "class_group" in dataset.extras and not args.no_check and "test" in dataset.splits:
        check = pose_only_ambiguity_check(dataset)
        summary["pose_only_check"] = check
        print(f"pose-only check ({check['classifier']}): accuracy {check['accuracy']:.1%}, "
              f"group accuracy {check['group_accuracy']:.1%}")  # fmt: skip
        for name, group in check["groups"].items():
            print(f"  inside {name} ({', '.join(group['classes'])}): {group['within_group_accuracy']:.1%} "
                  f"(chance {group['chance']:.0%}) — pose alone cannot tell these apart; the image can")  # fmt: skip
    (out / "data_summary.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {out / 'data_summary.json'} and {out / 'data_preview.png'}")
    print("model training (stages 1 and 2) is not implemented yet: it lands with issues #3 and #4")
    return 0


if __name__ == "__main__":
    from har_tf.cli import run_cli

    run_cli(main)
