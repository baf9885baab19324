"""Depth video as an image stream: rendering depth maps to uint8 images, and square crops of them.

Rendering (:func:`render_depth`): depth ``(..., H, W)`` in millimetres -> uint8 ``(..., H, W, 3)``, the
same grey value in R, G and B. Near is bright: ``near_mm`` (and anything nearer) is 255, ``far_mm`` (and
anything farther) is :data:`FAR_LEVEL`, linear in between; a pixel without a reading (0) stays 0, so
"nothing measured" is never confused with "far". The window comes from :func:`depth_window`: ``near`` =
the 1st percentile of the clip's non-zero depths (robust to a few stray pixels), ``far = near +``
:data:`DEPTH_SPAN_MM` (1 m). The span is fixed, so one grey level is the same depth difference (about
4.7 mm) in every clip: a hand 30 cm in front of the chest is the same shade step whoever and wherever
the person is, while the person's distance from the camera is taken out.

Crops (:func:`clip_box`, :func:`crop_square`), one square box per clip (a steady frame, as from a fixed
camera, in which the movement shows):

- ``person``: the bounding box of the skeleton's joints over the whole clip, projected into the depth
  image (:func:`project_points`, Kinect v1 depth intrinsics at 320x240: ``u = cx + fx * x / z``,
  ``v = cy - fy * y / z``), made square around its centre and grown by :data:`PERSON_MARGIN` of its side
  on each side. When the projection does not land on the person (fewer than
  :data:`MIN_JOINTS_ON_PERSON` of the projected joints fall on pixels with a reading: skeleton and depth
  not registered, or no skeleton), the square of the clip's non-zero depth region is used instead, and
  the whole frame when there is no reading at all.
- ``none``: the whole frame letterboxed into a square (bars of 0, "no reading").

Parts of a box outside the frame are 0. The square is resized to ``size`` (area averaging when
shrinking).
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from har_tf.errors import InvalidInputError

DEPTH_CROPS = ("person", "none")
DEPTH_SPAN_MM = 1000.0  # far = near + this
NEAR_PERCENTILE = 1.0  # near = this percentile of a clip's non-zero depths
FAR_LEVEL = 40  # grey level of far_mm; 0 is kept for "no reading"
PERSON_MARGIN = 0.15  # of the box side, on each side
MIN_JOINTS_ON_PERSON = 0.5  # share of projected joints on a depth reading for the person box to be trusted


@dataclasses.dataclass(frozen=True)
class DepthIntrinsics:
    """Pinhole intrinsics of a depth camera, in the pixels of a ``width`` x ``height`` depth image."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int


KINECT_V1_DEPTH = DepthIntrinsics(fx=285.63, fy=285.63, cx=160.0, cy=120.0, width=320, height=240)
"""Kinect v1 skeleton space (metres, y up) -> its 320x240 depth image (the Kinect SDK's constants)."""


