"""Joint layouts and conversions between them."""

from __future__ import annotations

import numpy as np
import pytest

from har_tf.errors import InvalidInputError
from har_tf.skeleton.conversion import convert_pose
from har_tf.skeleton.layouts import (
    BLAZEPOSE33,
    BODY25,
    BODY25B,
    BUILTIN_LAYOUTS,
    COCO17,
    JointLayout,
    custom_layout,
    get_layout,
)

ALL = [COCO17, BODY25, BODY25B, BLAZEPOSE33]


def _index_pose(layout: JointLayout, channels: int = 3) -> np.ndarray:
    """A pose (2, J, C) where each joint's x is its index, y = 100 + index, confidence 0.5."""
    pose = np.zeros((2, layout.num_joints, channels), np.float32)
    pose[..., 0] = np.arange(layout.num_joints)
    pose[..., 1] = 100 + np.arange(layout.num_joints)
    if channels == 3:
        pose[..., 2] = 0.5
    return pose


@pytest.mark.parametrize(("layout", "count"), [(COCO17, 17), (BODY25, 25), (BODY25B, 25), (BLAZEPOSE33, 33)])
def test_joint_counts(layout, count):
    assert layout.num_joints == count == len(layout.joint_names)
    assert BUILTIN_LAYOUTS[layout.name] is layout
    assert get_layout(layout.name) is layout


@pytest.mark.parametrize("layout", ALL, ids=lambda lay: lay.name)
def test_edges_valid(layout):
    assert layout.edges, "a built-in layout has bones"
    for a, b in layout.edges:
        assert 0 <= a < layout.num_joints and 0 <= b < layout.num_joints and a != b
    undirected = {frozenset(e) for e in layout.edges}
    assert len(undirected) == len(layout.edges), "no bone is listed twice"
    # every joint belongs to at least one bone (the skeleton has no floating joint)
    assert {j for e in layout.edges for j in e} == set(range(layout.num_joints))


@pytest.mark.parametrize("layout", ALL, ids=lambda lay: lay.name)
def test_flip_pairs_are_left_right_twins(layout):
    names = layout.joint_names
    for a, b in layout.flip_pairs:
        left, right = names[a], names[b]
        assert left.replace("left", "#") == right.replace("right", "#"), (left, right)
        assert "left" in left and "right" in right
    # every left_* joint with a right_* twin is paired
    paired = {j for p in layout.flip_pairs for j in p}
    for i, n in enumerate(names):
        if n.startswith("left_") and "right_" + n[5:] in names:
            assert i in paired and names.index("right_" + n[5:]) in paired


@pytest.mark.parametrize("layout", ALL, ids=lambda lay: lay.name)
def test_flip_permutation_is_an_involution(layout):
    perm = np.asarray(layout.flip_permutation)
    assert sorted(perm) == list(range(layout.num_joints))
    np.testing.assert_array_equal(perm[perm], np.arange(layout.num_joints))
    for a, b in layout.flip_pairs:
        assert perm[a] == b and perm[b] == a
    assert layout.center_joints and layout.torso_top_joints


def test_blazepose_mouth_corners_flip():
    perm = BLAZEPOSE33.flip_permutation
    assert perm[BLAZEPOSE33.index("mouth_left")] == BLAZEPOSE33.index("mouth_right")


@pytest.mark.parametrize("src", [BODY25, BODY25B, BLAZEPOSE33], ids=lambda lay: lay.name)
@pytest.mark.parametrize("channels", [2, 3])
def test_conversion_to_coco17_puts_each_joint_in_place(src, channels):
    out = convert_pose(_index_pose(src, channels), src, "coco17")
    assert out.shape == (2, 17, channels) and out.dtype == np.float32
    expected = [src.index(name) for name in COCO17.joint_names]
    np.testing.assert_array_equal(out[0, :, 0], expected)
    np.testing.assert_array_equal(out[1, :, 1], 100 + np.asarray(expected))


def test_body25b_starts_with_coco17():
    assert BODY25B.joint_names[:17] == COCO17.joint_names
    pose = np.random.default_rng(0).random((4, 25, 3)).astype(np.float32)
    np.testing.assert_array_equal(convert_pose(pose, BODY25B, COCO17), pose[:, :17])


def test_body25_to_coco17_known_indices():
    out = convert_pose(_index_pose(BODY25), "body25", "coco")
    # COCO order: nose, l_eye, r_eye, l_ear, r_ear, l_sh, r_sh, l_el, r_el, l_wr, r_wr, l_hip, r_hip, ...
    assert out[0, :, 0].astype(int).tolist() == [0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11]


def test_missing_joints_stay_missing():
    pose = _index_pose(BODY25)
    pose[:, BODY25.index("left_wrist")] = 0.0
    pose[:, BODY25.index("nose"), 2] = 0.0  # confidence 0 keeps its coordinates but stays missing
    out = convert_pose(pose, BODY25, COCO17)
    np.testing.assert_array_equal(out[:, COCO17.index("left_wrist")], 0.0)
    assert np.all(out[:, COCO17.index("nose"), 2] == 0)


