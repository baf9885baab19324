"""Parity of an export against the Keras model: max absolute difference and top-1 agreement."""

from __future__ import annotations

import keras
import numpy as np

from har_tf.errors import ExportError, InvalidInputError

MIN_AGREEMENT = {"savedmodel": 0.99, "fp32": 0.99, "fp16": 0.99, "int8": 0.97, "int8_full": 0.97}


def parity_report(reference: np.ndarray, candidate: np.ndarray, min_agreement: float) -> dict:
    """Compare two ``(N, K)`` probability arrays: the Keras model's and the export's."""
    reference, candidate = np.asarray(reference, np.float64), np.asarray(candidate, np.float64)
    if reference.shape != candidate.shape:
        raise ExportError(f"the export returns {candidate.shape} where the Keras model returns {reference.shape}")
    diff = np.abs(reference - candidate)
    agreement = float(np.mean(reference.argmax(-1) == candidate.argmax(-1)))
    return {
        "num_samples": int(len(reference)),
        "max_abs_diff": float(diff.max(initial=0.0)),
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "top1_agreement": agreement,
        "min_agreement": float(min_agreement),
        "passed": bool(agreement >= min_agreement),
    }


def check_min_agreement(min_agreement) -> float:
    """``min_agreement`` as a float in [0, 1]; one :class:`InvalidInputError` line otherwise."""
    try:
        value = float(min_agreement)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(min_agreement, bool) or not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"min_agreement (--min-agreement) must be a share in [0, 1], got {min_agreement!r}")
    return value


def check_top_k(top_k) -> int:
    """``top_k`` as a positive int; one :class:`InvalidInputError` line otherwise."""
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 1:
        raise InvalidInputError(f"top_k (--top-k) must be a positive integer, got {top_k!r}")
    return int(top_k)


def check_parity(report: dict, what: str) -> None:
    """Raise :class:`ExportError` when the report's top-1 agreement is under its threshold."""
    if not report["passed"]:
        raise ExportError(
            f"{what}: top-1 agreement with the Keras model is {report['top1_agreement']:.1%} on "
            f"{report['num_samples']} held-out clips, under the required {report['min_agreement']:.0%} "
            f"(max abs difference {report['max_abs_diff']:.3g}); nothing was written"
        )


def keras_probabilities(model: keras.Model, samples: dict[str, np.ndarray], batch_size: int = 32) -> np.ndarray:
    """The Keras model's probabilities for raw samples (``pose`` [+ ``frames``] [+ ``objects``] [+ ``imu``]: the ones
    the model takes are fed, others ignored), batch by batch in a traced graph (``predict``: an eager call
    keeps every intermediate tensor of the batch, 10 GB for 32 clips of 16 crops through a backbone)."""
    names = list(model.input) if isinstance(model.input, dict) else None
    missing = [name for name in names or () if name not in samples]
    if missing:
        raise InvalidInputError(f"the model takes {names}; the samples have {sorted(samples)} (missing {missing})")
    inputs = {name: samples[name] for name in names} if names else samples["pose"]
    return np.asarray(model.predict(inputs, batch_size=batch_size, verbose=0))


def signature_parity(servable, run, names, samples: dict[str, np.ndarray], min_agreement: float) -> dict:
    """One :func:`parity_report` per exported signature: ``run(feed, name)`` gives the export's
    probabilities; ``serving_default`` is compared with ``servable.full`` on all inputs, ``pose_only``
    with ``servable.pose_only`` on the poses alone."""
    report = {}
    for name in names:
        fused = name == "serving_default"
        feed = samples if fused else {"pose": samples["pose"]}
        reference = keras_probabilities(servable.full if fused else servable.pose_only, feed)
        report[name] = parity_report(reference, run(feed, name), min_agreement)
    return report
