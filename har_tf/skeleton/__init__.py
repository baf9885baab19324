"""Skeletons: joint layouts and conversions between them."""

from har_tf.skeleton.channels import (
    CHANNELS,
    channel_count,
    default_channels,
    describe_channels,
    has_confidence,
    resolve_channels,
    spatial_dims,
)
from har_tf.skeleton.conversion import convert_pose
from har_tf.skeleton.drawing import draw_skeleton
from har_tf.skeleton.layouts import (
    BLAZEPOSE33,
    BODY25,
    BODY25B,
    BUILTIN_LAYOUTS,
    COCO17,
    KINECT_V1,
    JointLayout,
    custom_layout,
    get_layout,
)

__all__ = [
    "CHANNELS",
    "channel_count",
    "default_channels",
    "describe_channels",
    "has_confidence",
    "resolve_channels",
    "spatial_dims",
    "BLAZEPOSE33",
    "BODY25",
    "BODY25B",
    "BUILTIN_LAYOUTS",
    "COCO17",
    "KINECT_V1",
    "JointLayout",
    "convert_pose",
    "custom_layout",
    "draw_skeleton",
    "get_layout",
]
