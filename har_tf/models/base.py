"""Backbone and Task: the base classes of the package's models, in the keras-hub manner.

- :class:`Backbone`: an encoder (poses, frames, objects or sensor samples -> one embedding). A subclass
  lists its constructor arguments in ``_config_keys`` and keeps each as an attribute of the same name
  (or the one ``_config_attributes`` names); the base turns them into the config (tuples become
  lists, as JSON has them) and builds the model again from it. Named sizes live in the class's
  ``presets`` and are read with :meth:`Backbone.preset_config`.
- :class:`PoseBackbone`: a backbone of poses ``(B, T, J, C)``; :meth:`PoseBackbone.from_preset` fills
  the joint count, the bone parents and the layout name from a joint layout.
- :class:`Task`: a model with a head on one or more backbones (the classifier, the fusion model);
  the arguments in ``_nested_keys`` hold models and travel as nested configs.

The config keys are the constructor arguments, so ``cls.from_config(model.get_config())`` builds the
same model, and a ``.keras`` file's config is a record of them.
"""

from __future__ import annotations

from typing import ClassVar

import keras

from har_tf.errors import InvalidInputError
from har_tf.skeleton.layouts import JointLayout, bone_parents, get_layout


def stream_parents(layout: str | JointLayout, streams) -> tuple[int, ...] | None:
    """Parent joints for the ``bones`` stream, or None when the stream is not used."""
    return bone_parents(layout) if "bones" in streams else None


def _plain(value):
    """A config value as JSON has it: tuples (also nested in lists) become lists."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class _ConfigModel(keras.Model):
    """The config plumbing shared by :class:`Backbone` and :class:`Task`."""

    _config_keys: ClassVar[tuple[str, ...]] = ()
    """The constructor arguments, in config order."""
    _config_attributes: ClassVar[dict[str, str]] = {}
    """Config key -> the attribute that holds it, where the two names differ."""
    _nested_keys: ClassVar[tuple[str, ...]] = ()
    """The config keys that hold models (or layers), serialised as nested configs; None stays None."""
    _config_trainable: ClassVar[bool] = True
    """Whether the config records ``trainable`` beside ``name``."""

    def get_config(self) -> dict:
        config = {"name": self.name}
        if self._config_trainable:
            config["trainable"] = self.trainable
        for key in self._config_keys:
            value = getattr(self, self._config_attributes.get(key, key))
            if key in self._nested_keys:
                config[key] = None if value is None else keras.saving.serialize_keras_object(value)
            else:
                config[key] = _plain(value)
        return config

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        for key in cls._nested_keys:
            if config.get(key) is not None:
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


class Backbone(_ConfigModel):
    """An encoder: its input -> one embedding per example. Subclasses build a functional model in
    ``__init__``, keep their constructor arguments as attributes and list them in ``_config_keys``."""

    presets: ClassVar[dict[str, dict]] = {}
    """Named sizes: preset name -> constructor arguments."""
    _preset_kind: ClassVar[str] = ""
    """What the presets are of, for the error message (e.g. ``"object encoder "``)."""

    @classmethod
    def preset_config(cls, preset: str, **overrides) -> dict:
        """The constructor arguments of a named preset, with ``overrides`` applied."""
        if preset not in cls.presets:
            raise InvalidInputError(f"unknown {cls._preset_kind}preset {preset!r}; choose one of {sorted(cls.presets)}")
        return {**cls.presets[preset], **overrides}


class PoseBackbone(Backbone):
    """A backbone of poses ``pose`` (B, T, J, C) -> (B, embedding)."""

    @classmethod
    def from_preset(
        cls,
        preset: str,
        layout: str | JointLayout,
        num_frames: int = 30,
        num_channels: int | None = None,
        streams: tuple[str, ...] | None = None,
        channels: str | None = None,
        **overrides,
    ):
        """A backbone of a named size for a joint layout.

        ``num_channels`` defaults to the length of ``channels`` (e.g. 3 for ``"xyz"``), else 3;
        ``streams`` (backbones that take them; default ``("joints",)``) sets the bone parents.
        """
        config = cls.preset_config(preset, **overrides)
        layout = get_layout(layout)
        if "streams" in cls._config_keys:
            streams = ("joints",) if streams is None else tuple(streams)
            config.update(streams=streams, parents=stream_parents(layout, streams))
        elif streams is not None:
            config["streams"] = streams  # refused by the constructor, as any unknown argument
        return cls(
            num_joints=layout.num_joints,
            num_frames=num_frames,
            num_channels=num_channels,
            layout=layout.name,
            channels=channels,
            **config,
        )


class Task(_ConfigModel):
    """A model with a head on one or more backbones; ``_nested_keys`` names the arguments that hold
    the backbones (serialised as nested configs, rebuilt by :meth:`from_config`)."""
