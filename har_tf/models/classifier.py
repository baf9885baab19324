"""PoseClassifier: the task model, a softmax head on any pose backbone.

The output is named ``probabilities``; the backbone (and so the pose embedding) stays reachable as
``classifier.backbone``. Class names travel with the model config.
"""

from __future__ import annotations

import keras
from keras import layers

from har_tf.models.base import Task
from har_tf.models.layers import PACKAGE


@keras.saving.register_keras_serializable(package=PACKAGE)
class PoseClassifier(Task):
    """``pose`` (B, T, J, C) -> ``probabilities`` (B, num_classes) through ``backbone``."""

    _config_keys = ("backbone", "num_classes", "class_names", "dropout")
    _nested_keys = ("backbone",)

    def __init__(self, backbone: keras.Model, num_classes: int, class_names=None, dropout: float = 0.1, **kwargs):
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f"{len(class_names)} class names for {num_classes} classes")
        # === Layers ===
        head_dropout = layers.Dropout(dropout, name="head_dropout")
        head = layers.Dense(num_classes, activation="softmax", name="probabilities")

        # === Functional Model ===
        pose = keras.Input(backbone.input_shape[1:], name="pose")
        probabilities = head(head_dropout(backbone(pose)))
        super().__init__(inputs=pose, outputs=probabilities, **kwargs)

        # === Config ===
        self.backbone = backbone
        self.num_classes = num_classes
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.dropout = dropout
