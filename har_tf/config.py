"""One way for every settings dataclass to travel as JSON: ``to_dict`` / ``from_dict``."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from har_tf.errors import InvalidInputError

T = TypeVar("T", bound="DictConfig")


class DictConfig:
    """Mixin for dataclasses: tuples become lists in :meth:`to_dict` and back in :meth:`from_dict`,
    and unknown keys are a clear error (a typo in a config file must not pass silently)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls: type[T], config: dict[str, Any]) -> T:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise InvalidInputError(f"unknown {cls.__name__} settings {unknown}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()})
