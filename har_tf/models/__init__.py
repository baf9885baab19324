"""Models: PoseFormerFactorized (backbone), the classifier head (task), baselines.

Image encoder, fusion and the object stream arrive with issues #4 and #9.
"""

from har_tf.models.baselines import FullAttentionTransformer, LSTMLite
from har_tf.models.classifier import PoseClassifier
from har_tf.models.cost import attention_flops, count_params, measure_latency, model_flops
from har_tf.models.pose_former import PRESETS, PoseFormerFactorized

__all__ = [
    "PRESETS", "FullAttentionTransformer", "LSTMLite", "PoseClassifier", "PoseFormerFactorized",
    "attention_flops", "count_params", "measure_latency", "model_flops",
]  # fmt: skip
