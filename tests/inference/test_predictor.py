"""HARPredictor: one API and the same answers over .keras, SavedModel and .tflite, with clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from har_tf.errors import DataFormatError, InvalidInputError, MissingFileError
from har_tf.export import export_saved_model, export_tflite, make_servable
from har_tf.export.parity import keras_probabilities
from har_tf.inference import ClassScores, HARPredictor, resolve_device
from tests.helpers import EXPORT_CLASSES, export_inputs

pytestmark = pytest.mark.xdist_group("test_predictor")  # one worker builds the module's exports once


@pytest.fixture(scope="module")
def fusion_files(tiny_fusion_model, tmp_path_factory):
    """The tiny fusion model as .keras, as a TF Serving folder and as .tflite (fp32)."""
    folder = tmp_path_factory.mktemp("predictor")
    tiny_fusion_model.save(folder / "fusion.keras")
    servable = make_servable(tiny_fusion_model)
    export_saved_model(servable, folder / "serving")
    export_tflite(servable, folder / "fusion.tflite", samples=export_inputs(n=4))
    return {
        "keras": folder / "fusion.keras",
        "savedmodel": folder / "serving",
        "tflite": folder / "fusion.tflite",
        "servable": servable,
    }


@pytest.mark.parametrize("fmt", ["keras", "savedmodel", "tflite"])
def test_every_format_gives_the_keras_answers(fusion_files, fmt):
    predictor = HARPredictor.load(fusion_files[fmt], device="cpu")
    servable = fusion_files["servable"]
    inputs = export_inputs(n=5, seed=7)
    assert predictor.format == fmt and predictor.class_names == EXPORT_CLASSES and predictor.takes_frames
    fused = keras_probabilities(servable.full, inputs)
    np.testing.assert_allclose(predictor.predict_proba(inputs["pose"], inputs["frames"]), fused, atol=1e-5)
    predictor.batch_size = 2  # 5 clips run as 2 + 2 + 1 (bounded memory), the same answers in the same order
    np.testing.assert_allclose(predictor.predict_proba(inputs["pose"], inputs["frames"]), fused, atol=1e-5)
    # no frames: the pose branch answers (the missing-modality fall-back)
    np.testing.assert_allclose(
        predictor.predict_proba(inputs["pose"]), keras_probabilities(servable.pose_only, inputs), atol=1e-5
    )
    one = predictor.predict_proba(inputs["pose"][0], inputs["frames"][0])
    assert one.shape == (len(EXPORT_CLASSES),)


def test_topk_and_threshold_rank_the_classes(fusion_files):
    predictor = HARPredictor.load(fusion_files["savedmodel"], device="cpu")
    inputs = export_inputs(n=3, seed=8)
    probabilities = predictor.predict_proba(inputs["pose"], inputs["frames"])
    best = predictor.topk(inputs["pose"], inputs["frames"], k=2)
    assert len(best) == 3 and all(isinstance(b, ClassScores) and len(b) == 2 for b in best)
    for row, p in zip(best, probabilities):
        assert row.class_ids[0] == int(p.argmax()) and row.class_names[0] == EXPORT_CLASSES[int(p.argmax())]
        assert row.scores[0] >= row.scores[1] and row.scores[0] == pytest.approx(float(p.max()))
    kept = predictor.threshold(inputs["pose"], inputs["frames"], thr=0.2)
    for row, p in zip(kept, probabilities):
        assert set(row.class_ids) == {int(i) for i in np.flatnonzero(p >= 0.2)}
    single = predictor.topk(inputs["pose"][0], k=10)  # k above the class count: every class, ranked
    assert isinstance(single, ClassScores) and len(single) == len(EXPORT_CLASSES)
    assert single.to_dict()["class_names"] == list(single.class_names)


def test_a_pose_classifier_takes_raw_pixel_poses(tiny_pose_classifier, tmp_path):
    tiny_pose_classifier.save(tmp_path / "pose.keras")
    predictor = HARPredictor.load(tmp_path / "pose.keras")
    inputs = export_inputs(n=4, seed=9, frames=False)
    from har_tf.data.preprocessing import normalize_pose, sanitize

    normalized = normalize_pose(sanitize(inputs["pose"]), "coco17").numpy()
    np.testing.assert_allclose(
        predictor.predict_proba(inputs["pose"]), tiny_pose_classifier.predict(normalized, verbose=0), atol=1e-6
    )
    assert not predictor.takes_frames
    with pytest.raises(InvalidInputError, match="pose-only model: it takes no frames"):
        predictor.predict_proba(inputs["pose"], export_inputs(n=4)["frames"])


def test_bad_inputs_and_paths_get_clear_errors(fusion_files, tmp_path):
    predictor = HARPredictor.load(fusion_files["tflite"])
    inputs = export_inputs(n=2)
    with pytest.raises(InvalidInputError, match=r"pose has T = 5 frames but the model takes T = 8"):
        predictor.predict_proba(inputs["pose"][:, :5])
    with pytest.raises(InvalidInputError, match="frames must be uint8"):
        predictor.predict_proba(inputs["pose"], inputs["frames"][:1])
    with pytest.raises(InvalidInputError, match=r"\[0, 255\]"):
        predictor.predict_proba(inputs["pose"], inputs["frames"].astype(np.int32) - 300)
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        predictor.topk(inputs["pose"], k=0)
    with pytest.raises(InvalidInputError, match="threshold must be a probability"):
        predictor.threshold(inputs["pose"], thr=2.0)
    with pytest.raises(MissingFileError, match="no model at"):
        HARPredictor.load(tmp_path / "missing.keras")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="neither a SavedModel"):
        HARPredictor.load(tmp_path / "empty")
    (tmp_path / "model.onnx").write_bytes(b"x")
    with pytest.raises(DataFormatError, match="expected a .keras file"):
        HARPredictor.load(tmp_path / "model.onnx")


def test_device_choice():
    assert resolve_device("cpu") == "/CPU:0"
    assert resolve_device("auto") in ("/CPU:0", "/GPU:0")
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        with pytest.raises(InvalidInputError, match="sees 0 GPU"):
            resolve_device("gpu")
    with pytest.raises(InvalidInputError, match="device must be"):
        resolve_device("tpu")


def test_files_without_their_export_info_still_load(fusion_files, tmp_path):
    import shutil

    bare = tmp_path / "bare.tflite"
    shutil.copy(fusion_files["tflite"], bare)  # no .json beside it: shapes from the file, classes by index
    predictor = HARPredictor.load(bare)
    assert predictor.class_names == ("0", "1", "2", "3") and predictor.spec.frames_shape == (3, 48, 48, 3)
    copy = tmp_path / "sm"
    shutil.copytree(fusion_files["savedmodel"] / "1", copy)
    shutil.rmtree(copy / "assets.extra")
    assert HARPredictor.load(copy).spec.pose_shape == (8, 17, 3)
