"""Object detections per clip: the raw format, its checks, and the person-relative features.

Raw format (what a detector or an annotation file gives, and what models take as ``objects``):
float32 ``(T, K, 6)`` per clip, one row per detection slot ``[class_id, x1, y1, x2, y2, score]``,
the box in the pixels of the frame the pose is in (the same coordinates as the pose), ``class_id``
an integer >= 1 into the dataset's ``object_classes`` (index 0 is ``"none"``). An empty slot is all
zeros. A slot is valid when ``class_id >= 1`` and ``score > 0`` and every value is finite: like the
joint mask, the validity mask is derived from the tensor, never passed separately.

Features (:func:`object_features`): each valid detection relative to the main person of its frame:
box centre and size divided by the person's size (the larger side of the box around the person's
valid joints), its score, and its offset from each wrist (with a flag for a missing wrist). The
class id stays in channel 0 for the encoder's class embedding. The same function runs in the
``tf.data`` pipeline and inside the models (:class:`~har_tf.models.object_encoder.ObjectFeatures`),
so exports take raw detections.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from har_tf.data.checks import numeric_array
from har_tf.errors import InvalidInputError
from har_tf.skeleton.layouts import JointLayout, get_layout
from har_tf.skeleton.validity import valid_joints

OBJECT_FIELDS = ("class_id", "x1", "y1", "x2", "y2", "score")
FEATURE_FIELDS = (
    "class_id",
    "centre_x",
    "centre_y",
    "width",
    "height",
    "score",
    "left_wrist_dx",
    "left_wrist_dy",
    "left_wrist_seen",
    "right_wrist_dx",
    "right_wrist_dy",
    "right_wrist_seen",
)
NUM_FEATURES = len(FEATURE_FIELDS)


def check_objects_batch(
    objects,
    num_frames: int | None,
    num_classes: int | None = None,
    max_objects: int | None = None,
    batch: int | None = None,
    name: str = "objects",
) -> np.ndarray:
    """Raw detections as float32 ``(N, T, K, 6)``; one clip ``(T, K, 6)`` becomes a batch of one.

    Refused with a message: non-numbers, another rank, a last axis other than 6, T other than
    ``num_frames``, K other than ``max_objects`` (when given), N other than ``batch`` (when given),
    infinite values (``num_frames=None`` takes any T), class ids that are not whole numbers in
    ``[0, num_classes)``, scores outside [0, 1], and boxes with ``x2 < x1`` or ``y2 < y1`` in a valid slot.
    """
    array = numeric_array(objects, name, "(N, T, K, 6)", "fiu")
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != len(OBJECT_FIELDS):
        raise InvalidInputError(
            f"{name} must be (N, T, K, 6) with rows [class_id, x1, y1, x2, y2, score], got shape {np.shape(objects)}"
        )
    n, t, k, _ = array.shape
    if num_frames is not None and t != num_frames:
        raise InvalidInputError(
            f"{name} has T = {t} frames but the poses have T = {num_frames}: give one row of detections per pose frame"
        )
    if max_objects is not None and k != max_objects:
        raise InvalidInputError(
            f"{name} has K = {k} detection slots per frame but the model takes K = {max_objects}: "
            "keep the best K (har_tf.inference.detection.detections_to_objects) or pad with zero rows"
        )
    if batch is not None and n != batch:
        raise InvalidInputError(f"{name} has {n} clips but the poses have {batch}")
    array = array.astype(np.float32)
    if not np.isfinite(array).all():
        raise InvalidInputError(f"{name} holds NaN or infinite values: an empty slot is a row of zeros")
    cls, score = array[..., 0], array[..., 5]
    if (cls != np.round(cls)).any() or (cls < 0).any() or (num_classes is not None and (cls >= num_classes).any()):
        bad = cls[(cls != np.round(cls)) | (cls < 0) | (cls >= (num_classes or np.inf))][0]
        limit = f" in [0, {num_classes})" if num_classes is not None else " >= 0"
        raise InvalidInputError(f"{name} class ids must be whole numbers{limit} (0 = empty slot), got {bad:g}")
    if ((score < 0) | (score > 1)).any():
        raise InvalidInputError(f"{name} scores must lie in [0, 1], got {score[(score < 0) | (score > 1)][0]:g}")
    valid = (cls >= 1) & (score > 0)
    flipped = valid & ((array[..., 3] < array[..., 1]) | (array[..., 4] < array[..., 2]))
    if flipped.any():
        i = np.argwhere(flipped)[0]
        raise InvalidInputError(
            f"{name}: the box at clip {i[0]}, frame {i[1]}, slot {i[2]} has x2 < x1 or y2 < y1 "
            f"({array[tuple(i)][1:5].tolist()}); boxes are [x1, y1, x2, y2] in pixels"
        )
    return array


def valid_objects(objects):
    """Bool ``(..., K)`` of raw detections ``(..., K, 6)``: finite, ``class_id >= 1`` and ``score > 0``."""
    from keras import ops

    finite = ops.all(ops.isfinite(objects), axis=-1)
    return ops.logical_and(finite, ops.logical_and(objects[..., 0] >= 1, objects[..., 5] > 0))


def _wrist_indices(layout: JointLayout) -> list[int | None]:
    return [layout.index(name) if name in layout.joint_names else None for name in ("left_wrist", "right_wrist")]


def object_features(objects, pose, layout: str | JointLayout):
    """Person-relative features ``(..., T, K, 12)`` (see :data:`FEATURE_FIELDS`) of raw detections
    ``(..., T, K, 6)`` and raw poses ``(..., T, J, C)`` in the same pixels; invalid slots are all zeros.

    The person box is taken over the valid joints of each frame; a frame where the person is not
    seen uses the mean box of the frames where it is. A clip with no valid joint at all keeps only
    the class ids and scores (its geometry features are zero).
    """
    layout = get_layout(layout)
    objects = ops.convert_to_tensor(objects, "float32")
    pose = ops.convert_to_tensor(pose, "float32")
    objects = ops.where(ops.isfinite(objects), objects, ops.zeros_like(objects))
    joints_ok = valid_joints(pose)  # (..., T, J)
    okf = ops.cast(joints_ok, "float32")
    xy = ops.where(ops.expand_dims(joints_ok, -1), pose[..., :2], ops.zeros_like(pose[..., :2]))
    big = 1e9
    x, y = xy[..., 0], xy[..., 1]
    low_x = ops.min(ops.where(joints_ok, x, big), axis=-1)
    high_x = ops.max(ops.where(joints_ok, x, -big), axis=-1)
    low_y = ops.min(ops.where(joints_ok, y, big), axis=-1)
    high_y = ops.max(ops.where(joints_ok, y, -big), axis=-1)
    frame_seen = ops.any(joints_ok, axis=-1)  # (..., T)
    seenf = ops.cast(frame_seen, "float32")
    centre_x = ops.where(frame_seen, (low_x + high_x) / 2, 0.0)
    centre_y = ops.where(frame_seen, (low_y + high_y) / 2, 0.0)
    size = ops.where(frame_seen, ops.maximum(high_x - low_x, high_y - low_y), 0.0)
    frames_seen = ops.sum(seenf, axis=-1, keepdims=True)
    clip_seen = frames_seen > 0  # (..., 1)

    def fill(value):  # frames without the person take the clip's mean over the frames with it
        mean = ops.sum(value * seenf, axis=-1, keepdims=True) / ops.maximum(frames_seen, 1.0)
        return ops.where(frame_seen, value, mean)

    centre_x, centre_y = fill(centre_x), fill(centre_y)
    size = ops.where(clip_seen, ops.maximum(fill(size), 1.0), 1.0)
    geometry = ops.cast(clip_seen, "float32")[..., None]  # (..., 1, 1): 0 when nobody is seen at all

    valid = valid_objects(objects)  # (..., T, K)
    box_cx = (objects[..., 1] + objects[..., 3]) / 2
    box_cy = (objects[..., 2] + objects[..., 4]) / 2
    scale = ops.expand_dims(size, -1)
    columns = [
        objects[..., 0],
        (box_cx - ops.expand_dims(centre_x, -1)) / scale * geometry,
        (box_cy - ops.expand_dims(centre_y, -1)) / scale * geometry,
        (objects[..., 3] - objects[..., 1]) / scale * geometry,
        (objects[..., 4] - objects[..., 2]) / scale * geometry,
        objects[..., 5],
    ]
    for index in _wrist_indices(layout):
        if index is None:
            zero = ops.zeros_like(box_cx)
            columns += [zero, zero, zero]
            continue
        seen = ops.expand_dims(okf[..., index], -1)  # (..., T, 1)
        wrist_x = ops.expand_dims(xy[..., index, 0], -1)
        wrist_y = ops.expand_dims(xy[..., index, 1], -1)
        columns += [(box_cx - wrist_x) / scale * seen, (box_cy - wrist_y) / scale * seen, seen * ops.ones_like(box_cx)]
    features = ops.stack(columns, axis=-1)
    return ops.where(ops.expand_dims(valid, -1), features, ops.zeros_like(features))
