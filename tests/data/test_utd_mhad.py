"""UTD-MHAD: reading the official .mat layout, depth rendering and crops, and the multimodal dataset NPZ.

Most tests run on small fake recordings written with scipy.io.savemat; the ones on the real files
skip when ../shared is absent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from har_tf.data.depth import (
    FAR_LEVEL,
    clip_box,
    crop_square,
    depth_images,
    depth_window,
    project_points,
    render_depth,
)
from har_tf.data.frames import decode_clips, frame_indices
from har_tf.data.pose_npz import load_pose_npz
from har_tf.data.preprocessing import resample_sequence
from har_tf.data.utd_mhad import (
    ACTIONS,
    IMU_CHANNELS,
    Recording,
    action_numbers,
    convert_utd_mhad,
    depth_positions,
    find_recordings,
    read_depth,
    read_inertial,
    read_skeleton,
    resample_imu,
)
from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from tests.helpers import shared_file

UTD = "data/utd_mhad"
# A standing person about 2.8 m from the camera (Kinect v1 camera space, metres, y up).
STANDING = np.array(
    [
        [0.0, 0.48, 2.83],
        [0.0, 0.30, 2.87],
        [0.0, -0.05, 2.89],
        [0.0, -0.11, 2.84],
        [-0.20, 0.19, 2.88],
        [-0.24, -0.08, 2.84],
        [-0.24, -0.32, 2.79],
        [-0.23, -0.34, 2.78],
        [0.13, 0.20, 2.90],
        [0.19, -0.08, 2.89],
        [0.22, -0.31, 2.83],
        [0.22, -0.37, 2.80],
        [-0.10, -0.19, 2.82],
        [-0.12, -0.66, 2.93],
        [-0.07, -1.02, 2.95],
        [-0.11, -1.09, 2.91],
        [0.05, -0.19, 2.84],
        [0.07, -0.66, 2.91],
        [0.05, -1.02, 2.94],
        [0.10, -1.08, 2.92],
    ]
)


def _fake_recording(action: int, subject: int, trial: int, frames: int, seed: int) -> dict[str, np.ndarray]:
    """Skeleton (20, 3, T) with a moving right hand, depth (240, 320, T) with readings around each
    projected joint, and inertial (N, 6): the official variables and shapes."""
    rng = np.random.default_rng(seed)
    skel = np.repeat(STANDING[None], frames, axis=0) + rng.normal(0, 0.005, (frames, 20, 3))
    skel[:, 11, 1] += np.linspace(0, 0.6, frames) * action  # the right hand rises
    depth = np.zeros((frames, 240, 320), np.uint16)
    uv = project_points(skel)
    for t in range(frames):
        for j in range(20):
            u, v = (round(float(c)) for c in uv[t, j])
            if 0 <= v < 240 and 0 <= u < 320:
                depth[t, max(v - 6, 0) : v + 7, max(u - 6, 0) : u + 7] = int(skel[t, j, 2] * 1000)
    inertial = rng.normal(0, 1, (int(2.6 * frames) + subject, 6))
    return {"d_skel": skel.transpose(1, 2, 0), "d_depth": depth.transpose(1, 2, 0), "d_iner": inertial}


def write_fake_utd(root: Path, recordings, frames: int = 10) -> Path:
    """Write recordings ``(action, subject, trial)`` in the official layout under ``root``."""
    for folder in ("Skeleton", "Depth", "Inertial"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i, (a, s, t) in enumerate(recordings):
        data = _fake_recording(a, s, t, frames + i % 3, seed=i)
        for folder, key in (("Skeleton", "d_skel"), ("Depth", "d_depth"), ("Inertial", "d_iner")):
            scipy.io.savemat(root / folder / f"a{a}_s{s}_t{t}_{folder.lower()}.mat", {key: data[key]})
    (root / "Skeleton" / "Skeleton_joint_order.txt").write_text("1. head;\n")
    return root


FAKE = [(a, s, t) for a in (1, 2) for s in (1, 2, 3) for t in (1, 2)]


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    return write_fake_utd(tmp_path_factory.mktemp("utd") / "UTD-MHAD", FAKE)


# --- readers ---------------------------------------------------------------------------------------
def test_fake_readers_shapes_and_dtypes(fake_root):
    rec = Recording(2, 3, 1)
    skel, depth, iner = (
        read_skeleton(rec.path(fake_root, "skeleton")),
        read_depth(rec.path(fake_root, "depth")),
        read_inertial(rec.path(fake_root, "inertial")),
    )
    assert skel.dtype == np.float32 and skel.shape[1:] == (20, 3)
    assert depth.dtype == np.uint16 and depth.shape == (skel.shape[0], 240, 320)
    assert iner.dtype == np.float64 and iner.shape[1] == 6
    raw = scipy.io.loadmat(rec.path(fake_root, "skeleton"))["d_skel"]
    np.testing.assert_allclose(skel[4], raw[:, :, 4], rtol=1e-6)  # (20, 3, T) -> (T, 20, 3)
    assert rec.name == "a2_s3_t1" and rec.label == 1 and rec.action_name == "swipe_right"


def test_real_readers(shared_dir):
    root = shared_file(shared_dir, UTD)
    skel = read_skeleton(root / "Skeleton" / "a1_s1_t1_skeleton.mat")
    depth = read_depth(root / "Depth" / "a1_s1_t1_depth.mat")
    iner = read_inertial(root / "Inertial" / "a1_s1_t1_inertial.mat")
    assert skel.dtype == np.float32 and skel.shape == (48, 20, 3)
    assert 2.0 < float(np.median(skel[..., 2])) < 4.0  # metres from the camera
    assert skel[0, 0, 1] > skel[0, 3, 1] > skel[0, 14, 1]  # y up: head above hip centre above ankle
    assert depth.dtype == np.uint16 and depth.shape == (48, 240, 320)
    assert 0.02 < (depth > 0).mean() < 0.2 and 1500 < np.median(depth[depth > 0]) < 4000  # mm
    assert iner.dtype == np.float64 and iner.shape == (160, 6)
    assert 0.7 < np.linalg.norm(iner[:10, :3], axis=1).mean() < 1.3  # at rest: about 1 g
    # the projected skeleton lands on the person in the depth image
    uv = project_points(skel)
    u, v = np.round(uv[24]).astype(int).T
    inside = (v < 240) & (u < 320)
    assert (depth[24][v[inside], u[inside]] > 0).mean() > 0.7


def test_damaged_and_wrong_files(tmp_path):
    bad = tmp_path / "a1_s1_t1_skeleton.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 20)
    with pytest.raises(DataFormatError, match="a1_s1_t1_skeleton.mat: not a readable MATLAB .mat file"):
        read_skeleton(bad)
    scipy.io.savemat(bad, {"skeleton": np.zeros((20, 3, 4))})
    with pytest.raises(DataFormatError, match=r"expected a variable 'd_skel', the file holds \['skeleton'\]"):
        read_skeleton(bad)
    scipy.io.savemat(bad, {"d_skel": np.zeros((25, 3, 4))})
    with pytest.raises(DataFormatError, match=r"d_skel must be a numeric \(20, 3, T\) array"):
        read_skeleton(bad)
    with pytest.raises(MissingFileError, match="no such UTD-MHAD file"):
        read_depth(tmp_path / "nope.mat")


# --- discovery -------------------------------------------------------------------------------------
def test_find_recordings_skips_incomplete_ones_with_a_warning(tmp_path):
    root = write_fake_utd(tmp_path / "u", [(1, 1, 1), (3, 1, 1)], frames=4)
    (root / "Depth" / "a3_s1_t1_depth.mat").unlink()
    scipy.io.savemat(root / "Skeleton" / "a28_s1_t1_skeleton.mat", {"d_skel": np.zeros((20, 3, 2))})
    warnings: list[str] = []
    found = find_recordings(root, warn=warnings.append)
    assert found == [Recording(1, 1, 1)]
    assert any("a3_s1_t1: it is in Skeleton, Inertial but not in Depth" in w for w in warnings)
    assert any("action 28 is not one of the 27" in w for w in warnings)
    # without depth the recording is complete
    both = [Recording(1, 1, 1), Recording(3, 1, 1)]
    assert find_recordings(root, ("skeleton", "inertial"), warn=warnings.append) == both
    assert find_recordings(root, actions=["wave"], warn=warnings.append) == []


def test_missing_folders(tmp_path):
    with pytest.raises(MissingFileError, match="no such UTD-MHAD folder"):
        find_recordings(tmp_path / "nowhere")
    (tmp_path / "Skeleton").mkdir()
    (tmp_path / "Inertial").mkdir()
    with pytest.raises(MissingFileError, match=r"Depth is missing: a UTD-MHAD folder holds Skeleton/, Depth/, Inert"):
        convert_utd_mhad(tmp_path, test_subjects=(1,), progress=False)


def test_action_numbers():
    assert len(ACTIONS) == 27 and ACTIONS[0] == "swipe_left" and ACTIONS[26] == "squat"
    assert action_numbers([1, "wave", "Draw_Circle_CW", "27"]) == [1, 3, 9, 27]
    with pytest.raises(InvalidInputError, match="1-27"):
        action_numbers([28])
    with pytest.raises(InvalidInputError, match="unknown UTD-MHAD action 'dance'"):
        action_numbers(["dance"])


# --- depth -----------------------------------------------------------------------------------------
def test_render_depth_near_is_bright_and_no_reading_is_black():
    depth = np.array([[0, 2000, 2500], [3000, 4000, 0]], np.uint16)
    image = render_depth(depth, 2000.0, 3000.0)
    assert image.shape == (2, 3, 3) and image.dtype == np.uint8
    grey = image[..., 0]
    np.testing.assert_array_equal(image[..., 0], image[..., 2])
    assert grey[0, 0] == 0 and grey[1, 2] == 0  # no reading stays 0
    assert grey[0, 1] == 255 > grey[0, 2] > grey[1, 0] == FAR_LEVEL == grey[1, 1] > 0  # nearer = brighter
    near, far = depth_window(np.array([0, 0, 2500, 2600, 2700], np.uint16), span_mm=1000)
    assert 2500 <= near < 2510 and far == near + 1000
    assert depth_window(np.zeros((4, 4), np.uint16)) == (0.0, 1000.0)


def test_crops_person_box_fallback_and_letterbox():
    skel = np.repeat(STANDING[None], 3, axis=0).astype(np.float32)
    depth = np.zeros((3, 240, 320), np.uint16)
    depth[:, 60:230, 130:190] = 2800  # the person's silhouette
    box, source = clip_box(depth, skel, "person")
    assert source == "skeleton" and box[2] - box[0] == box[3] - box[1]
    uv = project_points(skel)
    assert box[0] < np.nanmin(uv[..., 0]) and box[2] > np.nanmax(uv[..., 0])
    # a skeleton that does not land on the readings: the non-zero region is used
    box2, source2 = clip_box(depth, skel + [1.5, 0.0, 0.0], "person")
    assert source2 == "depth" and box2[0] < 130 and box2[2] > 190
    assert clip_box(np.zeros_like(depth), None, "person")[1] == "frame"
    box3, source3 = clip_box(depth, skel, "none")
    assert source3 == "frame" and box3.tolist() == [0, -40, 320, 280]
    frame = np.full((240, 320, 3), 200, np.uint8)
    square = crop_square(frame, box3, 32)
    assert square.shape == (32, 32, 3) and square[0, 16, 0] == 0 and square[16, 16, 0] == 200  # bars of 0
    images, info = depth_images(depth, [0, 2], 48, skeleton=skel)
    assert images.shape == (2, 48, 48, 3) and images.dtype == np.uint8 and info["box_source"] == "skeleton"
    with pytest.raises(InvalidInputError, match="crop must be one of"):
        clip_box(depth, skel, "hands")


def test_depth_positions_follow_the_half_frame_resampling():
    assert depth_positions(30, 30, 8).tolist() == frame_indices(30, 8).tolist()
    for length in (41, 48, 77, 125):
        ramp = np.zeros((length, 1, 2), np.float32)
        ramp[:, 0, 0] = np.arange(length) + 1.0  # x = frame number + 1 (never 0: 0 would be missing)
        resampled = resample_sequence(ramp, length, 30).numpy()[:, 0, 0] - 1.0
        expected = np.floor(resampled[frame_indices(30, 8)] + 0.5)
        np.testing.assert_array_equal(depth_positions(length, 30, 8), expected)


def test_resample_imu():
    samples = np.stack([np.arange(10.0), -np.arange(10.0)], axis=1)
    np.testing.assert_allclose(resample_imu(samples, 10), samples)  # S = N: the identity
    out = resample_imu(samples, 4)  # positions 0.75, 3.25, 5.75, 8.25
    assert out.dtype == np.float32 and out.shape == (4, 2)
    np.testing.assert_allclose(out[:, 0], [0.75, 3.25, 5.75, 8.25])
    np.testing.assert_allclose(resample_imu(samples, 40)[[0, -1], 0], [0.0, 9.0])  # clipped at the ends


# --- conversion ------------------------------------------------------------------------------------
def _split_keys(ds, split: str) -> set[str]:
    return {k.replace(f"_{split}", "_<s>") for k in ds.extras if f"_{split}" in k}


def test_convert_fake(fake_root, tmp_path):
    out = tmp_path / "utd.npz"
    made = convert_utd_mhad(
        fake_root, out, test_subjects=(2,), val_subjects=[3], frames=3, image_size=32, imu_samples=16, progress=False
    )
    ds = load_pose_npz(out)
    assert ds.splits == ("train", "val", "test") and made.splits == ds.splits
    assert ds.layout.name == "kinect_v1" and ds.channels == "xyz" and ds.class_names == ACTIONS
    keys = _split_keys(ds, "train")
    assert keys == _split_keys(ds, "val") == _split_keys(ds, "test")
    assert keys == {
        "subject_<s>",
        "trial_<s>",
        "length_<s>",
        "frames_<s>_jpeg",
        "frames_<s>_offsets",
        "depth_box_<s>",
        "depth_window_<s>",
        "imu_<s>",
        "imu_length_<s>",
    }
    lengths = {s: ds.extras[f"length_{s}"] for s in ds.splits}
    t_max = max(int(v.max()) for v in lengths.values())
    for split, subject in (("train", 1), ("val", 3), ("test", 2)):
        x, y = ds.split(split)
        n = len(y)
        assert n == 4 and x.shape == (n, t_max, 20, 3) and x.dtype == np.float32
        assert ds.extras[f"subject_{split}"].tolist() == [subject] * n
        np.testing.assert_array_equal(y, [0, 0, 1, 1])  # action - 1
        for i, length in enumerate(lengths[split]):
            assert np.all(x[i, length:] == 0) and np.all(np.any(x[i, :length] != 0, axis=(1, 2)))
        frames = decode_clips(ds.extras[f"frames_{split}_jpeg"], ds.extras[f"frames_{split}_offsets"], 3)
        assert frames.shape == (n, 3, 32, 32, 3) and frames.max() > 100
        assert ds.extras[f"imu_{split}"].shape == (n, 16, 6) and ds.extras[f"imu_{split}"].dtype == np.float32
    # the first training clip equals the file it came from
    first = read_skeleton(fake_root / "Skeleton" / "a1_s1_t1_skeleton.mat")
    np.testing.assert_allclose(ds.x_train[0, : lengths["train"][0]], first)
    assert ds.extras["frame_indices"].tolist() == frame_indices(30, 3).tolist()
    assert ds.extras["image_size"].tolist() == [32, 32]
    assert ds.extras["imu_channels"].tolist() == list(IMU_CHANNELS)
    raw = np.concatenate([ds.extras[f"imu_length_{s}"] for s in ds.splits])
    assert float(ds.extras["imu_rate_hz"]) == pytest.approx(50.0 * 16 / np.median(raw))
    info = json.loads(str(ds.extras["conversion_info"]))
    assert info["subjects"] == {"train": [1], "val": [3], "test": [2]} and info["crop"] == "person"
    assert info["depth_boxes"] == {"skeleton": 12}


def test_convert_fake_xy_and_modalities_left_out(fake_root):
    ds = convert_utd_mhad(
        fake_root, test_subjects=[3], channels="xy", frames=0, imu_samples=0, actions=[2], progress=False
    )
    assert ds.channels == "xy" and ds.x_train.shape[-1] == 2 and ds.splits == ("train", "test")
    assert np.all(ds.y_train == 1) and len(ds.y_train) == 4 and len(ds.y_test) == 2
    assert not any(k.startswith(("frames_", "imu", "depth_", "image_size")) for k in ds.extras)
    full = read_skeleton(fake_root / "Skeleton" / "a2_s1_t1_skeleton.mat")
    np.testing.assert_array_equal(ds.x_train[0, : len(full)], full[..., :2])


def test_absent_subjects_and_bad_arguments(fake_root):
    with pytest.raises(InvalidInputError) as info:
        convert_utd_mhad(fake_root, progress=False)  # the standard 2, 4, 6, 8: 4, 6, 8 are absent
    message = str(info.value)
    assert "test subjects [4, 6, 8] are not in the data, which holds subjects [1, 2, 3]" in message
    assert "--test-subjects 2 3" in message and "\n" not in message
    with pytest.raises(InvalidInputError, match=r"validation subjects \[9\] are not in the data"):
        convert_utd_mhad(fake_root, test_subjects=[2], val_subjects=[9], progress=False)
    with pytest.raises(InvalidInputError, match="no training subject is left"):
        convert_utd_mhad(fake_root, test_subjects=[1, 2, 3], progress=False)
    with pytest.raises(InvalidInputError, match="both test and validation"):
        convert_utd_mhad(fake_root, test_subjects=[2], val_subjects=[2], progress=False)
    with pytest.raises(InvalidInputError, match="channels must be one of"):
        convert_utd_mhad(fake_root, test_subjects=[2], channels="xyc", progress=False)
    with pytest.raises(InvalidInputError, match="frames must be an integer >= 0"):
        convert_utd_mhad(fake_root, test_subjects=[2], frames=-1, progress=False)
    with pytest.raises(DataFormatError, match=r"no UTD-MHAD recording for actions \[5\]"):
        convert_utd_mhad(fake_root, test_subjects=[2], actions=[5], progress=False)


def test_real_small_conversion(shared_dir, tmp_path):
    root = shared_file(shared_dir, UTD)
    out = tmp_path / "utd.npz"
    convert_utd_mhad(root, out, test_subjects=(5, 7), actions=(1, 22), frames=4, image_size=48, progress=False)
    ds = load_pose_npz(out)
    assert ds.channels == "xyz" and ds.layout.name == "kinect_v1"
    assert json.loads(str(ds.extras["conversion_info"]))["depth_boxes"] == {"skeleton": 32}  # no fallback
    assert sorted(set(ds.extras["subject_train"].tolist())) == [1, 3]
    assert sorted(set(ds.extras["subject_test"].tolist())) == [5, 7]
    for split in ("train", "test"):
        x, y = ds.split(split)
        assert x.shape[0] == 16 and x.shape[2:] == (20, 3) and sorted(set(y.tolist())) == [0, 21]
        lengths = ds.extras[f"length_{split}"]
        assert lengths.min() >= 41 and x.shape[1] == max(int(ds.extras[f"length_{s}"].max()) for s in ds.splits)
        for i, length in enumerate(lengths):
            assert np.all(x[i, length:] == 0) and np.all(x[i, :length, :, 2] > 1.0)  # z: metres in front
        frames = decode_clips(ds.extras[f"frames_{split}_jpeg"], ds.extras[f"frames_{split}_offsets"], 4)
        assert frames.shape == (16, 4, 48, 48, 3)
        lit = (frames[..., 0] > 0).mean()
        assert 0.05 < lit < 0.6  # the person fills part of the crop, the rest has no reading
        imu = ds.extras[f"imu_{split}"]
        assert imu.shape == (16, 128, 6) and np.all(np.isfinite(imu)) and np.abs(imu).max() > 1.0