def project_points(points, intrinsics: DepthIntrinsics = KINECT_V1_DEPTH) -> np.ndarray:
    """Camera-space points ``(..., 3)`` (x right, y up, z away, metres) -> depth pixels ``(..., 2)`` (u, v).

    A point with ``z <= 0``, a NaN or all zeros (a missing joint) gives NaN.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim < 1 or points.shape[-1] != 3:
        raise InvalidInputError(f"expected 3D points of shape (..., 3), got shape {points.shape}")
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    valid = np.all(np.isfinite(points), axis=-1) & (z > 0) & np.any(points != 0, axis=-1)
    safe_z = np.where(valid, z, 1.0)
    uv = np.stack([intrinsics.cx + intrinsics.fx * x / safe_z, intrinsics.cy - intrinsics.fy * y / safe_z], axis=-1)
    return np.where(valid[..., None], uv, np.nan).astype(np.float32)


def depth_window(depth, span_mm: float = DEPTH_SPAN_MM, percentile: float = NEAR_PERCENTILE) -> tuple[float, float]:
    """``(near_mm, far_mm)`` for :func:`render_depth`: near = ``percentile`` of the non-zero depths,
    far = near + ``span_mm``. Depth with no reading gives ``(0, span_mm)``."""
    depth = np.asarray(depth)
    readings = depth[depth > 0]
    if span_mm <= 0:
        raise InvalidInputError(f"span_mm must be positive, got {span_mm}")
    near = float(np.percentile(readings, percentile)) if readings.size else 0.0
    return near, near + float(span_mm)


def render_depth(depth, near_mm: float, far_mm: float) -> np.ndarray:
    """Depth ``(..., H, W)`` in mm -> uint8 ``(..., H, W, 3)``: near bright, far dim, no reading (0) black."""
    depth = np.asarray(depth)
    if depth.ndim < 2 or depth.dtype.kind not in "uif":
        raise InvalidInputError(f"expected a numeric depth map (..., H, W), got {depth.dtype} {depth.shape}")
    if not far_mm > near_mm:
        raise InvalidInputError(f"far_mm must be greater than near_mm, got near {near_mm}, far {far_mm}")
    d = depth.astype(np.float32)
    level = 255.0 - (255.0 - FAR_LEVEL) * (d - near_mm) / (far_mm - near_mm)
    level = np.clip(np.round(level), FAR_LEVEL, 255)
    level = np.where(np.isfinite(d) & (d > 0), level, 0).astype(np.uint8)
    return np.repeat(level[..., None], 3, axis=-1)


def square_box(x1: float, y1: float, x2: float, y2: float, margin: float = 0.0) -> np.ndarray:
    """The square ``[x1, y1, x2, y2]`` (int64, x2 and y2 exclusive) around a box's centre, side = the
    box's larger side grown by ``margin`` of it on each side (at least one pixel)."""
    side = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * margin)
    side = max(int(np.ceil(side)), 1)
    left = int(np.floor((x1 + x2) / 2.0 - side / 2.0))
    top = int(np.floor((y1 + y2) / 2.0 - side / 2.0))
    return np.asarray([left, top, left + side, top + side], np.int64)


def letterbox_box(width: int, height: int) -> np.ndarray:
    """The square box that holds a whole ``width`` x ``height`` frame, centred (the ``none`` crop)."""
    return square_box(0, 0, width, height)


def nonzero_box(depth) -> np.ndarray | None:
    """The bounding box ``[x1, y1, x2, y2]`` of the pixels with a reading in any frame of ``(..., H, W)``
    (0.5th to 99.5th percentile of their positions, so that stray pixels do not stretch it), or None."""
    depth = np.asarray(depth)
    mask = (depth > 0).reshape(-1, *depth.shape[-2:]).any(axis=0)
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        return None
    x1, x2 = np.percentile(cols, [0.5, 99.5])
    y1, y2 = np.percentile(rows, [0.5, 99.5])
    return np.asarray([x1, y1, x2 + 1, y2 + 1], np.float64)


def joints_on_readings(uv, depth) -> float:
    """Share of the projected joints ``(T, J, 2)`` that fall on a pixel with a reading in their own frame
    of ``depth`` ``(T, H, W)`` (joints outside the image or missing count as off)."""
    uv, depth = np.asarray(uv), np.asarray(depth)
    if uv.size == 0:
        return 0.0
    height, width = depth.shape[-2:]
    u, v = uv[..., 0], uv[..., 1]
    inside = np.isfinite(u) & np.isfinite(v) & (u >= 0) & (u < width) & (v >= 0) & (v < height)
    ui = np.where(inside, np.floor(np.nan_to_num(u)), 0).astype(np.int64)
    vi = np.where(inside, np.floor(np.nan_to_num(v)), 0).astype(np.int64)
    frame = np.broadcast_to(np.arange(uv.shape[0])[:, None], ui.shape)
    return float(np.mean(inside & (depth[frame, vi, ui] > 0)))


