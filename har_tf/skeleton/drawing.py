"""Drawing skeletons on images (previews now, annotated videos later)."""

from __future__ import annotations

import cv2
import numpy as np

from har_tf.skeleton.layouts import JointLayout, get_layout

LEFT_COLOUR, RIGHT_COLOUR, CENTRE_COLOUR = (255, 140, 0), (0, 160, 255), (0, 230, 0)  # RGB


def draw_skeleton(
    image: np.ndarray,
    keypoints: np.ndarray,
    layout: str | JointLayout,
    min_confidence: float = 0.05,
    thickness: int = 1,
) -> np.ndarray:
    """Draw ``keypoints`` (J, 2 or 3) in pixels on a copy of the RGB ``image``.

    Bones of the person's left side are orange, right side blue, centre green; joints below
    ``min_confidence`` (or all zeros) are not drawn.
    """
    layout = get_layout(layout)
    out = np.ascontiguousarray(image).copy()
    kp = np.asarray(keypoints, dtype=np.float64)
    conf = kp[:, 2] if kp.shape[1] > 2 else np.any(kp[:, :2] != 0, axis=1).astype(float)
    visible = np.isfinite(kp[:, :2]).all(axis=1) & (conf >= min_confidence) & np.any(kp[:, :2] != 0, axis=1)
    names = layout.joint_names
    for a, b in layout.edges:
        if not (visible[a] and visible[b]):
            continue
        side = {names[a].split("_")[0], names[b].split("_")[0]}
        colour = LEFT_COLOUR if side == {"left"} else RIGHT_COLOUR if side == {"right"} else CENTRE_COLOUR
        pa, pb = tuple(int(round(v)) for v in kp[a, :2]), tuple(int(round(v)) for v in kp[b, :2])
        cv2.line(out, pa, pb, colour, thickness, cv2.LINE_AA)
    for j in np.flatnonzero(visible):
        cv2.circle(out, (int(round(kp[j, 0])), int(round(kp[j, 1]))), thickness + 1, (255, 255, 255), -1, cv2.LINE_AA)
    return out
