"""Which joints of a pose tensor are present, written with ``keras.ops`` (NumPy, TensorFlow or symbolic tensors)."""

from __future__ import annotations

from keras import ops

from har_tf.skeleton.channels import has_confidence, resolve_channels, spatial_dims


def valid_joints(pose, channels: str | None = None):
    """Bool ``(..., J)`` of poses ``(..., J, C)``: finite and (confidence > 0 when ``channels`` has a
    ``c``, else coordinates not all zeros); ``channels=None`` is C's default (``xy`` or ``xyc``)."""
    channels = resolve_channels(channels, pose.shape[-1])
    finite = ops.all(ops.isfinite(pose), axis=-1)
    if has_confidence(channels):
        present = pose[..., -1] > 0
    else:
        present = ops.any(ops.not_equal(pose[..., : spatial_dims(channels)], 0), axis=-1)
    return ops.logical_and(finite, present)