def clip_box(
    depth,
    skeleton=None,
    crop: str = "person",
    intrinsics: DepthIntrinsics = KINECT_V1_DEPTH,
) -> tuple[np.ndarray, str]:
    """One square box ``[x1, y1, x2, y2]`` (depth pixels) for a clip, and where it came from.

    Args:
        depth: the clip's depth ``(T, H, W)``.
        skeleton: its camera-space joints ``(T, J, 3)`` (same T), or None.
        crop: ``person`` or ``none`` (see the module docstring).

    Returns ``(box, source)`` with source ``"skeleton"``, ``"depth"`` (the fallback: the non-zero
    region) or ``"frame"`` (the whole frame).
    """
    if crop not in DEPTH_CROPS:
        raise InvalidInputError(f"depth crop must be one of {DEPTH_CROPS}, got {crop!r}")
    depth = np.asarray(depth)
    if depth.ndim != 3:
        raise InvalidInputError(f"expected clip depth of shape (T, H, W), got {depth.shape}")
    height, width = depth.shape[1:]
    if crop == "none":
        return letterbox_box(width, height), "frame"
    if skeleton is not None:
        skeleton = np.asarray(skeleton)
        if skeleton.ndim != 3 or skeleton.shape[0] != depth.shape[0] or skeleton.shape[-1] != 3:
            raise InvalidInputError(
                f"expected the clip's skeleton as (T, J, 3) with T = {depth.shape[0]} (the depth frames), "
                f"got {skeleton.shape}"
            )
        uv = project_points(skeleton, intrinsics)
        if np.isfinite(uv).all(axis=-1).any() and joints_on_readings(uv, depth) >= MIN_JOINTS_ON_PERSON:
            u, v = uv[..., 0], uv[..., 1]
            box = square_box(np.nanmin(u), np.nanmin(v), np.nanmax(u), np.nanmax(v), PERSON_MARGIN)
            return box, "skeleton"
    region = nonzero_box(depth)
    if region is None:
        return letterbox_box(width, height), "frame"
    return square_box(*region, margin=PERSON_MARGIN), "depth"


def crop_square(image: np.ndarray, box, size: int) -> np.ndarray:
    """The square ``box`` ``[x1, y1, x2, y2]`` of ``image`` ``(H, W, ...)`` resized to ``(size, size, ...)``;
    parts of the box outside the image are 0."""
    image = np.asarray(image)
    x1, y1, x2, y2 = (int(b) for b in box)
    side = x2 - x1
    if side < 1 or y2 - y1 != side:
        raise InvalidInputError(f"expected a square box [x1, y1, x2, y2] with x2 > x1, got {list(box)}")
    if int(size) < 1:
        raise InvalidInputError(f"size must be a positive number of pixels, got {size}")
    height, width = image.shape[:2]
    canvas = np.zeros((side, side) + image.shape[2:], image.dtype)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, width), min(y2, height)
    if sx2 > sx1 and sy2 > sy1:
        canvas[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = image[sy1:sy2, sx1:sx2]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    out = cv2.resize(canvas, (int(size), int(size)), interpolation=interpolation)
    return out.reshape((int(size), int(size)) + image.shape[2:])


def depth_images(
    depth,
    positions,
    size: int,
    skeleton=None,
    crop: str = "person",
    intrinsics: DepthIntrinsics = KINECT_V1_DEPTH,
) -> tuple[np.ndarray, dict]:
    """The uint8 images ``(F, size, size, 3)`` of a clip's depth frames ``positions``.

    The window (:func:`depth_window`) is taken over the frames shown; the crop box (:func:`clip_box`)
    over the whole clip. Returns the images and ``{"box", "box_source", "near_mm", "far_mm"}``.
    """
    depth = np.asarray(depth)
    positions = np.asarray(positions, dtype=np.int64)
    if depth.ndim != 3 or depth.shape[0] < 1:
        raise InvalidInputError(f"expected clip depth of shape (T, H, W) with T >= 1, got {depth.shape}")
    if positions.size and (positions.min() < 0 or positions.max() >= depth.shape[0]):
        raise InvalidInputError(f"frame positions must lie in [0, {depth.shape[0]}), got {positions.tolist()}")
    shown = depth[positions]
    near, far = depth_window(shown)
    box, source = clip_box(depth, skeleton, crop, intrinsics)
    images = np.stack([crop_square(render_depth(frame, near, far), box, size) for frame in shown])
    return images, {"box": box, "box_source": source, "near_mm": near, "far_mm": far}
