"""SavedModel export: TF Serving layout, named signatures, exact outputs in a fresh process, atomic writes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from har_tf.errors import ExportError, InvalidInputError
from har_tf.export import export_saved_model, make_servable, models_config
from har_tf.export import saved_model as saved_model_module
from har_tf.export.parity import keras_probabilities
from har_tf.export.saved_model import versions
from tests.helpers import EXPORT_CLASSES, EXPORT_F, EXPORT_SIZE, EXPORT_T, export_inputs

# one worker builds this module's exports (pytest -n 2 --dist loadgroup): they are its slowest part
pytestmark = pytest.mark.xdist_group("test_saved_model")


@pytest.fixture(scope="module")
def pose_export(tiny_pose_classifier, tmp_path_factory):
    servable = make_servable(tiny_pose_classifier)
    base = tmp_path_factory.mktemp("exports") / "har_pose"
    path = export_saved_model(servable, base, samples=export_inputs(frames=False))
    return servable, base, path


@pytest.fixture(scope="module")
def fusion_export(tiny_fusion_model, tmp_path_factory):
    servable = make_servable(tiny_fusion_model)
    base = tmp_path_factory.mktemp("exports") / "har_fusion"
    return servable, base, export_saved_model(servable, base, samples=export_inputs())


def test_tf_serving_layout_and_models_config(pose_export):
    _, base, path = pose_export
    assert path == base / "1" and (path / "saved_model.pb").is_file() and (path / "variables").is_dir()
    assert versions(base) == [1]
    assert not [p for p in base.iterdir() if p.name.startswith(".")]  # no temporary folder left
    config = (base / "models.config").read_text()
    assert 'name: "har_pose"' in config and 'base_path: "/models/har_pose"' in config
    assert config == models_config("har_pose", "/models/har_pose")
    info = json.loads((path / "assets.extra" / "export_info.json").read_text())
    assert info["class_names"] == list(EXPORT_CLASSES) and info["pose_shape"] == [EXPORT_T, 17, 3]
    assert info["parity"]["serving_default"]["top1_agreement"] == 1.0


def test_signatures_have_named_inputs_and_outputs_and_a_dynamic_batch(pose_export, fusion_export):
    for (_, _, path), frames in ((pose_export, False), (fusion_export, True)):
        loaded = tf.saved_model.load(str(path))
        assert set(loaded.signatures) == {"serving_default", "pose_only", "topk"}
        inputs = loaded.signatures["serving_default"].structured_input_signature[1]
        assert set(inputs) == ({"pose", "frames"} if frames else {"pose"})
        assert inputs["pose"].shape.as_list() == [None, EXPORT_T, 17, 3] and inputs["pose"].dtype == tf.float32
        if frames:
            assert inputs["frames"].shape.as_list() == [None, EXPORT_F, EXPORT_SIZE, EXPORT_SIZE, 3]
            assert inputs["frames"].dtype == tf.uint8
        assert set(loaded.signatures["pose_only"].structured_input_signature[1]) == {"pose"}
        outputs = loaded.signatures["serving_default"].structured_outputs
        assert set(outputs) == {"probabilities"} and outputs["probabilities"].shape.as_list() == [None, 4]
        assert set(loaded.signatures["topk"].structured_outputs) == {"class_ids", "class_names", "scores"}


def test_outputs_equal_the_keras_model_in_a_fresh_process(fusion_export, tmp_path):
    servable, _, path = fusion_export
    inputs = export_inputs(n=5, seed=3)
    np.savez(tmp_path / "inputs.npz", **inputs)
    code = f"""
import numpy as np, tensorflow as tf
inputs = dict(np.load({str(tmp_path / "inputs.npz")!r}, allow_pickle=False))
loaded = tf.saved_model.load({str(path)!r})
fused = loaded.signatures["serving_default"](pose=tf.constant(inputs["pose"]), frames=tf.constant(inputs["frames"]))
pose_only = loaded.signatures["pose_only"](pose=tf.constant(inputs["pose"]))
np.savez({str(tmp_path / "out.npz")!r}, fused=fused["probabilities"].numpy(),
         pose_only=pose_only["probabilities"].numpy())
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = np.load(tmp_path / "out.npz", allow_pickle=False)
    np.testing.assert_allclose(out["fused"], keras_probabilities(servable.full, inputs), atol=1e-5, rtol=0)
    np.testing.assert_allclose(out["pose_only"], keras_probabilities(servable.pose_only, inputs), atol=1e-5, rtol=0)


