"""HAR-TF: real-time multimodal human action recognition with Keras 3 / TensorFlow."""

from har_tf.data.pose_npz import PoseDataset, load_pose_npz
from har_tf.errors import DataFormatError, HARError, InvalidInputError, MissingFileError
from har_tf.skeleton import BUILTIN_LAYOUTS, JointLayout, convert_pose, custom_layout, get_layout

__version__ = "0.1.0"

__all__ = [
    "BUILTIN_LAYOUTS", "DataFormatError", "HARError", "InvalidInputError", "JointLayout",
    "MissingFileError", "PoseDataset", "convert_pose", "custom_layout", "get_layout", "load_pose_npz",
]  # fmt: skip
