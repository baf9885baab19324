"""Data: readers of real formats, the synthetic generator, preprocessing, augmentation, tf.data."""

from har_tf.data.pose_npz import PoseDataset, load_pose_npz

__all__ = ["PoseDataset", "load_pose_npz"]