def test_topk_signature_returns_class_names_best_first(pose_export):
    servable, _, path = pose_export
    inputs = export_inputs(n=6, seed=4, frames=False)
    out = tf.saved_model.load(str(path)).signatures["topk"](pose=tf.constant(inputs["pose"]))
    probabilities = keras_probabilities(servable.full, inputs)
    ids = out["class_ids"].numpy()
    assert ids.shape == (6, 4)  # k = 5 capped at the 4 classes
    np.testing.assert_array_equal(ids[:, 0], probabilities.argmax(1))
    assert [n.decode() for n in out["class_names"].numpy()[0]] == [EXPORT_CLASSES[i] for i in ids[0]]
    scores = out["scores"].numpy()
    assert np.all(np.diff(scores, axis=1) <= 0)
    np.testing.assert_allclose(scores, np.take_along_axis(probabilities, ids, 1), atol=1e-5)


def test_versions_are_numbered_and_never_overwritten_without_force(tiny_pose_classifier, tmp_path):
    servable = make_servable(tiny_pose_classifier)
    base = tmp_path / "har"
    assert export_saved_model(servable, base).name == "1"
    assert export_saved_model(servable, base).name == "2"
    stamp = (base / "1" / "saved_model.pb").stat().st_mtime_ns
    with pytest.raises(ExportError, match="already exists.*--force"):
        export_saved_model(servable, base, version=1)
    assert (base / "1" / "saved_model.pb").stat().st_mtime_ns == stamp
    assert export_saved_model(servable, base, version=1, force=True).name == "1"
    assert versions(base) == [1, 2] and not [p for p in base.iterdir() if p.name.startswith(".")]
    with pytest.raises(InvalidInputError, match="positive integer"):
        export_saved_model(servable, base, version=0)


def test_a_failure_mid_export_leaves_no_version_folder(tiny_pose_classifier, tmp_path, monkeypatch):
    servable = make_servable(tiny_pose_classifier)
    base = tmp_path / "har"
    export_saved_model(servable, base)
    before = sorted(p.name for p in base.iterdir())

    def broken_parity(*args, **kwargs):
        raise ExportError("simulated crash after the SavedModel was written")

    monkeypatch.setattr(saved_model_module, "saved_model_parity", broken_parity)
    with pytest.raises(ExportError, match="simulated"):
        export_saved_model(servable, base, samples=export_inputs(frames=False))
    with pytest.raises(ExportError, match="simulated"):
        export_saved_model(servable, base, samples=export_inputs(frames=False), version=1, force=True)
    assert sorted(p.name for p in base.iterdir()) == before  # no "2", no temporary folder, "1" kept
    assert (base / "1" / "saved_model.pb").is_file()


def test_parity_below_the_threshold_fails_loudly_and_writes_nothing(tiny_pose_classifier, tmp_path, monkeypatch):
    import har_tf.export.saved_model as saved_model

    failing = {"top1_agreement": 0.5, "num_samples": 24, "min_agreement": 0.99, "max_abs_diff": 0.3, "passed": False}
    monkeypatch.setattr(saved_model, "saved_model_parity", lambda *args: {"serving_default": failing})
    with pytest.raises(ExportError, match="top-1 agreement .* under the required"):
        export_saved_model(make_servable(tiny_pose_classifier), tmp_path / "har", samples=export_inputs(frames=False))
    assert versions(tmp_path / "har") == []


def test_a_threshold_outside_0_1_is_refused_before_the_export(tiny_pose_classifier, tmp_path):
    with pytest.raises(
        InvalidInputError, match=r"min_agreement \(--min-agreement\) must be a share in \[0, 1\], got 1.01"
    ):
        export_saved_model(make_servable(tiny_pose_classifier), tmp_path / "har", min_agreement=1.01)
    assert not (tmp_path / "har").exists()


def test_a_model_of_another_kind_is_refused():
    import keras

    with pytest.raises(InvalidInputError, match="PoseClassifier or a MultiModalFusionModel"):
        make_servable(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
