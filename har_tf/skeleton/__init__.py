"""Skeletons: joint layouts and conversions between them."""

from har_tf.skeleton.conversion import convert_pose
from har_tf.skeleton.drawing import draw_skeleton
from har_tf.skeleton.layouts import (
    BLAZEPOSE33,
    BODY25,
    BODY25B,
    BUILTIN_LAYOUTS,
    COCO17,
    JointLayout,
    custom_layout,
    get_layout,
)

__all__ = [
    "BLAZEPOSE33", "BODY25", "BODY25B", "BUILTIN_LAYOUTS", "COCO17",
    "JointLayout", "convert_pose", "custom_layout", "draw_skeleton", "get_layout",
]  # fmt: skip