def test_derived_joints_from_coco17():
    pose = _index_pose(COCO17)
    pose[0, COCO17.index("left_shoulder"), 2] = 0.9
    pose[0, COCO17.index("right_hip")] = 0.0  # missing in frame 0 only
    out = convert_pose(pose, COCO17, BODY25, allow_missing=True)
    assert out.shape == (2, 25, 3)
    neck, mid_hip = BODY25.index("neck"), BODY25.index("mid_hip")
    ls, rs = COCO17.index("left_shoulder"), COCO17.index("right_shoulder")
    np.testing.assert_allclose(out[0, neck], [(ls + rs) / 2, 100 + (ls + rs) / 2, 0.5])  # min confidence
    np.testing.assert_array_equal(out[0, mid_hip], 0.0)  # one source missing -> missing
    lh, rh = COCO17.index("left_hip"), COCO17.index("right_hip")
    np.testing.assert_allclose(out[1, mid_hip, :2], [(lh + rh) / 2, 100 + (lh + rh) / 2])
    for foot in ("left_big_toe", "right_heel"):
        np.testing.assert_array_equal(out[:, BODY25.index(foot)], 0.0)
    # joints present in both layouts are copied
    np.testing.assert_array_equal(out[:, BODY25.index("left_knee")], pose[:, COCO17.index("left_knee")])


def test_conversion_errors():
    with pytest.raises(InvalidInputError, match="allow_missing") as info:
        convert_pose(_index_pose(COCO17), COCO17, BODY25)
    assert "left_big_toe" in str(info.value)
    with pytest.raises(InvalidInputError, match=r"\(\.\.\., 25, 2 or 3\)"):
        convert_pose(np.zeros((3, 17, 3)), BODY25, COCO17)
    with pytest.raises(InvalidInputError, match="2 or 3"):
        convert_pose(np.zeros((3, 25, 4)), BODY25, COCO17)


def test_custom_layout_15_joints():
    names = [
        "head",
        "neck",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "pelvis",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
    ]
    edges = [
        (0, 1),
        (1, 2),
        (1, 3),
        (2, 4),
        (3, 5),
        (4, 6),
        (5, 7),
        (1, 8),
        (8, 9),
        (8, 10),
        (9, 11),
        (10, 12),
        (11, 13),
        (12, 14),
    ]
    layout = custom_layout(names, edges, center_joints=[8], torso_top_joints=[1], name="my15")
    assert layout.num_joints == 15 and layout.name == "my15"
    assert len(layout.flip_pairs) == 6  # default: every left_/right_ twin
    perm = np.asarray(layout.flip_permutation)
    assert perm[names.index("left_knee")] == names.index("right_knee")
    np.testing.assert_array_equal(perm[perm], np.arange(15))
    # conversion from a custom layout to COCO-17 by name (face joints missing)
    out = convert_pose(_index_pose(layout), layout, COCO17, allow_missing=True)
    assert out[0, COCO17.index("right_ankle"), 0] == names.index("right_ankle")
    np.testing.assert_array_equal(out[:, COCO17.index("nose")], 0.0)


@pytest.mark.parametrize(
    ("names", "edges", "kwargs", "match"),
    [
        (["a", "b", "c"], [(0, 3)], {}, r"edges must join two different joints in \[0, 3\), got \(0, 3\)"),
        (["a", "b", "c"], [(1, 1)], {}, "two different joints"),
        (["a", "b", "c"], [(-1, 0)], {}, "two different joints"),
        (["a", "a", "c"], [(0, 1)], {}, r"unique, \['a'\] repeat"),
        ([], [], {}, "at least one joint"),
        (["a", "b", "c"], [], {"flip_pairs": [(0, 5)]}, "flip_pairs"),
        (["a", "b", "c"], [], {"flip_pairs": [(0, 1), (1, 2)]}, "two flip pairs"),
        (["a", "b", "c"], [], {"center_joints": [7]}, "center_joints"),
    ],
)
def test_custom_layout_errors(names, edges, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        custom_layout(names, edges, **kwargs)


def test_get_layout_names_and_errors():
    assert get_layout("COCO-17") is COCO17
    assert get_layout("openpose") is BODY25
    assert get_layout("body_25b") is BODY25B
    assert get_layout("mediapipe") is BLAZEPOSE33
    assert get_layout(BODY25) is BODY25
    with pytest.raises(InvalidInputError, match=r"unknown joint layout 'h36m': expected one of"):
        get_layout("h36m")
    with pytest.raises(InvalidInputError, match="has no joint 'tail'"):
        COCO17.index("tail")


@pytest.mark.parametrize("layout", ALL, ids=lambda lay: lay.name)
def test_builtin_dict_round_trip(layout):
    assert JointLayout.from_dict(layout.to_dict()) is layout


def test_custom_dict_round_trip():
    import json

    layout = custom_layout(
        ["left_a", "right_a", "mid"], [(0, 2), (1, 2)], center_joints=[2], torso_top_joints=[0, 1], name="tri"
    )
    config = json.loads(json.dumps(layout.to_dict()))  # JSON-friendly
    assert JointLayout.from_dict(config) == layout
    assert layout.flip_pairs == ((0, 1),)
