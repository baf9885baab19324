"""The embedded default dataset: procedural 3D actions seen by random cameras, as poses and frames.

Each clip: a subject (body proportions, clothing) from its split's pool, an action (see
:mod:`.actions`), a random camera, T = 30 pose frames of COCO-17 keypoints in the pixels of the
rendered image, with the errors of a real pose estimator (noise, low confidences on occluded joints,
missing joints, out-of-frame joints, bad-tracking bursts), and F = 8 rendered RGB frames.

Splits are by subject, like real datasets: no subject of the test split appears in training.
Everything is a function of ``SyntheticConfig``: same config, same bytes. Datasets are cached on
disk under a name derived from the config and :data:`GENERATOR_VERSION`, so a change of either
regenerates.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from har_tf.data.frames import encode_jpeg, frame_indices
from har_tf.data.pose_npz import SPLITS, PoseDataset
from har_tf.data.synthetic.actions import ACTIONS, CLASS_NAMES, ambiguous_groups
from har_tf.data.synthetic.body import COCO17_FROM_BODY, BodyShape, Camera, forward_kinematics
from har_tf.data.synthetic.render import OBJECT_CLASSES, Appearance, build_scene, object_polygon, render_frame
from har_tf.config import DictConfig
from har_tf.errors import DataFormatError, InvalidInputError
from har_tf.skeleton import COCO17

GENERATOR_VERSION = 1
MAX_OBJECTS = 2  # object annotation slots per frame: the held object, one object lying around
log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class SyntheticConfig(DictConfig):
    """All knobs of the synthetic dataset; the cache key is derived from them."""

    seed: int = 0
    num_frames: int = 30
    frames_per_clip: int = 8
    image_size: int = 224
    clips_per_class: tuple[int, int, int] = (80, 12, 25)  # train, val, test
    subjects: tuple[int, int, int] = (30, 6, 10)  # distinct people per split
    render: bool = True
    jpeg_quality: int = 90
    keypoint_noise: float = 0.01  # std of pixel noise, as a fraction of the person's height in pixels
    missing_prob: float = 0.02  # chance that a pose estimator drops a visible joint in a frame
    distractor_prob: float = 0.2  # chance of an unrelated object lying in the scene

    def __post_init__(self) -> None:
        if self.num_frames < 2 or not 1 <= self.frames_per_clip <= self.num_frames:
            raise InvalidInputError(
                f"expected num_frames >= 2 and 1 <= frames_per_clip <= num_frames, got "
                f"{self.num_frames} and {self.frames_per_clip}"
            )
        if self.image_size < 32:
            raise InvalidInputError(f"image_size must be at least 32 pixels, got {self.image_size}")
        if len(self.clips_per_class) != 3 or len(self.subjects) != 3 or min(self.subjects) < 1:
            raise InvalidInputError("clips_per_class and subjects need three counts (train, val, test), subjects >= 1")

    def cache_key(self) -> str:
        text = json.dumps({"version": GENERATOR_VERSION, **self.to_dict()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class Subject:
    shape: BodyShape
    look: Appearance


def _subject(seed: int, subject_id: int) -> Subject:
    rng = np.random.default_rng([seed, 7, subject_id])
    return Subject(BodyShape.sample(rng), Appearance.sample(rng))


def observe_keypoints(
    rng: np.random.Generator,
    p2d: dict[str, np.ndarray],
    depth: dict[str, np.ndarray],
    camera: Camera,
    points3d: dict[str, np.ndarray],
    person_px: float,
    image_size: int,
    config: SyntheticConfig,
) -> np.ndarray:
    """COCO-17 keypoints (T, 17, 3) as a pose estimator would report them; missing = all zeros."""
    xy = np.stack([p2d[n] for n in COCO17_FROM_BODY], axis=1)  # (T, 17, 2)
    z = np.stack([depth[n] for n in COCO17_FROM_BODY], axis=1)
    T, J = z.shape
    conf = rng.beta(8.0, 1.5, size=(T, J))
    sigma = np.full((T, J), config.keypoint_noise * person_px)

    # Self-occlusion: joints behind the torso, eyes and nose when the face turns away, the far ear.
    torso = ["left_shoulder", "right_shoulder", "left_hip", "right_hip"]
    torso_z = np.mean([depth[n] for n in torso], axis=0)
    torso_xy = np.stack([p2d[n] for n in torso], axis=1)
    lo, hi = torso_xy.min(axis=1), torso_xy.max(axis=1)
    inside = np.all((xy >= lo[:, None] - 0.05 * person_px) & (xy <= hi[:, None] + 0.05 * person_px), axis=-1)
    occluded = inside & (z > torso_z[:, None] + 0.08)
    to_camera = camera.position - points3d["head"]
    face_away = np.sum((points3d["nose"] - points3d["head"]) * to_camera, axis=-1) < 0
    for j, name in enumerate(COCO17_FROM_BODY):
        if name in ("nose", "left_eye", "right_eye"):
            occluded[:, j] |= face_away
        if name.endswith("_ear"):
            occluded[:, j] |= depth[name] > depth["head"] + 0.02
    conf = np.where(occluded, conf * rng.uniform(0.1, 0.5, size=(T, J)), conf)
    sigma = np.where(occluded, sigma * 2.5, sigma)

    if rng.random() < 0.3:  # a burst of bad tracking (motion blur, a passer-by)
        start, length = rng.integers(0, T), rng.integers(2, 6)
        conf[start:start + length] *= 0.4
        sigma[start:start + length] *= 3.0

    xy = xy + rng.normal(size=xy.shape) * sigma[..., None]
    missing = (conf < 0.05) | (rng.random((T, J)) < config.missing_prob)
    missing |= np.any((xy < 0) | (xy > image_size - 1), axis=-1)
    pose = np.concatenate([xy, conf[..., None]], axis=-1).astype(np.float32)
    pose[missing] = 0.0
    return pose


def generate_clip(config: SyntheticConfig, split: str, label: int, index: int, subject_id: int) -> dict:
    """One clip: ``pose`` (T, 17, 3), ``frames`` (F RGB uint8 frames, or None), ``objects`` (T, K, 6)."""
    rng = np.random.default_rng([config.seed, SPLITS.index(split), label, index])
    subject = _subject(config.seed, subject_id)
    action = ACTIONS[label]
    T, size = config.num_frames, config.image_size
    motion, hand = action.motion(rng, subject.shape, T)
    pts = forward_kinematics(subject.shape, motion)

    root_mean = motion.root.mean(axis=0)
    look_at = np.array([root_mean[0], subject.shape.height * 0.5, root_mean[2]])
    camera = Camera.sample(rng, look_at, 0.0, subject.shape.height, (size, size))
    projected = {name: camera.project(p) for name, p in pts.items()}
    p2d = {name: v[0] for name, v in projected.items()}
    depth = {name: v[1] for name, v in projected.items()}
    person_px = camera.focal * subject.shape.height / np.linalg.norm(look_at - camera.position)
    pose = observe_keypoints(rng, p2d, depth, camera, pts, person_px, size, config)

    ground = np.array([root_mean[0], 0.0, root_mean[2]])
    scene = build_scene(rng, camera, (size, size), ground, action.props, config.distractor_prob)
    objects = np.zeros((T, MAX_OBJECTS, 6), np.float32)
    held_polys = []
    for t in range(T):
        poly = None
        if action.held_object:
            at_t = {k: v[t] for k, v in pts.items()}
            poly = object_polygon(action.held_object, {k: v[t] for k, v in p2d.items()}, at_t, camera, hand)
            objects[t, 0] = _annotation(OBJECT_CLASSES.index(action.held_object) + 1, poly, size)
        held_polys.append(poly)
        for k, (cls_id, dpoly) in enumerate(scene.distractors[: MAX_OBJECTS - 1]):
            objects[t, 1 + k] = _annotation(cls_id, dpoly, size)

    frames = None
    if config.render:
        frames = []
        for t in frame_indices(T, config.frames_per_clip):
            held = (action.held_object, held_polys[t]) if action.held_object else None
            frames.append(render_frame(scene, subject.look, {k: v[t] for k, v in p2d.items()},
                                       {k: v[t] for k, v in depth.items()}, camera, subject.shape.height,
                                       held, t / (T - 1), rng))  # fmt: skip
    return {"pose": pose, "frames": frames, "objects": objects}


def _annotation(class_id: int, poly: np.ndarray, size: int) -> np.ndarray:
    x1, y1 = np.clip(poly.min(axis=0), 0, size - 1)
    x2, y2 = np.clip(poly.max(axis=0), 0, size - 1)
    visible = float(x2 > x1 and y2 > y1)
    return np.array([class_id * visible, x1, y1, x2, y2, visible], np.float32)


def generate_dataset(config: SyntheticConfig | None = None, progress: bool = True) -> PoseDataset:
    """Generate the whole dataset in memory (train / val / test split by subject)."""
    config = config or SyntheticConfig()
    arrays: dict[str, np.ndarray] = {}
    first_subject = 0
    total = sum(config.clips_per_class) * len(ACTIONS)
    bar = tqdm(total=total, desc="synthetic clips", unit="clip", disable=None if progress else True, leave=False)
    for split, per_class, n_subjects in zip(SPLITS, config.clips_per_class, config.subjects):
        poses, labels, objects, subjects, frames = [], [], [], [], []
        for label in range(len(ACTIONS)):
            for index in range(per_class):
                # Every subject performs every action equally often (as in NTU RGB+D), so no
                # subject-class correlation can stand in for the motion.
                subject_id = first_subject + index % n_subjects
                clip = generate_clip(config, split, label, index, subject_id)
                poses.append(clip["pose"])
                objects.append(clip["objects"])
                labels.append(label)
                subjects.append(subject_id)
                if clip["frames"] is not None:
                    frames.extend(clip["frames"])
                bar.update(1)
        first_subject += n_subjects
        if not poses:
            continue
        arrays[f"x_{split}"] = np.stack(poses)
        arrays[f"y_{split}"] = np.asarray(labels, np.int64)
        arrays[f"objects_{split}"] = np.stack(objects)
        arrays[f"subject_{split}"] = np.asarray(subjects, np.int64)
        if frames:
            arrays[f"frames_{split}_jpeg"], arrays[f"frames_{split}_offsets"] = encode_jpeg(frames, config.jpeg_quality)
    bar.close()
    if "x_train" not in arrays:
        raise InvalidInputError("clips_per_class gives no training clips: the train count must be at least 1")

    groups = ambiguous_groups()
    group_names = sorted(groups)
    class_group = np.full(len(ACTIONS), -1, np.int64)
    for g, name in enumerate(group_names):
        class_group[list(groups[name])] = g
    extras = {k: v for k, v in arrays.items() if not k.startswith(("x_", "y_"))}
    extras.update(
        frame_indices=frame_indices(config.num_frames, config.frames_per_clip),
        image_size=np.asarray([config.image_size, config.image_size], np.int64),
        class_group=class_group,
        group_names=np.asarray(group_names, dtype=str),
        object_classes=np.asarray(("none",) + OBJECT_CLASSES, dtype=str),
        synthetic_config=np.asarray(json.dumps({"version": GENERATOR_VERSION, **config.to_dict()}, sort_keys=True)),
    )
    splits = {k: v for k, v in arrays.items() if k.startswith(("x_", "y_"))}
    return PoseDataset(class_names=CLASS_NAMES, layout=COCO17, extras=extras, **splits)


def default_cache_dir() -> Path:
    """``$HAR_TF_CACHE_DIR`` or ``~/.cache/har_tf``."""
    return Path(os.environ.get("HAR_TF_CACHE_DIR", Path.home() / ".cache" / "har_tf"))


def load_or_generate(
    config: SyntheticConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> tuple[PoseDataset, Path, bool]:
    """The synthetic dataset for ``config``, from the cache when present, else generated and cached.

    Returns ``(dataset, path, from_cache)``. A cached file that cannot be read is regenerated.
    """
    config = config or SyntheticConfig()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = cache_dir / f"synthetic-v{GENERATOR_VERSION}-{config.cache_key()}.npz"
    if path.exists():
        try:
            return PoseDataset.load(path), path, True
        except DataFormatError as err:
            log.warning("cached synthetic dataset %s is unreadable (%s); regenerating", path, err)
    start = time.perf_counter()
    dataset = generate_dataset(config, progress=progress)
    dataset.save(path, compress=False)
    log.info("generated %s in %.1f s", path, time.perf_counter() - start)
    return dataset, path, False
