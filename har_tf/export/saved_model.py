"""SavedModel export in the TF Serving layout: ``BASE/<version>/``, written atomically.

Signatures (inputs and outputs by name, dynamic batch):

- ``serving_default``: ``pose`` float32 (B, T, J, C) raw pixels [+ ``frames`` uint8 (B, F, H, W, 3)
  for a model with an image branch] [+ ``objects`` float32 (B, T, K, 6) raw detections for a model
  with an object branch] [+ ``imu`` float32 (B, S, D) raw sensor samples for a model with an inertial
  branch] -> ``probabilities`` float32 (B, K);
- ``pose_only``: ``pose`` -> ``probabilities`` (a fusion model's pose branch, for clips without frames);
- ``topk``: the ``serving_default`` inputs -> ``class_ids`` int32 (B, k), ``class_names`` string
  (B, k), ``scores`` float32 (B, k), best first.

Class names travel in the graph (the ``topk`` signature) and in ``assets.extra/export_info.json``,
with the input shapes and the parity report. A version is built in a hidden temporary folder
beside the others and renamed into place only when complete and checked, so a server polling
``BASE`` never sees half of one; an existing version is replaced only with ``force=True``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from har_tf.errors import ExportError, InvalidInputError
from har_tf.export.parity import MIN_AGREEMENT, check_min_agreement, check_parity, check_top_k, signature_parity
from har_tf.export.servable import Servable, ServingSpec, in_batches
from har_tf.io import is_write_failure, write_failure, write_text_atomic, writing

SIGNATURES = ("serving_default", "pose_only", "topk")
INFO_FILE = Path("assets.extra") / "export_info.json"


def input_specs(spec: ServingSpec, batch_size: int | None = None, with_frames: bool = True) -> list[tf.TensorSpec]:
    """The named input specs: ``pose`` and, for a fusion model's fused signatures (``with_frames``),
    ``frames``, ``objects`` and/or ``imu`` (whichever the model takes)."""
    specs = [tf.TensorSpec((batch_size, *spec.pose_shape), tf.float32, name="pose")]
    if with_frames and spec.frames_shape is not None:
        specs.append(tf.TensorSpec((batch_size, *spec.frames_shape), tf.uint8, name="frames"))
    if with_frames and spec.objects_shape is not None:
        specs.append(tf.TensorSpec((batch_size, *spec.objects_shape), tf.float32, name="objects"))
    if with_frames and spec.imu_shape is not None:
        specs.append(tf.TensorSpec((batch_size, *spec.imu_shape), tf.float32, name="imu"))
    return specs


def _full_fn(servable: Servable):
    """The full model as a function of its inputs in :attr:`ServingSpec.input_names` order."""
    if servable.spec.kind == "pose":
        return lambda pose: servable.full(pose, training=False)
    names = servable.spec.input_names
    return lambda *inputs: servable.full(dict(zip(names, inputs)), training=False)


def add_endpoints(
    archive: keras.export.ExportArchive,
    servable: Servable,
    names=SIGNATURES,
    top_k: int = 5,
    batch_size: int | None = None,
) -> None:
    """Register the named signatures of ``servable`` on an ``ExportArchive`` that tracks its models."""
    spec, full = servable.spec, _full_fn(servable)
    k = max(1, min(int(top_k), spec.num_classes))
    class_names = tf.constant(list(spec.class_names))

    def serving_default(*inputs):
        return {"probabilities": full(*inputs)}

    def pose_only(pose):
        return {"probabilities": servable.pose_only(pose, training=False)}

    def topk(*inputs):
        scores, ids = tf.math.top_k(full(*inputs), k=k)
        return {"class_ids": ids, "class_names": tf.gather(class_names, ids), "scores": scores}

    functions = {"serving_default": (serving_default, True), "pose_only": (pose_only, False), "topk": (topk, True)}
    for name in names:
        fn, with_frames = functions[name]
        archive.add_endpoint(name, fn, input_signature=input_specs(spec, batch_size, with_frames))


def write_saved_model(
    servable: Servable, path: str | os.PathLike, names=SIGNATURES, top_k: int = 5, batch_size: int | None = None
) -> None:
    """Write a SavedModel with the named signatures to ``path`` (not atomic: see :func:`export_saved_model`)."""
    archive = keras.export.ExportArchive()
    archive.track(servable.full)
    if servable.pose_only is not servable.full:
        archive.track(servable.pose_only)
    add_endpoints(archive, servable, names, top_k, batch_size)
    archive.write_out(str(path), verbose=False)


def run_signature(signature, samples: dict[str, np.ndarray], batch_size: int = 32, output: str = "probabilities"):
    """Call a loaded SavedModel signature on samples, batch by batch, with only the inputs it takes."""
    names = list(signature.structured_input_signature[1])

    def run(chunk: dict[str, np.ndarray]) -> np.ndarray:
        return signature(**{n: tf.constant(v) for n, v in chunk.items()})[output].numpy()

    return in_batches(run, {n: samples[n] for n in names}, batch_size)


def saved_model_parity(
    servable: Servable,
    path: str | os.PathLike,
    samples: dict[str, np.ndarray],
    min_agreement: float = MIN_AGREEMENT["savedmodel"],
) -> dict:
    """Parity of the SavedModel at ``path`` against the Keras model, for ``serving_default`` and
    ``pose_only``."""
    loaded = tf.saved_model.load(str(path))
    return signature_parity(
        servable,
        lambda feed, name: run_signature(loaded.signatures[name], feed),
        ("serving_default", "pose_only"),
        samples,
        min_agreement,
    )


def versions(base: str | os.PathLike) -> list[int]:
    """The integer version folders under ``base``, ascending."""
    base = Path(base)
    if not base.is_dir():
        return []
    return sorted(int(p.name) for p in base.iterdir() if p.is_dir() and p.name.isdigit())


def next_version(base: str | os.PathLike) -> int:
    found = versions(base)
    return found[-1] + 1 if found else 1


def models_config(name: str, base_path: str) -> str:
    """A TF Serving ``--model_config_file`` text for one model (the latest version is served)."""
    return (
        f'model_config_list {{\n  config {{\n    name: "{name}"\n    base_path: "{base_path}"\n'
        f'    model_platform: "tensorflow"\n    model_version_policy {{ latest {{ num_versions: 1 }} }}\n  }}\n}}\n'
    )


def export_saved_model(
    servable: Servable,
    base: str | os.PathLike,
    *,
    samples: dict[str, np.ndarray] | None = None,
    version: int | None = None,
    force: bool = False,
    top_k: int = 5,
    min_agreement: float = MIN_AGREEMENT["savedmodel"],
    extra_info: dict | None = None,
) -> Path:
    """Export ``servable`` as ``base/<version>/`` (default: the next version number) and write
    ``base/models.config``.

    The version is built and checked (parity on ``samples`` when given) in a temporary folder in
    ``base``, then renamed into place: a failure at any point leaves no version folder and the
    existing ones untouched. An existing version is replaced only with ``force=True``.
    Returns the version folder.
    """
    base = Path(base)
    if version is not None and (not isinstance(version, int) or version < 1):
        raise InvalidInputError(f"the version must be a positive integer, got {version!r}")
    min_agreement, top_k = check_min_agreement(min_agreement), check_top_k(top_k)
    if base.exists() and not base.is_dir():
        raise InvalidInputError(f"{base} is an existing file; expected the TF Serving model folder")
    version = version if version is not None else next_version(base)
    final = base / str(version)
    if final.exists() and not force:
        raise ExportError(
            f"{final} already exists: pass force=True (--force) to replace it, or leave the version "
            f"out to write version {next_version(base)}"
        )
    with writing(base, "SavedModel folder"):
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=base))
    try:
        write_saved_model(servable, tmp, SIGNATURES, top_k)
        info = {
            "format": "savedmodel",
            "version": version,
            "signatures": list(SIGNATURES),
            "top_k": max(1, min(int(top_k), servable.spec.num_classes)),
            **servable.spec.to_dict(),
            **(extra_info or {}),
        }
        if samples is not None:
            info["parity"] = saved_model_parity(servable, tmp, samples, min_agreement)
            for name, report in info["parity"].items():
                check_parity(report, f"SavedModel signature {name!r}")
        with writing(final, "SavedModel"):
            (tmp / INFO_FILE).parent.mkdir(parents=True, exist_ok=True)
            (tmp / INFO_FILE).write_text(json.dumps(info, indent=2))
            _move_into_place(tmp, final)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(err, Exception) and is_write_failure(err):  # e.g. a full disk while TensorFlow writes
            raise write_failure(err, final, "SavedModel") from None
        raise
    write_text_atomic(base / "models.config", models_config(base.name, f"/models/{base.name}"))
    return final


def _move_into_place(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``; an existing ``final`` is swapped out first and removed after."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        os.replace(final, old)
    try:
        os.replace(tmp, final)
    except BaseException:
        if old is not None:
            os.replace(old, final)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_export_info(version_dir: str | os.PathLike) -> dict | None:
    """``assets.extra/export_info.json`` of an exported version, or None."""
    path = Path(version_dir) / INFO_FILE
    return json.loads(path.read_text()) if path.is_file() else None
