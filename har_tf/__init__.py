"""HAR-TF: real-time multimodal human action recognition with Keras 3 / TensorFlow.

``import har_tf`` registers the package's Keras classes, so saved models load with
``keras.saving.load_model(path, safe_mode=True)``.
"""

from har_tf.data import (
    AugmentConfig,
    PoseDataset,
    load_pose_npz,
    make_pose_dataset,
    make_pose_dataset_from,
    normalize_pose,
    read_openpose_dir,
)
from har_tf.data.synthetic import SyntheticConfig, load_or_generate
from har_tf.errors import DataFormatError, HARError, InvalidInputError, MissingFileError
from har_tf.models import MultiModalFusionModel, PoseClassifier, PoseFormerFactorized
from har_tf.skeleton import BUILTIN_LAYOUTS, JointLayout, convert_pose, custom_layout, get_layout

__version__ = "0.1.0"

__all__ = [
    "AugmentConfig",
    "BUILTIN_LAYOUTS",
    "DataFormatError",
    "HARError",
    "InvalidInputError",
    "JointLayout",
    "MissingFileError",
    "MultiModalFusionModel",
    "PoseClassifier",
    "PoseDataset",
    "PoseFormerFactorized",
    "SyntheticConfig",
    "convert_pose",
    "custom_layout",
    "get_layout",
    "load_or_generate",
    "load_pose_npz",
    "make_pose_dataset",
    "make_pose_dataset_from",
    "normalize_pose",
    "read_openpose_dir",
]
