"""OpenCV rendering of a synthetic clip: scene, clutter, props, the person, the held object, lighting.

Images are uint8 RGB. The person is drawn limb by limb from far to near (painter's algorithm) with
thickness from perspective; objects are polygons computed from the same 3D points, so their pixel
boxes are exact annotations (:func:`object_polygon`).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from har_tf.data.synthetic.body import Camera

OBJECT_CLASSES: tuple[str, ...] = ("cup", "phone", "book", "tablet", "box")  # ids 1..5; 0 = none

_SHIRTS = [
    (200, 40, 40),
    (40, 80, 190),
    (240, 240, 235),
    (35, 35, 40),
    (60, 140, 70),
    (230, 180, 40),
    (120, 60, 140),
    (150, 150, 155),
    (230, 110, 30),
    (90, 170, 200),
]
_PANTS = [(40, 45, 70), (25, 25, 30), (110, 100, 80), (70, 80, 110), (150, 140, 120), (60, 60, 60)]
_SKINS = [(240, 200, 170), (225, 175, 140), (190, 140, 100), (150, 100, 70), (100, 65, 45)]
_MUGS = [(235, 235, 230), (200, 30, 40), (30, 90, 200), (240, 200, 30), (240, 120, 160)]


@dataclasses.dataclass(frozen=True)
class Appearance:
    """Colours of one subject (RGB)."""

    skin: tuple[int, int, int]
    shirt: tuple[int, int, int]
    pants: tuple[int, int, int]
    hair: tuple[int, int, int]
    short_sleeves: bool

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Appearance:
        def jitter(colour):
            return tuple(int(np.clip(c + rng.normal(0, 12), 0, 255)) for c in colour)

        return cls(
            skin=jitter(_SKINS[rng.integers(len(_SKINS))]),
            shirt=jitter(_SHIRTS[rng.integers(len(_SHIRTS))]),
            pants=jitter(_PANTS[rng.integers(len(_PANTS))]),
            hair=jitter([(30, 25, 20), (80, 55, 30), (160, 130, 80), (120, 120, 120)][rng.integers(4)]),
            short_sleeves=bool(rng.random() < 0.4),
        )


@dataclasses.dataclass
class Scene:
    """Everything static in a clip: background with clutter, props in front, lighting, object look."""

    background: np.ndarray
    front_lines: list  # (points (N, 2) int32, colour, thickness) drawn over the person (a ladder)
    gain_map: np.ndarray  # (H, W, 3) float32 light gradient and colour cast
    flicker: tuple[float, float, float]  # amplitude, cycles per clip, phase
    noise: np.ndarray  # (H + 16, W + 16, 3) float32 sensor noise; each frame takes a shifted crop
    object_colour: tuple[int, int, int]
    screen_colour: tuple[int, int, int]
    distractors: list  # (class id, polygon (N, 2) float) lying in the scene


def _poly(points) -> np.ndarray:
    return np.round(np.asarray(points, dtype=np.float64)).astype(np.int32)


def build_scene(
    rng: np.random.Generator,
    camera: Camera,
    image_size: tuple[int, int],
    person_root: np.ndarray,
    props: tuple[str, ...],
    distractor_prob: float,
) -> Scene:
    """A random indoor, warehouse or outdoor scene seen by ``camera``, with the requested props."""
    h, w = image_size
    kind = rng.choice(["indoor", "warehouse", "outdoor"])
    # Horizon / wall line: where the ground 6 m behind the person meets the image.
    _, _, forward = camera.axes()
    back = person_root + 6.0 * np.array([forward[0], 0.0, forward[2]])
    back[1] = 0.0
    horizon = float(np.clip(camera.project(back)[0][1], 0.05 * h, 0.85 * h))
    top = np.array([rng.integers(90, 230) for _ in range(3)], dtype=np.float32)
    floor = np.array([rng.integers(40, 180) for _ in range(3)], dtype=np.float32)
    if kind == "outdoor":
        top = np.array([rng.integers(120, 190), rng.integers(170, 220), rng.integers(210, 255)], np.float32)
        floor = np.array([rng.integers(60, 120), rng.integers(90, 150), rng.integers(40, 90)], np.float32)
    rows = np.arange(h, dtype=np.float32)[:, None]
    t_top = (rows / max(horizon, 1.0)).clip(0, 1)
    t_floor = ((rows - horizon) / max(h - horizon, 1.0)).clip(0, 1)
    column = np.where(rows < horizon, top * (0.85 + 0.15 * t_top), floor * (1.1 - 0.35 * t_floor))
    bg = np.repeat(column[:, None, :], w, axis=1)
    bg += rng.normal(0, 4, size=(h // 8 + 1, w // 8 + 1, 1)).repeat(8, 0).repeat(8, 1)[:h, :w]
    bg = np.clip(bg, 0, 255).astype(np.uint8)

    for _ in range(rng.integers(3, 9)):  # clutter: furniture, shelves, windows, plants
        colour = tuple(int(c) for c in rng.integers(20, 235, 3))
        x0, y0 = rng.uniform(-0.1, 1.0) * w, rng.uniform(0.0, 0.9) * h
        bw, bh = rng.uniform(0.08, 0.45) * w, rng.uniform(0.05, 0.4) * h
        shape = rng.choice(["box", "box", "shelf", "round"] if kind != "outdoor" else ["box", "round", "round"])
        if shape == "round":
            cv2.ellipse(bg, (int(x0), int(y0)), (int(bw / 3), int(bh / 2)), 0, 0, 360, colour, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(bg, (int(x0), int(y0)), (int(x0 + bw), int(y0 + bh)), colour, -1)
            cv2.rectangle(bg, (int(x0), int(y0)), (int(x0 + bw), int(y0 + bh)), tuple(c // 2 for c in colour), 1)
            if shape == "shelf":
                for k in range(1, rng.integers(2, 5)):
                    y = int(y0 + k * bh / 4)
                    cv2.line(bg, (int(x0), y), (int(x0 + bw), y), tuple(c // 2 for c in colour), 2)

    scale = camera.focal / max(np.linalg.norm(person_root - camera.position), 1e-3)
    distractors = []
    if rng.random() < distractor_prob:  # a small object lying on a table somewhere
        cls_id = int(rng.integers(1, len(OBJECT_CLASSES) + 1))
        cx, cy = rng.uniform(0.05, 0.95) * w, rng.uniform(horizon, h * 0.95)
        size = scale * rng.uniform(0.5, 0.8) * {1: 0.1, 2: 0.14, 3: 0.28, 4: 0.25, 5: 0.35}[cls_id]
        poly = np.array(
            [
                [cx - size / 2, cy - size / 3],
                [cx + size / 2, cy - size / 3],
                [cx + size / 2, cy + size / 3],
                [cx - size / 2, cy + size / 3],
            ]
        )
        distractors.append((cls_id, poly))
        _draw_object(
            bg,
            OBJECT_CLASSES[cls_id - 1],
            poly,
            tuple(int(c) for c in rng.integers(30, 240, 3)),
            tuple(int(c) for c in rng.integers(60, 255, 3)),
        )

    front_lines = []
    for prop in ("chair", "ladder"):
        needed = prop in props
        if not needed and rng.random() >= 0.25:
            continue
        aside = 0.0 if needed else rng.choice([-1.0, 1.0]) * rng.uniform(0.8, 1.4)
        base = person_root + np.array([aside, 0.0, 0.0])
        if prop == "chair":
            _draw_chair(bg, camera, base + np.array([0.0, 0.0, -0.18]), rng)
        else:
            lines = _ladder_lines(camera, base + np.array([0.0, 0.0, 0.32]))
            if needed:
                front_lines += lines
            else:
                for pts, colour, thick in lines:
                    cv2.polylines(bg, [pts], False, colour, thick, cv2.LINE_AA)

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (xx / w - 0.5) + np.sin(angle) * (yy / h - 0.5)) * rng.uniform(0.0, 0.5)
    cast = rng.normal(1.0, 0.06, 3).astype(np.float32)
    gain = rng.uniform(0.6, 1.25)
    return Scene(
        background=bg,
        front_lines=front_lines,
        gain_map=((gain * (1 + ramp))[..., None] * cast).astype(np.float32),
        flicker=(rng.uniform(0.0, 0.15), rng.uniform(0.5, 3.0), rng.uniform(0, 2 * np.pi)),
        noise=rng.standard_normal((h + 16, w + 16, 3), dtype=np.float32) * np.float32(rng.uniform(1.0, 7.0)),
        object_colour=_MUGS[rng.integers(len(_MUGS))],
        screen_colour=tuple(int(c) for c in rng.integers(60, 255, 3)),
        distractors=distractors,
    )


def _draw_chair(img, camera: Camera, seat_centre: np.ndarray, rng) -> None:
    colour = tuple(int(c) for c in rng.integers(40, 160, 3))
    s = 0.22
    corners = [seat_centre + np.array([dx, 0.45, dz]) for dx in (-s, s) for dz in (-s, s)]
    seat = camera.project(np.array([corners[0], corners[1], corners[3], corners[2]]))[0]
    for c in corners:  # legs
        pts = camera.project(np.array([c, c - np.array([0, 0.45, 0])]))[0]
        cv2.line(img, tuple(_poly(pts[0])), tuple(_poly(pts[1])), colour, 3, cv2.LINE_AA)
    back = camera.project(np.array([corners[0], corners[2], corners[2] + [0, 0.5, 0], corners[0] + [0, 0.5, 0]]))[0]
    cv2.fillConvexPoly(img, _poly(back), tuple(int(c * 0.8) for c in colour), cv2.LINE_AA)
    cv2.fillConvexPoly(img, _poly(seat), colour, cv2.LINE_AA)


def _ladder_lines(camera: Camera, base: np.ndarray) -> list:
    colour, lines = (170, 170, 175), []
    for dx in (-0.22, 0.22):
        pts = camera.project(np.array([base + [dx, 0.0, 0.0], base + [dx, 3.2, 0.0]]))[0]
        lines.append((_poly(pts), colour, 4))
    for y in np.arange(0.25, 3.2, 0.28):
        pts = camera.project(np.array([base + [-0.22, y, 0.0], base + [0.22, y, 0.0]]))[0]
        lines.append((_poly(pts), colour, 2))
    return lines


def object_polygon(kind: str, points2d: dict, points3d: dict, camera: Camera, hand: str) -> np.ndarray:
    """The pixel polygon (N, 2) of a held object at one frame."""
    if kind in ("cup", "phone"):
        centre = points2d[f"{hand}_hand"]
        depth = max(float(camera.project(points3d[f"{hand}_hand"])[1]), 0.3)
        size = camera.focal / depth * (np.array([0.085, 0.11]) if kind == "cup" else np.array([0.075, 0.15]))
        if kind == "cup":
            direction = np.array([0.0, -1.0])
        else:
            direction = points2d[f"{hand}_wrist"] - points2d[f"{hand}_elbow"]
            direction = direction / max(np.linalg.norm(direction), 1e-6)
        normal = np.array([-direction[1], direction[0]])
        half_w, half_h = size[0] / 2, size[1] / 2
        return np.array(
            [centre + sx * half_w * normal + sy * half_h * direction for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
        )
    # Two-handed objects: a quad in the plane of the chest, between the hands.
    left, right = points3d["left_hand"], points3d["right_hand"]
    across = points3d["left_shoulder"] - points3d["right_shoulder"]
    across /= max(np.linalg.norm(across), 1e-6)
    up = points3d["neck"] - (points3d["left_hip"] + points3d["right_hip"]) / 2
    up /= max(np.linalg.norm(up), 1e-6)
    centre = (left + right) / 2
    width, tall = {"book": (0.34, 0.24), "tablet": (0.26, 0.19), "box": (max(np.linalg.norm(left - right), 0.3), 0.32)}[
        kind
    ]
    if kind != "box":
        facing = np.cross(across, up)
        up = up * 0.6 + facing * 0.8  # tilted towards the face
        up /= np.linalg.norm(up)
        centre = centre + up * tall * 0.15
    if kind == "box":  # a cuboid between the hands: the outline of its 8 projected corners
        facing = np.cross(across, up)
        corners = [
            centre + sx * width / 2 * across + sy * tall / 2 * up + sz * 0.15 * facing
            for sx in (-1, 1)
            for sy in (-1, 1)
            for sz in (-1, 1)
        ]
        hull = cv2.convexHull(camera.project(np.array(corners))[0].astype(np.float32))
        return hull.reshape(-1, 2).astype(np.float64)
    corners = [centre + sx * width / 2 * across + sy * tall / 2 * up for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
    return camera.project(np.array(corners))[0]


def _draw_object(img, kind: str, poly: np.ndarray, colour, screen) -> None:
    p = _poly(poly)
    if kind == "cup":
        cv2.fillConvexPoly(img, p, colour, cv2.LINE_AA)
        cv2.polylines(img, [p], True, tuple(int(c * 0.5) for c in colour), 1, cv2.LINE_AA)
        top_mid, side_mid = (poly[0] + poly[1]) / 2, (poly[1] + poly[2]) / 2
        radius = max(int(np.linalg.norm(poly[1] - poly[0]) / 2), 1)
        cv2.ellipse(img, tuple(_poly(top_mid)), (radius, max(radius // 3, 1)), 0, 0, 360, (60, 40, 30), -1)
        cv2.circle(img, tuple(_poly(side_mid)), max(radius // 2, 1), colour, max(radius // 3, 1), cv2.LINE_AA)
    elif kind == "phone":
        cv2.fillConvexPoly(img, p, (25, 25, 30), cv2.LINE_AA)
        inner = poly.mean(0) + 0.75 * (poly - poly.mean(0))
        cv2.fillConvexPoly(img, _poly(inner), tuple(int(0.5 * c) for c in screen), cv2.LINE_AA)
    elif kind == "book":
        cv2.fillConvexPoly(img, p, colour, cv2.LINE_AA)
        inner = poly.mean(0) + 0.9 * (poly - poly.mean(0))
        cv2.fillConvexPoly(img, _poly(inner), (245, 240, 225), cv2.LINE_AA)
        spine_bottom, spine_top = (inner[0] + inner[1]) / 2, (inner[3] + inner[2]) / 2
        cv2.line(img, tuple(_poly(spine_bottom)), tuple(_poly(spine_top)), (120, 110, 100), 1, cv2.LINE_AA)
        for f in np.linspace(0.2, 0.8, 5):  # lines of text on both pages
            left = inner[0] + (inner[3] - inner[0]) * f
            right = inner[1] + (inner[2] - inner[1]) * f
            mid = (left + right) / 2
            for a, b in ((left, mid), (mid, right)):
                cv2.line(img, tuple(_poly(a * 0.9 + b * 0.1)), tuple(_poly(a * 0.1 + b * 0.9)), (150, 150, 150), 1)
    elif kind == "tablet":
        cv2.fillConvexPoly(img, p, (20, 20, 22), cv2.LINE_AA)
        inner = poly.mean(0) + 0.85 * (poly - poly.mean(0))
        cv2.fillConvexPoly(img, _poly(inner), screen, cv2.LINE_AA)
        for f in (0.3, 0.6):
            q = inner[0] + (inner[3] - inner[0]) * f + (inner[1] - inner[0]) * 0.2
            cv2.circle(img, tuple(_poly(q)), 2, (255, 255, 255), -1)
    else:  # box: cardboard with a strip of tape across its middle
        cv2.fillConvexPoly(img, p, (170, 125, 75), cv2.LINE_AA)
        cv2.polylines(img, [p], True, (110, 80, 45), 1, cv2.LINE_AA)
        top, bottom = poly[np.argmin(poly[:, 1])], poly[np.argmax(poly[:, 1])]
        cv2.line(img, tuple(_poly(top)), tuple(_poly(bottom)), (210, 190, 140), 3, cv2.LINE_AA)


# Limbs: (joint a, joint b, width as a fraction of body height, clothing part)
_LIMBS = (
    ("left_hip", "left_knee", 0.075, "pants"),
    ("left_knee", "left_ankle", 0.06, "pants"),
    ("right_hip", "right_knee", 0.075, "pants"),
    ("right_knee", "right_ankle", 0.06, "pants"),
    ("left_ankle", "left_toe", 0.045, "shoe"),
    ("right_ankle", "right_toe", 0.045, "shoe"),
    ("left_shoulder", "left_elbow", 0.055, "shirt"),
    ("left_elbow", "left_wrist", 0.045, "sleeve"),
    ("right_shoulder", "right_elbow", 0.055, "shirt"),
    ("right_elbow", "right_wrist", 0.045, "sleeve"),
    ("left_wrist", "left_hand", 0.045, "skin"),
    ("right_wrist", "right_hand", 0.045, "skin"),
    ("neck", "head", 0.05, "skin"),
)


def render_person(img, p2d: dict, depth: dict, look: Appearance, focal: float, height: float) -> None:
    """Draw the person far-to-near: limbs as thick lines, the torso as a polygon, the head as a disc."""
    colours = {
        "pants": look.pants,
        "shoe": (35, 30, 30),
        "shirt": look.shirt,
        "skin": look.skin,
        "sleeve": look.skin if look.short_sleeves else look.shirt,
    }
    items = []
    for a, b, width, part in _LIMBS:
        z = (depth[a] + depth[b]) / 2
        items.append((z, "line", (p2d[a], p2d[b]), colours[part], max(1, int(focal * width * height / z))))
    torso = [p2d["left_shoulder"], p2d["right_shoulder"], p2d["right_hip"], p2d["left_hip"]]
    torso_z = np.mean([depth[k] for k in ("left_shoulder", "right_shoulder", "left_hip", "right_hip")])
    items.append((torso_z, "poly", torso, look.shirt, 0))
    items.append(
        (depth["head"], "head", (p2d["head"],), look.skin, max(2, int(focal * 0.062 * height / depth["head"])))
    )
    for _depth, kind, pts, colour, size in sorted(items, key=lambda item: -item[0]):
        if kind == "line":
            cv2.line(img, tuple(_poly(pts[0])), tuple(_poly(pts[1])), colour, size, cv2.LINE_AA)
        elif kind == "poly":
            cv2.fillConvexPoly(img, _poly(pts), colour, cv2.LINE_AA)
            cv2.fillConvexPoly(
                img,
                _poly([pts[2], pts[3], (pts[3] * 0.8 + pts[0] * 0.2), (pts[2] * 0.8 + pts[1] * 0.2)]),
                look.pants,
                cv2.LINE_AA,
            )
        else:
            cv2.circle(img, tuple(_poly(pts[0])), size, colour, -1, cv2.LINE_AA)
            top = pts[0] + np.array([0.0, -0.35 * size])
            cv2.ellipse(
                img, tuple(_poly(top)), (size, max(1, int(size * 0.7))), 0, 180, 360, look.hair, -1, cv2.LINE_AA
            )


def render_frame(
    scene: Scene,
    look: Appearance,
    p2d: dict,
    depth: dict,
    camera: Camera,
    height: float,
    held: tuple[str, np.ndarray] | None,
    phase: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """One uint8 RGB frame at clip phase ``phase`` in [0, 1]."""
    img = scene.background.copy()
    render_person(img, p2d, depth, look, camera.focal, height)
    if held is not None:
        kind, poly = held
        _draw_object(img, kind, poly, scene.object_colour, scene.screen_colour)
    for pts, colour, thickness in scene.front_lines:
        cv2.polylines(img, [pts], False, colour, thickness, cv2.LINE_AA)
    amp, cycles, ph = scene.flicker
    gain = scene.gain_map * np.float32(1 + amp * np.sin(2 * np.pi * cycles * phase + ph))
    h, w = img.shape[:2]
    dy, dx = rng.integers(0, 17, size=2)
    noisy = img.astype(np.float32) * gain + scene.noise[dy : dy + h, dx : dx + w]
    return np.clip(noisy, 0, 255).astype(np.uint8)
