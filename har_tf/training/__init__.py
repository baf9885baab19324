"""Training: stage 1 (the pose model) and stage 2 (late fusion) through ``model.fit``, evaluation protocols,
metrics and reports."""

from har_tf.training.config import TrainConfig, load_train_config
from har_tf.training.evaluation import evaluate_classifier
from har_tf.training.metrics import classification_metrics, group_accuracy, write_metrics_json
from har_tf.training.stage1 import train_stage1

__all__ = [
    "TrainConfig",
    "classification_metrics",
    "evaluate_classifier",
    "group_accuracy",
    "load_train_config",
    "train_stage1",
    "write_metrics_json",
]
