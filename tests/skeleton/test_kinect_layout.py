"""The built-in Kinect v1 (UTD-MHAD) 20-joint layout and its conversion to COCO-17."""

from __future__ import annotations

import numpy as np
import pytest

from har_tf.errors import InvalidInputError
from har_tf.skeleton.conversion import convert_pose
from har_tf.skeleton.layouts import (
    BUILTIN_LAYOUTS,
    COCO17,
    KINECT_V1,
    JointLayout,
    bone_parents,
    get_layout,
)
from tests.helpers import shared_file

UTD_ORDER = (
    "head",
    "shoulder_center",
    "spine",
    "hip_center",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "left_hand",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "right_hand",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_foot",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_foot",
)
SHARED_IN_COCO = (
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)


def test_names_and_lookup():
    assert KINECT_V1.joint_names == UTD_ORDER and KINECT_V1.num_joints == 20
    assert BUILTIN_LAYOUTS["kinect_v1"] is KINECT_V1
    for name in ("kinect_v1", "Kinect-V1", "kinect"):
        assert get_layout(name) is KINECT_V1
    assert JointLayout.from_dict(KINECT_V1.to_dict()) is KINECT_V1
    assert [KINECT_V1.joint_names[j] for j in KINECT_V1.center_joints] == ["hip_center"]
    assert [KINECT_V1.joint_names[j] for j in KINECT_V1.torso_top_joints] == ["shoulder_center"]


def test_names_follow_the_utd_mhad_joint_order_file(shared_dir):
    text = shared_file(shared_dir, "data/utd_mhad/Skeleton/Skeleton_joint_order.txt").read_text()
    listed = [line.split(".", 1)[1].strip(" ;") for line in text.splitlines() if line[:1].isdigit()]
    assert tuple(listed) == KINECT_V1.joint_names


def test_bones_form_one_tree_from_the_hip_centre():
    edges = {frozenset(e) for e in KINECT_V1.edges}
    assert len(edges) == len(KINECT_V1.edges) == 19  # a tree on 20 joints
    parents = bone_parents(KINECT_V1)
    assert parents[KINECT_V1.index("hip_center")] == -1
    assert sum(p == -1 for p in parents) == 1  # every other joint is reached
    assert KINECT_V1.joint_names[parents[KINECT_V1.index("left_hand")]] == "left_wrist"
    assert KINECT_V1.joint_names[parents[KINECT_V1.index("head")]] == "shoulder_center"


def test_flip_pairs_are_symmetric():
    names = KINECT_V1.joint_names
    pairs = {(names[a], names[b]) for a, b in KINECT_V1.flip_pairs}
    parts = ("shoulder", "elbow", "wrist", "hand", "hip", "knee", "ankle", "foot")
    assert pairs == {(f"left_{p}", f"right_{p}") for p in parts}
    perm = np.asarray(KINECT_V1.flip_permutation)
    np.testing.assert_array_equal(perm[perm], np.arange(20))
    for centre in ("head", "shoulder_center", "spine", "hip_center"):
        assert perm[KINECT_V1.index(centre)] == KINECT_V1.index(centre)
    # bones map onto bones under the flip
    edges = {frozenset(e) for e in KINECT_V1.edges}
    assert {frozenset((perm[a], perm[b])) for a, b in KINECT_V1.edges} == edges


@pytest.mark.parametrize("channels", [None, "xy", "xyz"])
def test_conversion_to_coco17_keeps_the_joints_that_exist(channels):
    rng = np.random.default_rng(0)
    pose = rng.uniform(-1.0, 1.0, (4, 20, 3)).astype(np.float32)
    pose[..., 2] = rng.uniform(2.0, 3.5, (4, 20))  # camera space: z > 0
    if channels == "xy":
        pose = pose[..., :2].copy()
    with pytest.raises(InvalidInputError, match="allow_missing"):
        convert_pose(pose, "kinect_v1", "coco17", channels=channels)
    out = convert_pose(pose, "kinect_v1", "coco17", allow_missing=True, channels=channels)
    assert out.shape == (4, 17, pose.shape[-1])
    for name in SHARED_IN_COCO:
        np.testing.assert_array_equal(out[:, COCO17.index(name)], pose[:, KINECT_V1.index(name)])
    for name in ("nose", "left_eye", "right_eye", "left_ear", "right_ear"):  # head is not the nose
        np.testing.assert_array_equal(out[:, COCO17.index(name)], 0.0)


def test_3d_conversion_derives_joints_in_3d():
    pose = np.zeros((1, 20, 3), np.float32)
    pose[0, KINECT_V1.index("left_shoulder")] = [-0.2, 0.3, 2.8]
    pose[0, KINECT_V1.index("right_shoulder")] = [0.2, 0.3, 3.0]
    out = convert_pose(pose, "kinect_v1", "body25", allow_missing=True, channels="xyz")
    np.testing.assert_allclose(out[0, get_layout("body25").index("neck")], [0.0, 0.3, 2.9], atol=1e-6)
    np.testing.assert_array_equal(out[0, get_layout("body25").index("mid_hip")], 0.0)  # hips missing
    with pytest.raises(InvalidInputError, match=r"\(\.\.\., 20, 3 \(xyz\)\)"):
        convert_pose(np.zeros((2, 20, 2)), "kinect_v1", "coco17", channels="xyz")
