"""Ranked class scores: what :class:`HARPredictor` and the serving client return."""

from __future__ import annotations

import dataclasses

import numpy as np

from har_tf.data.checks import positive_int, probability


@dataclasses.dataclass(frozen=True)
class ClassScores:
    """The classes kept for one clip, best first: ids, names and probabilities."""

    class_ids: tuple[int, ...]
    class_names: tuple[str, ...]
    scores: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"class_ids": list(self.class_ids), "class_names": list(self.class_names), "scores": list(self.scores)}

    def __len__(self) -> int:
        return len(self.class_ids)


def _ranked(p: np.ndarray, keep: np.ndarray, class_names) -> ClassScores:
    order = [int(i) for i in np.argsort(-p, kind="stable") if keep[i]]
    return ClassScores(tuple(order), tuple(str(class_names[i]) for i in order), tuple(float(p[i]) for i in order))


def top_k(probabilities: np.ndarray, class_names, k: int = 5) -> list[ClassScores]:
    """The ``k`` most probable classes of each row of ``(N, K)`` probabilities."""
    probabilities = np.asarray(probabilities)
    k = min(positive_int(k, "k", "a positive integer"), probabilities.shape[-1])
    out = []
    for p in probabilities:
        keep = np.zeros(len(p), bool)
        keep[np.argsort(-p, kind="stable")[:k]] = True
        out.append(_ranked(p, keep, class_names))
    return out


def above_threshold(probabilities: np.ndarray, class_names, threshold: float = 0.1) -> list[ClassScores]:
    """Every class with probability at least ``threshold``, per row, best first (possibly none)."""
    threshold = probability(threshold, "the threshold")
    return [_ranked(p, p >= threshold, class_names) for p in np.asarray(probabilities)]
