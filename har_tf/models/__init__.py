"""Models: PoseFormerFactorized (pose backbone), the classifier head (task), baselines, the image
encoder (frozen ImageNet CNN per frame), the object and inertial (wearable sensor) encoders and the
late-fusion model.
"""

from har_tf.models.baselines import DDNet, FullAttentionTransformer, LSTMLite
from har_tf.models.classifier import PoseClassifier
from har_tf.models.cost import attention_flops, count_params, measure_latency, model_flops
from har_tf.models.efficientnet_lite import efficientnet_lite0
from har_tf.models.fusion import MultiModalFusionModel, image_only_classifier
from har_tf.models.image_encoder import BACKBONES, FrameEncoder, TemporalPooling, build_frame_backbone
from har_tf.models.inertial_encoder import InertialEncoder
from har_tf.models.object_encoder import ObjectEncoder
from har_tf.models.pose_former import PRESETS, PoseFormerFactorized

__all__ = [
    "BACKBONES",
    "DDNet",
    "PRESETS",
    "FrameEncoder",
    "FullAttentionTransformer",
    "InertialEncoder",
    "LSTMLite",
    "MultiModalFusionModel",
    "ObjectEncoder",
    "PoseClassifier",
    "PoseFormerFactorized",
    "TemporalPooling",
    "attention_flops",
    "build_frame_backbone",
    "count_params",
    "efficientnet_lite0",
    "image_only_classifier",
    "measure_latency",
    "model_flops",
]
