"""The embedded default dataset: synthetic multimodal action clips (poses, frames, objects)."""

from har_tf.data.synthetic.actions import ACTIONS, CLASS_NAMES, ambiguous_groups
from har_tf.data.synthetic.generator import (
    GENERATOR_VERSION,
    SyntheticConfig,
    default_cache_dir,
    generate_clip,
    generate_dataset,
    load_or_generate,
)

__all__ = [
    "ACTIONS", "CLASS_NAMES", "GENERATOR_VERSION", "SyntheticConfig", "ambiguous_groups",
    "default_cache_dir", "generate_clip", "generate_dataset", "load_or_generate",
]  # fmt: skip
