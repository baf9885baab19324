"""Data: readers of real formats, the synthetic generator, preprocessing, augmentation, tf.data."""

from har_tf.data.augmentation import AugmentConfig, augment_example, flip_horizontal
from har_tf.data.depth import render_depth
from har_tf.data.frames import decode_clips, decode_jpeg, encode_jpeg, frame_indices
from har_tf.data.motions import convert_motions
from har_tf.data.mpose import load_mpose, pose_dataset_from_mpose
from har_tf.data.openpose import OpenPoseSequence, detect_layout, openpose_to_pose_array, read_openpose_dir
from har_tf.data.pipeline import make_pose_dataset, make_pose_dataset_from
from har_tf.data.pose_npz import PoseDataset, load_pose_npz
from har_tf.data.preprocessing import (
    center_window,
    joint_validity,
    normalize_pose,
    preprocess_sequence,
    resample_sequence,
    sanitize,
    sequence_lengths,
    sliding_windows,
)
from har_tf.data.utd_mhad import convert_utd_mhad

__all__ = [
    "AugmentConfig",
    "OpenPoseSequence",
    "PoseDataset",
    "augment_example",
    "center_window",
    "convert_motions",
    "convert_utd_mhad",
    "decode_clips",
    "decode_jpeg",
    "detect_layout",
    "encode_jpeg",
    "flip_horizontal",
    "frame_indices",
    "joint_validity",
    "load_mpose",
    "load_pose_npz",
    "make_pose_dataset",
    "make_pose_dataset_from",
    "normalize_pose",
    "openpose_to_pose_array",
    "pose_dataset_from_mpose",
    "preprocess_sequence",
    "read_openpose_dir",
    "render_depth",
    "resample_sequence",
    "sanitize",
    "sequence_lengths",
    "sliding_windows",
]
