"""Exports: SavedModel and TFLite (fp32, fp16, int8, int8_full) of a servable model, their size and latency.

:func:`suite_export` (suite ``export``) checks trained ``.keras`` files: size, parity with Keras on
held-out clips, latency at batch 1. :func:`export_latencies` times the exports of any servable (the
all-in-one run's fresh models, where parity means nothing and is not checked).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from har_tf.benchmarks.report import table
from har_tf.benchmarks.timing import time_call
from har_tf.errors import InvalidInputError

SAVEDMODEL = "savedmodel"
FORMAT_NAMES = {
    "keras": "Keras",
    SAVEDMODEL: "SavedModel",
    "tflite_fp32": "TFLite fp32",
    "tflite_fp16": "TFLite fp16",
    "tflite_int8": "TFLite int8",
    "tflite_int8_full": "TFLite int8_full",
}


def keras_runner(model) -> Callable[[dict], Callable[[], object]]:
    """``inputs -> (() -> numpy)``: ``model`` on a batch of ``inputs`` (a dict; a lone ``pose`` is passed as
    a tensor) through one graph traced once for any batch size, as the exports (dynamic batch) run."""
    import numpy as np
    import tensorflow as tf

    if isinstance(model.input, dict):
        spec = {name: tf.TensorSpec((None, *t.shape[1:]), t.dtype) for name, t in model.input.items()}
    else:
        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
    call = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    def make(inputs: dict) -> Callable[[], object]:
        feed = {k: tf.constant(v) for k, v in inputs.items()} if isinstance(spec, dict) else tf.constant(inputs["pose"])
        return lambda: np.asarray(call(feed))

    return make


def export_latencies(
    servable,
    inputs: Callable[[int], dict],
    formats,
    batch_sizes,
    timing: dict,
    representative: dict | None = None,
    threads: int = 2,
) -> dict:
    """``{format: {"size_bytes", "conversion_seconds", "batch_<b>": latency}}`` for each of ``formats``
    (``savedmodel``, ``tflite_<quantization>``) of ``servable``.

    ``inputs(b)`` gives a batch of ``b`` clips; ``timing`` holds :func:`~har_tf.benchmarks.timing.time_call`'s
    ``runs``, ``warmup`` and ``max_seconds``. A format that fails to convert gets ``{"error": ...}``.
    """
    import tensorflow as tf

    from har_tf.errors import ExportError
    from har_tf.export import TFLiteRunner, convert_to_tflite
    from har_tf.export.saved_model import run_signature, write_saved_model

    out = {}
    for fmt in formats:
        start = time.perf_counter()
        try:
            if fmt == SAVEDMODEL:
                with tempfile.TemporaryDirectory(prefix="har_tf_bench_") as tmp:
                    write_saved_model(servable, tmp, names=("serving_default",))
                    size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
                    signature = tf.saved_model.load(tmp).signatures["serving_default"]
                seconds = time.perf_counter() - start

                def make_call(batch, signature=signature):
                    feed = inputs(batch)
                    return lambda: run_signature(signature, feed, batch_size=batch)
            else:
                quantization = fmt.removeprefix("tflite_")
                content = convert_to_tflite(servable, quantization, representative)
                size, seconds = len(content), time.perf_counter() - start
                runner = TFLiteRunner(content, num_threads=threads)

                def make_call(batch, runner=runner):
                    feed = inputs(batch)
                    return lambda: runner(feed)
        except (ExportError, InvalidInputError) as err:
            out[fmt] = {"error": str(err), "conversion_seconds": round(time.perf_counter() - start, 1)}
            print(f"    {FORMAT_NAMES[fmt]}: {err}", flush=True)
            continue
        row = {
            "size_bytes": int(size),
            "conversion_seconds": round(seconds, 1),
            **({"threads": threads} if fmt != SAVEDMODEL else {}),
        }
        for batch in batch_sizes:
            row[f"batch_{batch}"] = time_call(make_call(batch), batch_size=batch, **timing)
        out[fmt] = row
        print(
            f"    {FORMAT_NAMES[fmt]:<17} {size / 1e6:6.2f} MB, converted in {seconds:.1f} s, "
            + ", ".join(f"b{b}: {row[f'batch_{b}']['median_ms_per_clip']:.3g} ms/clip" for b in batch_sizes),
            flush=True,
        )
    return out


# ------------------------------------------------------------------------------------ suite export
def _export_rows(kind: str, model_path: Path, args: argparse.Namespace) -> list[dict]:
    import json

    import numpy as np
    import tensorflow as tf

    from har_tf.export import (
        QUANTIZATIONS,
        TFLiteRunner,
        export_samples,
        export_saved_model,
        export_tflite,
        make_servable,
    )
    from har_tf.export.parity import MIN_AGREEMENT
    from har_tf.export.samples import held_out_split
    from har_tf.export.saved_model import run_signature
    from har_tf.models.cost import time_calls
    from har_tf.models.saving import load_keras_model
    from har_tf.training.config import run_config
    from har_tf.training.stage1 import load_training_data

    model = load_keras_model(model_path)
    dataset, _ = load_training_data(run_config(model_path), args.cache_dir)
    servable = make_servable(model, layout=dataset.layout)
    samples = export_samples(dataset, held_out_split(dataset), servable.spec, limit=args.samples)
    calibration = export_samples(dataset, "train", servable.spec, limit=min(100, args.samples), seed=1)
    one = {k: v[:1] for k, v in samples.items()}
    folder = args.out / "exports" / kind
    threads = args.threads or 2
    print(
        f"export suite: {kind} model {model_path} ({servable.spec.num_classes} classes), parity on "
        f"{len(samples['pose'])} clips, latency at batch 1 over {args.runs} runs"
    )
    keras_call = tf.function(lambda x: servable.full(x, training=False))
    keras_input = {k: tf.constant(v) for k, v in one.items()} if "frames" in one else tf.constant(one["pose"])
    rows = [
        {
            "model": kind,
            "format": "Keras (.keras)",
            "size_bytes": model_path.stat().st_size,
            "latency": time_calls(lambda: np.asarray(keras_call(keras_input)), args.runs, max(args.warmup, 1)),
        }
    ]
    path = export_saved_model(
        servable, folder / "savedmodel", samples=samples, version=1, force=True, min_agreement=0.0
    )
    info = json.loads((path / "assets.extra" / "export_info.json").read_text())
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    rows.append(
        {
            "model": kind,
            "format": "SavedModel",
            "size_bytes": sum(p.stat().st_size for p in path.rglob("*") if p.is_file()),
            "parity": info["parity"],
            "min_agreement": MIN_AGREEMENT["savedmodel"],
            "latency": time_calls(lambda: run_signature(signature, one), args.runs, max(args.warmup, 1)),
        }
    )
    for quantization in QUANTIZATIONS:
        start = time.perf_counter()
        tflite = folder / f"{kind}_{quantization}.tflite"
        info = export_tflite(
            servable, tflite, quantization=quantization, samples=samples, representative=calibration, min_agreement=0.0
        )
        runner = TFLiteRunner(tflite, num_threads=threads)
        rows.append(
            {
                "model": kind,
                "format": f"TFLite {quantization}",
                "size_bytes": info["size_bytes"],
                "parity": info["parity"],
                "min_agreement": MIN_AGREEMENT[quantization],
                "conversion_seconds": round(time.perf_counter() - start, 1),
                "threads": threads,
                "latency": time_calls(lambda runner=runner: runner(one), args.runs, max(args.warmup, 1)),
            }
        )
    return rows


def suite_export(args: argparse.Namespace, machine: dict) -> tuple[dict, str]:
    """Size, parity and batch-1 CPU latency of every export of the pose-only and fusion models.

    Uses ``args.pose_model`` and/or ``fusion_model`` (``.keras`` files of ``scripts/train.py``), ``samples``,
    ``runs``, ``warmup``, ``threads``, ``cache_dir`` and ``out`` (the exports go to ``out/exports``)."""
    models = [(kind, path) for kind, path in (("pose", args.pose_model), ("fusion", args.fusion_model)) if path]
    if not models:
        raise InvalidInputError("the export suite needs --pose-model and/or --fusion-model (.keras files)")
    rows = [row for kind, path in models for row in _export_rows(kind, Path(path), args)]
    lines = []
    for row in rows:
        fp32 = next(r for r in rows if r["model"] == row["model"] and r["format"] == "TFLite fp32")
        parity = row.get("parity")
        agreement = min(p["top1_agreement"] for p in parity.values()) if parity else None
        diff = max(p["max_abs_diff"] for p in parity.values()) if parity else None
        meets = (
            "—"
            if parity is None
            else "yes"
            if agreement >= row["min_agreement"]
            else f"no (< {row['min_agreement']:.0%})"
        )
        lines.append(
            [
                row["model"],
                row["format"],
                f"{row['size_bytes'] / 1e6:.2f} MB",
                f"{row['size_bytes'] / fp32['size_bytes']:.0%}" if row["format"].startswith("TFLite") else "—",
                "—" if agreement is None else f"{agreement:.1%}",
                "—" if diff is None else f"{diff:.2g}",
                meets,
                f"{row['latency']['median_ms']:.2f}",
                f"{row['latency']['p95_ms']:.2f}",
            ]
        )
    markdown = "\n".join(
        [
            f"#### Exports: size, parity with Keras and CPU latency per clip at batch 1 ({machine.get('cores')} cores)",
            "",
            table(
                [
                    "model",
                    "export",
                    "size",
                    "of TFLite fp32",
                    "top-1 agreement",
                    "max abs diff",
                    "meets the default",
                    "median (ms)",
                    "p95 (ms)",
                ],
                lines,
            ),
        ]
    )
    return {"suite": "export", "machine": machine, "exports": rows}, markdown
