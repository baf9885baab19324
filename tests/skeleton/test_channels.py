"""Pose channel descriptions: defaults, validation and their clear errors."""

from __future__ import annotations

import pytest

from har_tf.errors import InvalidInputError
from har_tf.skeleton.channels import (
    CHANNELS,
    channel_count,
    default_channels,
    describe_channels,
    has_confidence,
    resolve_channels,
    spatial_dims,
)


def test_defaults_and_properties():
    assert CHANNELS == ("xy", "xyc", "xyz", "xyzc")
    assert [default_channels(c) for c in (2, 3, 4)] == ["xy", "xyc", "xyzc"]
    assert [spatial_dims(c) for c in CHANNELS] == [2, 2, 3, 3]
    assert [has_confidence(c) for c in CHANNELS] == [False, True, False, True]
    assert describe_channels("xyzc") == "x, y, z, confidence"
    assert resolve_channels(None, 3) == "xyc" and resolve_channels("xyz", 3) == "xyz"
    assert resolve_channels("xyzc") == "xyzc"  # C unknown: the name alone is checked
    assert channel_count(None, "xyzc") == 4 and channel_count(None, None) == 3 and channel_count(2, "xyz") == 2


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: default_channels(5), r"C = 2 \(x, y\), 3 .* or 4 \(x, y, z, confidence\) channels, got C=5"),
        (lambda: resolve_channels("xyz", 4), r"'xyz' describe C=3 values per joint but the poses have C=4"),
        (lambda: resolve_channels("xyzw", 4), r"one of \['xy', 'xyc', 'xyz', 'xyzc'\], got 'xyzw'"),
        (lambda: resolve_channels(3, 3), "got 3"),
        (lambda: resolve_channels(None), "give channels or the channel count"),
        (lambda: spatial_dims("rgb"), "got 'rgb'"),
    ],
    ids=["C=5", "length", "unknown", "not-a-string", "nothing-known", "spatial-dims"],
)
def test_clear_errors(call, match):
    with pytest.raises(InvalidInputError, match=match) as info:
        call()
    assert "\n" not in str(info.value)
