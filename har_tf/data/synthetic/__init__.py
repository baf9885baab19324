"""The embedded default dataset: synthetic multimodal action clips (poses, frames, objects, wrist IMU)."""

from har_tf.data.synthetic.actions import ACTIONS, CLASS_NAMES, ambiguous_groups
from har_tf.data.synthetic.generator import (
    GENERATOR_VERSION,
    SyntheticConfig,
    default_cache_dir,
    generate_clip,
    generate_dataset,
    load_or_generate,
)
from har_tf.data.synthetic.imu import IMU_CHANNELS, simulate_wrist_imu

__all__ = [
    "ACTIONS",
    "CLASS_NAMES",
    "GENERATOR_VERSION",
    "IMU_CHANNELS",
    "SyntheticConfig",
    "ambiguous_groups",
    "default_cache_dir",
    "generate_clip",
    "generate_dataset",
    "load_or_generate",
    "simulate_wrist_imu",
]
