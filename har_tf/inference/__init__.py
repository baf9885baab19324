"""Inference: HARPredictor (one API over .keras, SavedModel and .tflite), the TF Serving client, pose
estimators (``pose/``: MoveNet, BlazePose, OpenPose JSON), the streaming recogniser (``streaming``,
``window_model``), annotated video (``rendering``) and datasets from videos (``extraction``).
"""

from har_tf.inference.predictor import HARPredictor, resolve_device
from har_tf.inference.results import ClassScores, above_threshold, top_k
from har_tf.inference.serving_client import ServingClient, ServingError

__all__ = ["ClassScores", "HARPredictor", "ServingClient", "ServingError", "above_threshold", "resolve_device", "top_k"]
