"""Checks that the synthetic data keeps its promise: pose separates the groups, not their members.

:func:`pose_only_ambiguity_check` trains a pose-only classifier (extremely randomised trees on
normalised keypoints and their frame-to-frame motion) and reports its accuracy across classes, across
groups (each motion-ambiguous group counted as one class), and inside each group, where it should
stay near chance: the classes of a group move alike and differ only by the held object.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import ExtraTreesClassifier

from har_tf.data.pose_npz import PoseDataset
from har_tf.data.preprocessing import normalize_pose


def pose_features(x: np.ndarray, layout) -> np.ndarray:
    """Flattened normalised poses and their frame-to-frame differences, (N, features)."""
    norm = np.asarray(normalize_pose(x.astype(np.float32), layout))
    motion = np.diff(norm[..., :2], axis=1)
    return np.concatenate([norm.reshape(len(x), -1), motion.reshape(len(x), -1)], axis=1)


def pose_only_ambiguity_check(
    dataset: PoseDataset, eval_split: str = "test", seed: int = 0, n_estimators: int = 300
) -> dict:
    """Accuracy of a pose-only classifier overall, by group, and inside each ambiguous group."""
    class_group = np.asarray(dataset.extras["class_group"])
    group_names = [str(g) for g in dataset.extras["group_names"]]
    x_train, y_train = dataset.split("train")
    x_eval, y_eval = dataset.split(eval_split)
    clf = ExtraTreesClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=-1)
    clf.fit(pose_features(x_train, dataset.layout), y_train)
    pred = clf.predict(pose_features(x_eval, dataset.layout))
    # Each class is its own group unless it belongs to an ambiguous one.
    group_of = np.where(class_group >= 0, class_group, len(group_names) + np.arange(len(class_group)))
    report = {
        "classifier": f"ExtraTrees({n_estimators}) on normalised poses + motion",
        "num_train": int(len(y_train)),
        "num_eval": int(len(y_eval)),
        "accuracy": float(np.mean(pred == y_eval)),
        "group_accuracy": float(np.mean(group_of[pred] == group_of[y_eval])),
        "groups": {},
    }
    for g, name in enumerate(group_names):
        members = np.flatnonzero(class_group == g)
        in_group = np.isin(y_eval, members) & np.isin(pred, members)
        report["groups"][name] = {
            "classes": [dataset.class_names[c] for c in members],
            "num_eval": int(np.isin(y_eval, members).sum()),
            "within_group_accuracy": float(np.mean(pred[in_group] == y_eval[in_group])) if in_group.any() else None,
            "chance": 1.0 / len(members),
        }
    return report
