"""Does a left/right flip keep an action's label? Decided from the training clips' motion.

A class is *lateralised* when most of its clips move one side of the body more than the other
(right-handed gestures, a violin's bow arm): mirrored, such a clip shows a motion the class never
has, or another class (a swipe to the left becomes one to the right). ``flip_prob: auto`` turns
flips off when at least ``LATERAL_CLASSES`` of the classes are lateralised, else uses 0.5.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from har_tf.data.augmentation import AugmentConfig
from har_tf.data.preprocessing import joint_validity
from har_tf.skeleton.channels import resolve_channels, spatial_dims
from har_tf.skeleton.layouts import JointLayout

LATERAL_SHARE = 0.8  # a class is lateralised when this share of its clips favours the same side ...
LATERAL_RATIO = 1.25  # ... by a median motion ratio of at least this much
LATERAL_CLASSES = 0.2  # flips are off when this share of the classes is lateralised
AUTO_FLIP_PROB = 0.5  # flip probability when the data is not lateralised
MIN_CLIPS = 4  # classes with fewer training clips are not judged


def side_motion_ratio(x: np.ndarray, layout: JointLayout, channels: str | None = None) -> np.ndarray:
    """``log(left-side motion / right-side motion)`` per clip of ``x`` (N, T, J, C), over the layout's
    flip pairs; motion is the summed frame-to-frame displacement of joints present in both frames."""
    channels = resolve_channels(channels, x.shape[-1])
    coords = x[..., : spatial_dims(channels)].astype(np.float64)
    valid = np.asarray(joint_validity(x, channels))
    step = np.linalg.norm(np.nan_to_num(np.diff(coords, axis=1)), axis=-1) * (valid[:, 1:] & valid[:, :-1])
    motion = step.sum(axis=1)  # (N, J)
    left = [a for a, _ in layout.flip_pairs]
    right = [b for _, b in layout.flip_pairs]
    return np.log((motion[:, left].sum(1) + 1e-6) / (motion[:, right].sum(1) + 1e-6))


def lateralised_classes(x: np.ndarray, y: np.ndarray, layout: JointLayout, channels: str | None = None) -> list[int]:
    """The classes whose clips mostly move one side more (see the module docstring)."""
    ratio = side_motion_ratio(x, layout, channels)
    found = []
    for label in np.unique(y):
        r = ratio[y == label]
        if len(r) < MIN_CLIPS:
            continue
        one_side = max(np.mean(r > 0), np.mean(r < 0)) >= LATERAL_SHARE
        if one_side and abs(np.median(r)) >= np.log(LATERAL_RATIO):
            found.append(int(label))
    return found


def resolve_flip(
    config: AugmentConfig,
    x: np.ndarray,
    y: np.ndarray,
    layout: JointLayout,
    channels: str | None = None,
    class_names=None,
) -> tuple[AugmentConfig, str | None]:
    """``config`` with ``flip_prob: auto`` decided from the training clips, and a note saying why
    (``None`` when flip_prob was a number)."""
    if config.flip_prob != "auto":
        return config, None
    if not layout.flip_pairs:
        return dataclasses.replace(
            config, flip_prob=0.0
        ), f"flip_prob auto: 0 (layout {layout.name} has no left/right pairs)"
    lateral = lateralised_classes(x, y, layout, channels)
    judged = sum(np.sum(y == label) >= MIN_CLIPS for label in np.unique(y))
    names = [str(class_names[i]) if class_names is not None else str(i) for i in lateral]
    if judged and len(lateral) >= LATERAL_CLASSES * judged:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        return (
            dataclasses.replace(config, flip_prob=0.0),
            f"flip_prob auto: 0 ({len(lateral)} of {judged} classes move one side of the body more, e.g. "
            f"{shown}: a mirrored clip would show another action)",
        )
    return (
        dataclasses.replace(config, flip_prob=AUTO_FLIP_PROB),
        f"flip_prob auto: {AUTO_FLIP_PROB} ({len(lateral)} of {judged} classes move one side more)",
    )
