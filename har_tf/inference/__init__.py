"""Inference: HARPredictor (one API over .keras, SavedModel and .tflite) and the TF Serving client.

Pose estimators, streaming recognition and rendering arrive with issue #6.
"""

from har_tf.inference.predictor import HARPredictor, resolve_device
from har_tf.inference.results import ClassScores, above_threshold, top_k
from har_tf.inference.serving_client import ServingClient, ServingError

__all__ = ["ClassScores", "HARPredictor", "ServingClient", "ServingError", "above_threshold", "resolve_device", "top_k"]
