"""Export: SavedModel in the TF Serving layout, TFLite with one quantisation switch, parity checks.

Export code is separate from model code: :func:`make_servable` turns a trained model into functions
of raw inputs, :func:`export_saved_model` and :func:`export_tflite` write them, each checked against
the Keras model on held-out clips (:mod:`~har_tf.export.parity`).
"""

from har_tf.export.parity import MIN_AGREEMENT, parity_report
from har_tf.export.samples import export_samples, held_out_split
from har_tf.export.saved_model import SIGNATURES, export_saved_model, models_config, next_version
from har_tf.export.servable import Servable, ServingSpec, make_servable, serving_feed
from har_tf.export.tflite import QUANTIZATIONS, TFLiteRunner, convert_to_tflite, export_tflite

__all__ = [
    "MIN_AGREEMENT",
    "QUANTIZATIONS",
    "SIGNATURES",
    "Servable",
    "ServingSpec",
    "TFLiteRunner",
    "convert_to_tflite",
    "export_samples",
    "export_saved_model",
    "export_tflite",
    "held_out_split",
    "make_servable",
    "models_config",
    "next_version",
    "parity_report",
    "serving_feed",
]
