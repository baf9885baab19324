"""Joint layouts: joint names, bones and left/right pairs of the skeletons HAR-TF reads.

A :class:`JointLayout` is all a model or a preprocessing step needs to know about a skeleton:
how many joints, what they are called, which pairs form bones (for drawing and bone streams),
which pairs swap under a horizontal flip, and which joints define the body centre and the torso
(for normalisation). Joint names are shared across layouts (``left_wrist`` means the same joint in
COCO-17, BODY_25 and BlazePose-33), which is what makes conversions a name lookup.

Built-in layouts: ``coco17``, ``body25`` (OpenPose BODY_25), ``body25b`` (OpenPose BODY_25B: the
COCO-17 order first, then 8 neck/head/foot joints), ``blazepose33`` (MediaPipe BlazePose) and
``kinect_v1`` (the Kinect v1 / UTD-MHAD 20-joint skeleton). Any other skeleton is a
:func:`custom_layout`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from har_tf.errors import InvalidInputError

# Joint names of the shared vocabulary used below (x right, y down in image coordinates).
_COCO17_NAMES = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
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


@dataclasses.dataclass(frozen=True)
class JointLayout:
    """A skeleton's joints and their relations.

    Attributes:
        name: layout identifier (``"coco17"``, ``"body25"``, ..., or ``"custom"``).
        joint_names: one name per joint, in the order of the ``J`` axis.
        edges: bones as pairs of joint indices.
        flip_pairs: pairs of joint indices that swap under a horizontal flip (left/right).
        center_joints: joints whose mean is the body centre (hips by default).
        torso_top_joints: joints whose mean is the top of the torso (shoulders or neck). The
            distance between this point and the centre is the body length used for scaling.
    """

    name: str
    joint_names: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...] = ()
    center_joints: tuple[int, ...] = ()
    torso_top_joints: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        num = len(self.joint_names)
        if num == 0:
            raise InvalidInputError(f"layout {self.name!r}: expected at least one joint, got none")
        if len(set(self.joint_names)) != num:
            dupes = sorted({n for n in self.joint_names if self.joint_names.count(n) > 1})
            raise InvalidInputError(f"layout {self.name!r}: joint names must be unique, {dupes} repeat")
        for label, pairs in (("edges", self.edges), ("flip_pairs", self.flip_pairs)):
            for a, b in pairs:
                if not (0 <= a < num and 0 <= b < num) or a == b:
                    raise InvalidInputError(
                        f"layout {self.name!r}: {label} must join two different joints in [0, {num}), got ({a}, {b})"
                    )
        flipped = [j for pair in self.flip_pairs for j in pair]
        if len(set(flipped)) != len(flipped):
            raise InvalidInputError(f"layout {self.name!r}: a joint appears in two flip pairs")
        for label, idx in (("center_joints", self.center_joints), ("torso_top_joints", self.torso_top_joints)):
            if any(not 0 <= j < num for j in idx):
                raise InvalidInputError(f"layout {self.name!r}: {label} {idx} out of range [0, {num})")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def index(self, joint: str) -> int:
        """Index of a joint by name, with a clear error listing the known names."""
        try:
            return self.joint_names.index(joint)
        except ValueError:
            raise InvalidInputError(
                f"layout {self.name!r} has no joint {joint!r}; its joints are {list(self.joint_names)}"
            ) from None

    @property
    def flip_permutation(self) -> tuple[int, ...]:
        """``perm`` such that ``pose[..., perm, :]`` swaps every left joint with its right twin."""
        perm = list(range(self.num_joints))
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return tuple(perm)

    def to_dict(self) -> dict:
        """JSON-friendly description (round-trips through :meth:`from_dict`)."""
        return {
            "name": self.name,
            "joint_names": list(self.joint_names),
            "edges": [list(e) for e in self.edges],
            "flip_pairs": [list(p) for p in self.flip_pairs],
            "center_joints": list(self.center_joints),
            "torso_top_joints": list(self.torso_top_joints),
        }

    @classmethod
    def from_dict(cls, config: dict) -> JointLayout:
        builtin = BUILTIN_LAYOUTS.get(config.get("name"))
        if builtin is not None and list(config.get("joint_names", builtin.joint_names)) == list(builtin.joint_names):
            return builtin
        return custom_layout(
            config["joint_names"],
            config.get("edges", ()),
            flip_pairs=config.get("flip_pairs", ()),
            center_joints=config.get("center_joints", ()),
            torso_top_joints=config.get("torso_top_joints", ()),
            name=config.get("name", "custom"),
        )


def _named_layout(
    name: str,
    joint_names: Sequence[str],
    edges: Iterable[tuple[str, str]],
    center: Sequence[str] = ("left_hip", "right_hip"),
    torso_top: Sequence[str] = ("left_shoulder", "right_shoulder"),
) -> JointLayout:
    """Build a layout from joint names; flip pairs are every ``left_*``/``right_*`` twin."""
    idx = {n: i for i, n in enumerate(joint_names)}
    flips = tuple(
        (i, idx["right_" + n[len("left_") :]])
        for i, n in enumerate(joint_names)
        if n.startswith("left_") and "right_" + n[len("left_") :] in idx
    )
    return JointLayout(
        name=name,
        joint_names=tuple(joint_names),
        edges=tuple((idx[a], idx[b]) for a, b in edges),
        flip_pairs=flips,
        center_joints=tuple(idx[n] for n in center),
        torso_top_joints=tuple(idx[n] for n in torso_top),
    )


_LIMB_EDGES = (
    ("left_shoulder", "right_shoulder"),
    ("left_hip", "right_hip"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"),
    ("left_hip", "left_knee"),
    ("left_knee", "left_ankle"),
    ("right_hip", "right_knee"),
    ("right_knee", "right_ankle"),
)

COCO17 = _named_layout(
    "coco17",
    _COCO17_NAMES,
    _LIMB_EDGES
    + (
        ("nose", "left_eye"),
        ("nose", "right_eye"),
        ("left_eye", "left_ear"),
        ("right_eye", "right_ear"),
        ("left_ear", "left_shoulder"),
        ("right_ear", "right_shoulder"),
    ),
)

BODY25 = _named_layout(
    "body25",
    (
        "nose",
        "neck",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "mid_hip",
        "right_hip",
        "right_knee",
        "right_ankle",
        "left_hip",
        "left_knee",
        "left_ankle",
        "right_eye",
        "left_eye",
        "right_ear",
        "left_ear",
        "left_big_toe",
        "left_small_toe",
        "left_heel",
        "right_big_toe",
        "right_small_toe",
        "right_heel",
    ),
    (
        ("nose", "neck"),
        ("neck", "right_shoulder"),
        ("right_shoulder", "right_elbow"),
        ("right_elbow", "right_wrist"),
        ("neck", "left_shoulder"),
        ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"),
        ("neck", "mid_hip"),
        ("mid_hip", "right_hip"),
        ("right_hip", "right_knee"),
        ("right_knee", "right_ankle"),
        ("mid_hip", "left_hip"),
        ("left_hip", "left_knee"),
        ("left_knee", "left_ankle"),
        ("nose", "right_eye"),
        ("right_eye", "right_ear"),
        ("nose", "left_eye"),
        ("left_eye", "left_ear"),
        ("left_ankle", "left_big_toe"),
        ("left_big_toe", "left_small_toe"),
        ("left_ankle", "left_heel"),
        ("right_ankle", "right_big_toe"),
        ("right_big_toe", "right_small_toe"),
        ("right_ankle", "right_heel"),
    ),
    torso_top=("neck",),
)

BODY25B = _named_layout(
    "body25b",
    _COCO17_NAMES
    + (
        "upper_neck",
        "head_top",
        "left_big_toe",
        "left_small_toe",
        "left_heel",
        "right_big_toe",
        "right_small_toe",
        "right_heel",
    ),
    _LIMB_EDGES
    + (
        ("nose", "left_eye"),
        ("nose", "right_eye"),
        ("left_eye", "left_ear"),
        ("right_eye", "right_ear"),
        ("upper_neck", "head_top"),
        ("upper_neck", "nose"),
        ("upper_neck", "left_shoulder"),
        ("upper_neck", "right_shoulder"),
        ("left_ankle", "left_big_toe"),
        ("left_big_toe", "left_small_toe"),
        ("left_ankle", "left_heel"),
        ("right_ankle", "right_big_toe"),
        ("right_big_toe", "right_small_toe"),
        ("right_ankle", "right_heel"),
    ),
)

BLAZEPOSE33 = _named_layout(
    "blazepose33",
    (
        "nose",
        "left_eye_inner",
        "left_eye",
        "left_eye_outer",
        "right_eye_inner",
        "right_eye",
        "right_eye_outer",
        "left_ear",
        "right_ear",
        "mouth_left",
        "mouth_right",
        "left_shoulder",
        "right_shoulder",
        "left_elbow",
        "right_elbow",
        "left_wrist",
        "right_wrist",
        "left_pinky",
        "right_pinky",
        "left_index",
        "right_index",
        "left_thumb",
        "right_thumb",
        "left_hip",
        "right_hip",
        "left_knee",
        "right_knee",
        "left_ankle",
        "right_ankle",
        "left_heel",
        "right_heel",
        "left_foot_index",
        "right_foot_index",
    ),
    _LIMB_EDGES
    + (
        ("nose", "left_eye_inner"),
        ("left_eye_inner", "left_eye"),
        ("left_eye", "left_eye_outer"),
        ("left_eye_outer", "left_ear"),
        ("nose", "right_eye_inner"),
        ("right_eye_inner", "right_eye"),
        ("right_eye", "right_eye_outer"),
        ("right_eye_outer", "right_ear"),
        ("mouth_left", "mouth_right"),
        ("left_wrist", "left_pinky"),
        ("left_wrist", "left_index"),
        ("left_pinky", "left_index"),
        ("left_wrist", "left_thumb"),
        ("right_wrist", "right_pinky"),
        ("right_wrist", "right_index"),
        ("right_pinky", "right_index"),
        ("right_wrist", "right_thumb"),
        ("left_ankle", "left_heel"),
        ("left_heel", "left_foot_index"),
        ("left_ankle", "left_foot_index"),
        ("right_ankle", "right_heel"),
        ("right_heel", "right_foot_index"),
        ("right_ankle", "right_foot_index"),
    ),
)
# MediaPipe names the mouth corners mouth_left / mouth_right: pair them for flipping too.
BLAZEPOSE33 = dataclasses.replace(
    BLAZEPOSE33,
    flip_pairs=BLAZEPOSE33.flip_pairs
    + ((BLAZEPOSE33.joint_names.index("mouth_left"), BLAZEPOSE33.joint_names.index("mouth_right")),),
)

# Kinect v1 (Microsoft Kinect SDK 1.x) skeleton, 20 joints in the order of UTD-MHAD's
# Skeleton_joint_order.txt. Shoulders, elbows, wrists, hips, knees and ankles are the COCO-17 joints
# of the same name; ``head`` is the centre of the head (not COCO's nose), ``*_hand`` sits past the
# wrist and ``*_foot`` past the ankle. The centre is ``hip_center``, the torso top ``shoulder_center``.
KINECT_V1 = _named_layout(
    "kinect_v1",
    (
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
    ),
    (
        ("head", "shoulder_center"),
        ("shoulder_center", "spine"),
        ("spine", "hip_center"),
        ("shoulder_center", "left_shoulder"),
        ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"),
        ("left_wrist", "left_hand"),
        ("shoulder_center", "right_shoulder"),
        ("right_shoulder", "right_elbow"),
        ("right_elbow", "right_wrist"),
        ("right_wrist", "right_hand"),
        ("hip_center", "left_hip"),
        ("left_hip", "left_knee"),
        ("left_knee", "left_ankle"),
        ("left_ankle", "left_foot"),
        ("hip_center", "right_hip"),
        ("right_hip", "right_knee"),
        ("right_knee", "right_ankle"),
        ("right_ankle", "right_foot"),
    ),
    center=("hip_center",),
    torso_top=("shoulder_center",),
)

BUILTIN_LAYOUTS: dict[str, JointLayout] = {
    layout.name: layout for layout in (COCO17, BODY25, BODY25B, BLAZEPOSE33, KINECT_V1)
}


def custom_layout(
    joint_names: Sequence[str],
    edges: Iterable[Sequence[int]] = (),
    *,
    flip_pairs: Iterable[Sequence[int]] | None = None,
    center_joints: Sequence[int] = (),
    torso_top_joints: Sequence[int] = (),
    name: str = "custom",
) -> JointLayout:
    """A layout for any skeleton.

    Args:
        joint_names: one unique name per joint.
        edges: bones as pairs of joint indices.
        flip_pairs: left/right pairs; by default every ``left_*``/``right_*`` name twin.
        center_joints: joints whose mean is the body centre; empty = mean of the visible joints.
        torso_top_joints: top of the torso for the body-length scale; empty = spread of the joints.
    """
    names = tuple(str(n) for n in joint_names)
    if flip_pairs is None:
        idx = {n: i for i, n in enumerate(names)}
        flip_pairs = [
            (i, idx["right_" + n[5:]]) for i, n in enumerate(names) if n.startswith("left_") and "right_" + n[5:] in idx
        ]
    return JointLayout(
        name=name,
        joint_names=names,
        edges=tuple((int(a), int(b)) for a, b in edges),
        flip_pairs=tuple((int(a), int(b)) for a, b in flip_pairs),
        center_joints=tuple(int(j) for j in center_joints),
        torso_top_joints=tuple(int(j) for j in torso_top_joints),
    )


def get_layout(layout: str | JointLayout) -> JointLayout:
    """Look up a built-in layout by name (``coco17``, ``body25``, ``body25b``, ``blazepose33``, ``kinect_v1``)."""
    if isinstance(layout, JointLayout):
        return layout
    key = str(layout).lower().replace("-", "").replace("_", "")
    aliases = {
        "coco": "coco17",
        "openpose": "body25",
        "blazepose": "blazepose33",
        "mediapipe": "blazepose33",
        "kinectv1": "kinect_v1",
        "kinect": "kinect_v1",
    }
    key = aliases.get(key, key)
    if key not in BUILTIN_LAYOUTS:
        raise InvalidInputError(
            f"unknown joint layout {layout!r}: expected one of {sorted(BUILTIN_LAYOUTS)} "
            "or a JointLayout made with custom_layout(...)"
        )
    return BUILTIN_LAYOUTS[key]


def bone_parents(layout: str | JointLayout) -> tuple[int, ...]:
    """Parent joint of each joint along the layout's bones (breadth-first from the body centre);
    -1 for the root and for joints no bone reaches."""
    layout = get_layout(layout)
    neighbours: dict[int, list[int]] = {j: [] for j in range(layout.num_joints)}
    for a, b in layout.edges:
        neighbours[a].append(b)
        neighbours[b].append(a)
    root = layout.center_joints[0] if layout.center_joints else 0
    parents = [-1] * layout.num_joints
    seen, queue = {root}, [root]
    while queue:
        joint = queue.pop(0)
        for other in sorted(neighbours[joint]):
            if other not in seen:
                seen.add(other)
                parents[other] = joint
                queue.append(other)
    return tuple(parents)
