"""Parity of an export against the Keras model: max absolute difference and top-1 agreement."""

from __future__ import annotations

import numpy as np

from har_tf.errors import ExportError

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


def check_parity(report: dict, what: str) -> None:
    """Raise :class:`ExportError` when the report's top-1 agreement is under its threshold."""
    if not report["passed"]:
        raise ExportError(f"{what}: top-1 agreement with the Keras model is {report['top1_agreement']:.1%} on "
                          f"{report['num_samples']} held-out clips, under the required {report['min_agreement']:.0%} "
                          f"(max abs difference {report['max_abs_diff']:.3g}); nothing was written")  # fmt: skip
