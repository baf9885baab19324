"""Object detectors on tiny local models (a TF OD API-style SavedModel and an SSD-style TFLite, both built
here), annotations as a detector, and the step to the raw (T, K, 6) objects."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import tensorflow as tf

from har_tf.data.detections import write_detections_folder
from har_tf.data.objects import check_objects_batch
from har_tf.errors import InvalidInputError, MissingFileError
from har_tf.inference.detection import (
    COCO_LABELS,
    AnnotationDetector,
    Detections,
    SavedModelDetector,
    TFLiteDetector,
    class_map_by_name,
    detect_objects,
    detections_to_objects,
    make_detector,
)

NAMES = ("none", "cup", "phone", "book", "tablet", "box")  # a dataset's object classes
H, W = 120, 160
RECT = (40, 30, 80, 60)  # x1, y1, x2, y2 of the white rectangle (pixels 40..79 x 30..59)


def _frame(rect=RECT, height=H, width=W) -> np.ndarray:
    frame = np.zeros((height, width, 3), np.uint8)
    x1, y1, x2, y2 = rect
    frame[y1:y2, x1:x2] = 255
    return frame


def _bright_box(image, float_input: bool = False):
    """Normalised [ymin, xmin, ymax, xmax] of the pixels brighter than 200 (the tiny detector's "object")."""
    img = tf.cast(image[0], tf.float32)
    if float_input:
        img = (img + 1.0) * 127.5
    mask = tf.reduce_max(img, axis=-1) > 200.0
    h, w = tf.cast(tf.shape(mask)[0], tf.float32), tf.cast(tf.shape(mask)[1], tf.float32)
    rows = tf.cast(tf.reduce_any(mask, axis=1), tf.float32)
    cols = tf.cast(tf.reduce_any(mask, axis=0), tf.float32)
    y0, x0 = tf.cast(tf.argmax(rows), tf.float32), tf.cast(tf.argmax(cols), tf.float32)
    y1 = h - tf.cast(tf.argmax(tf.reverse(rows, [0])), tf.float32)
    x1 = w - tf.cast(tf.argmax(tf.reverse(cols, [0])), tf.float32)
    return tf.stack([y0 / h, x0 / w, y1 / h, x1 / w])


def _raw_outputs(image, float_input: bool = False):
    """5 slots, 4 counted: the bright box (cup, 0.9), the whole image (person, 0.6), the bottom-right
    quarter (cell phone, 0.45), a small box (bottle, 0.2); the 5th (score 0.99) is past num_detections."""
    boxes = tf.stack(
        [
            tf.constant([0.0, 0.0, 1.0, 1.0]),
            _bright_box(image, float_input),
            tf.constant([0.5, 0.5, 0.75, 1.0]),
            tf.constant([0.1, 0.1, 0.2, 0.2]),
            tf.constant([0.0, 0.0, 0.5, 0.5]),
        ]
    )[None]
    classes = tf.constant([[1.0, 47.0, 77.0, 44.0, 3.0]])  # COCO ids: person, cup, cell phone, bottle, car
    scores = tf.constant([[0.6, 0.9, 0.45, 0.2, 0.99]])
    return boxes, classes, scores, tf.constant([4.0])


# --- the tiny models -------------------------------------------------------------------------
class _ODModule(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8, name="input_tensor")])
    def detect(self, input_tensor):
        boxes, classes, scores, num = _raw_outputs(input_tensor)
        return {
            "detection_boxes": boxes,
            "detection_classes": classes,
            "detection_scores": scores,
            "num_detections": num,
        }


class _NotADetector(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8)])
    def classify(self, image):
        return {"logits": tf.reduce_mean(tf.cast(image, tf.float32), axis=[1, 2])}


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("saved_models")
    module, other = _ODModule(), _NotADetector()
    tf.saved_model.save(module, str(root / "detector"), signatures={"serving_default": module.detect})
    tf.saved_model.save(other, str(root / "classifier"), signatures={"serving_default": other.classify})
    return root


@pytest.fixture(scope="module")
def detector(saved_models):
    return SavedModelDetector(saved_models / "detector", class_names=COCO_LABELS)


def _tflite(path, dtype=tf.uint8, size=64, order=("boxes", "classes", "scores", "count"), labels=None):
    """An SSD-style .tflite (0-based raw classes, as TFLite detectors give) with its outputs in ``order``."""

    @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], dtype)])
    def detect(image):
        boxes, classes, scores, count = _raw_outputs(image, float_input=dtype == tf.float32)
        found = {"boxes": boxes, "classes": classes - 1.0, "scores": scores, "count": count}
        return tuple(found[name] for name in order)

    converter = tf.lite.TFLiteConverter.from_concrete_functions([detect.get_concrete_function()], detect)
    content = converter.convert()
    if labels is not None:  # metadata-style labels file: a zip appended to the flatbuffer
        packed = io.BytesIO()
        with zipfile.ZipFile(packed, "w") as archive:
            archive.writestr("labelmap.txt", "\n".join(labels) + "\n")
        content += packed.getvalue()
    path.write_bytes(content)
    return path


@pytest.fixture(scope="module")
def tflite_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tflite")
    _tflite(root / "uint8.tflite")
    _tflite(root / "float.tflite", dtype=tf.float32)
    _tflite(root / "shuffled.tflite", order=("scores", "count", "boxes", "classes"))
    _tflite(root / "labelled.tflite", labels=[name or "???" for name in COCO_LABELS[1:]])

    @tf.function(input_signature=[tf.TensorSpec([1, 32, 32, 3], tf.uint8)])
    def classify(image):
        return tf.reduce_mean(tf.cast(image, tf.float32), axis=[1, 2])

    content = tf.lite.TFLiteConverter.from_concrete_functions([classify.get_concrete_function()], classify).convert()
    (root / "classifier.tflite").write_bytes(content)
    return root


# --- SavedModel ------------------------------------------------------------------------------
def test_saved_model_boxes_in_frame_pixels_best_first(detector):
    found = detector(_frame())
    assert isinstance(found, Detections)
    assert found.boxes.dtype == np.float32 and found.scores.dtype == np.float32
    np.testing.assert_allclose(found.scores, [0.9, 0.6, 0.45], rtol=1e-6)  # 0.2 < min_score, slot 5 not counted
    assert found.classes.tolist() == [47, 1, 77] and found.labels() == ["cup", "person", "cell phone"]
    np.testing.assert_allclose(found.boxes, [RECT, [0, 0, W, H], [W / 2, H / 2, W, 0.75 * H]], atol=1e-3)
    assert found.names == COCO_LABELS and detector.class_names == COCO_LABELS


def test_saved_model_follows_the_content_at_any_frame_size(detector):
    rect = (150, 10, 190, 25)
    found = detector(_frame(rect, height=90, width=200))
    np.testing.assert_allclose(found.boxes[0], rect, atol=1e-3)
    np.testing.assert_allclose(found.boxes[1], [0, 0, 200, 90], atol=1e-3)


def test_saved_model_min_score_and_max_detections(saved_models):
    path = saved_models / "detector"
    assert SavedModelDetector(path, min_score=0.1)(_frame()).classes.tolist() == [47, 1, 77, 44]
    assert SavedModelDetector(path, min_score=0.5)(_frame()).classes.tolist() == [47, 1]
    assert SavedModelDetector(path, min_score=0.0, max_detections=2)(_frame()).classes.tolist() == [47, 1]
    unnamed = SavedModelDetector(path)
    assert unnamed.class_names == ("none",) and unnamed(_frame()).names is None
    assert unnamed(_frame()).labels()[0] == "class_47"
    with pytest.raises(InvalidInputError, match=r"min_score must be a number in \[0, 1\]"):
        SavedModelDetector(path, min_score=2)
    with pytest.raises(InvalidInputError, match="max_detections"):
        SavedModelDetector(path, max_detections=0)
    with pytest.raises(InvalidInputError, match="first name must be 'none'"):
        SavedModelDetector(path, class_names=["person", "bicycle"])


def test_saved_model_errors(saved_models, tmp_path):
    with pytest.raises(MissingFileError, match="no such SavedModel directory"):
        SavedModelDetector(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(InvalidInputError, match=r"is not a SavedModel: expected a directory holding saved_model.pb"):
        SavedModelDetector(tmp_path)
    with pytest.raises(InvalidInputError, match=r"is not a SavedModel"):
        SavedModelDetector(tmp_path / "notes.txt")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "saved_model.pb").write_bytes(b"\x00garbage")
    with pytest.raises(InvalidInputError, match="cannot load the SavedModel"):
        SavedModelDetector(tmp_path / "broken")
    with pytest.raises(InvalidInputError, match=r"not an object detection SavedModel.*got \['logits'\]"):
        SavedModelDetector(saved_models / "classifier")


def test_bad_frames_are_refused(detector, tflite_dir):
    tflite = TFLiteDetector(tflite_dir / "uint8.tflite")
    for model in (detector, tflite):
        with pytest.raises(InvalidInputError, match="uint8"):
            model(np.zeros((H, W, 3), np.float32))
        with pytest.raises(InvalidInputError, match=r"\(H, W, 3\)"):
            model(np.zeros((H, W), np.uint8))
        with pytest.raises(InvalidInputError, match="numpy array"):
            model([[0, 0, 0]])


def test_hub_handles_resolve_through_tensorflow_hub(saved_models, monkeypatch):
    import tensorflow_hub

    asked = []
    local = str(saved_models / "detector")
    monkeypatch.setattr(tensorflow_hub, "resolve", lambda handle: asked.append(handle) or local)
    handle = "https://www.kaggle.com/models/tensorflow/ssd-mobilenet-v2/TensorFlow2/ssd-mobilenet-v2/1"
    found = make_detector(handle, class_names=COCO_LABELS)(_frame())
    assert asked == [handle] and found.classes.tolist() == [47, 1, 77]


# --- TFLite ----------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["uint8.tflite", "float.tflite", "shuffled.tflite"])
def test_tflite_boxes_map_back_to_frame_pixels(tflite_dir, model):
    detector = TFLiteDetector(tflite_dir / model, class_names=COCO_LABELS)
    assert detector.input_width == detector.input_height == 64
    found = detector(_frame())
    assert found.classes.tolist() == [47, 1, 77]  # raw 0-based ids + class_offset 1
    np.testing.assert_allclose(found.scores, [0.9, 0.6, 0.45], rtol=1e-6)
    np.testing.assert_allclose(found.boxes[0], RECT, atol=W / 64 + 0.5)  # within one model pixel
    np.testing.assert_allclose(found.boxes[1:], [[0, 0, W, H], [W / 2, H / 2, W, 0.75 * H]], atol=1e-3)
    rect = (10, 70, 50, 110)
    np.testing.assert_allclose(detector(_frame(rect)).boxes[0], rect, atol=W / 64 + 0.5)


def test_tflite_letterbox_keeps_the_aspect(tflite_dir):
    detector = TFLiteDetector(tflite_dir / "uint8.tflite", letterbox=True, min_score=0.5)
    found = detector(_frame())
    np.testing.assert_allclose(found.boxes[0], RECT, atol=W / 64 + 0.5)
    # the whole square maps past the frame (the grey bars) and is clipped to it
    np.testing.assert_allclose(found.boxes[1], [0, 0, W, H], atol=1e-3)
    assert found.classes.tolist() == [47, 1]


def test_tflite_limits_labels_and_offset(tflite_dir):
    path = tflite_dir / "uint8.tflite"
    assert TFLiteDetector(path, min_score=0.1).class_names == ("none",)
    assert TFLiteDetector(path, min_score=0.1)(_frame()).classes.tolist() == [47, 1, 77, 44]
    assert TFLiteDetector(path, max_detections=1)(_frame()).classes.tolist() == [47]
    assert TFLiteDetector(path, class_offset=0)(_frame()).classes.tolist() == [46, 76]  # raw 0 (person) dropped
    labelled = TFLiteDetector(tflite_dir / "labelled.tflite")
    assert labelled.class_names == COCO_LABELS  # from the labels file packed in the model
    assert labelled(_frame()).labels() == ["cup", "person", "cell phone"]


def test_tflite_errors(tflite_dir, tmp_path):
    with pytest.raises(MissingFileError, match="no such model file"):
        TFLiteDetector(tmp_path / "missing.tflite")
    (tmp_path / "fake.tflite").write_bytes(b"not a flatbuffer")
    with pytest.raises(InvalidInputError, match="not a TFLite model"):
        TFLiteDetector(tmp_path / "fake.tflite")
    with pytest.raises(
        InvalidInputError,
        match=r"not an SSD-style detector: "
        r"expected 4 outputs .*got shapes \[\[1, 3\]\]",
    ):
        TFLiteDetector(tflite_dir / "classifier.tflite")


def test_make_detector_picks_the_kind(saved_models, tflite_dir, tmp_path):
    assert isinstance(make_detector(tflite_dir / "uint8.tflite"), TFLiteDetector)
    assert isinstance(make_detector(str(saved_models / "detector")), SavedModelDetector)
    annotations = AnnotationDetector([None])
    assert make_detector(annotations) is annotations
    with pytest.raises(MissingFileError, match="no such model file"):
        make_detector(tmp_path / "gone.tflite")
    with pytest.raises(MissingFileError, match="expected a .tflite file, a SavedModel directory or a TF Hub"):
        make_detector(tmp_path / "gone")
    with pytest.raises(InvalidInputError, match="is not a SavedModel"):
        make_detector(tmp_path)
    with pytest.raises(InvalidInputError, match="got int"):
        make_detector(3)


# --- annotations as a detector ---------------------------------------------------------------
def test_annotation_detector_returns_frame_by_frame(tmp_path):
    objects = np.zeros((3, 2, 6), np.float32)
    objects[0, 0] = [1, 1, 2, 3, 4, 0.8]
    objects[2] = [[2, 5, 5, 9, 9, 0.7], [3, 0, 0, 1, 1, 0.4]]
    annotations = AnnotationDetector.from_objects(objects, NAMES)
    assert len(annotations) == 3 and annotations.class_names == NAMES
    got = [annotations(_frame()), annotations(), annotations(None)]
    assert [d.labels() for d in got] == [["cup"], [], ["phone", "book"]]
    with pytest.raises(InvalidInputError, match="hold 3 frames and all were used"):
        annotations()
    annotations.reset()
    with pytest.raises(InvalidInputError, match="uint8"):
        annotations(np.zeros((4, 4, 3)))
    np.testing.assert_array_equal(detections_to_objects(got, 2), objects)
    write_detections_folder(objects, NAMES, tmp_path, "clip")
    from_files = AnnotationDetector.from_folder(tmp_path, NAMES)
    np.testing.assert_array_equal(detect_objects(from_files, [_frame()] * 3, 2), objects)


# --- detections -> (T, K, 6) -----------------------------------------------------------------
def _dets(rows, names=None) -> Detections:
    rows = np.asarray(rows, np.float32).reshape(-1, 6)
    return Detections(rows[:, 1:5], rows[:, 0], rows[:, 5], names)


def test_detections_to_objects_orders_pads_and_truncates():
    frames = [
        _dets([[2, 0, 0, 1, 1, 0.3], [1, 5, 5, 6, 6, 0.9], [3, 2, 2, 3, 3, 0.6]]),
        None,
        _dets([[4, 1, 1, 2, 2, 0.5]]),
        Detections.empty(),
    ]
    objects = detections_to_objects(frames, max_objects=2)
    assert objects.dtype == np.float32 and objects.shape == (4, 2, 6)
    best_two = np.float32([[1, 5, 5, 6, 6, 0.9], [3, 2, 2, 3, 3, 0.6]])  # by score
    np.testing.assert_array_equal(objects[0], best_two)
    assert not objects[1].any() and not objects[3].any()
    np.testing.assert_array_equal(objects[2], np.float32([[4, 1, 1, 2, 2, 0.5], [0] * 6]))  # empty slots are zeros
    assert check_objects_batch(objects, num_frames=4, num_classes=5, max_objects=2).shape == (1, 4, 2, 6)
    with pytest.raises(InvalidInputError, match="max_objects"):
        detections_to_objects(frames, 0)
    with pytest.raises(InvalidInputError, match="one Detections"):
        detections_to_objects([np.zeros((2, 6))], 2)


def test_detections_to_objects_maps_and_drops_classes():
    frame = _dets([[47, 0, 0, 1, 1, 0.9], [1, 0, 0, 9, 9, 0.95], [77, 2, 2, 3, 3, 0.5], [84, 4, 4, 5, 5, 0.4]])
    objects = detections_to_objects([frame], 3, class_map={47: 1, 77: 2, 84: 3})  # the person (1) is not mapped
    np.testing.assert_array_equal(objects[0, :, 0], [1, 2, 3])
    np.testing.assert_allclose(objects[0, :, 5], [0.9, 0.5, 0.4])
    assert not detections_to_objects([frame], 3, class_map={}).any()
    with pytest.raises(InvalidInputError, match="class_map must be a dict of detector class id -> dataset class id"):
        detections_to_objects([frame], 3, class_map={47: "cup"})


def test_person_box_puts_nearby_objects_first():
    frame = _dets(
        [
            [1, 300, 300, 320, 320, 0.95],  # far from the person, best score
            [2, 90, 40, 110, 60, 0.5],  # overlaps the person's box (in the hand)
            [3, 150, 40, 160, 50, 0.6],  # 50 px to the right
            [4, 100, 100, 105, 105, 0.7],
        ]
    )  # inside the box too: ties by score
    person = np.array([[0, 0, 100, 120], [0, 0, 0, 0]], np.float32)  # frame 2: nobody seen -> by score
    objects = detections_to_objects([frame, frame], 3, person_box=person)
    assert objects[0, :, 0].tolist() == [4, 2, 3]
    assert objects[1, :, 0].tolist() == [1, 4, 3]
    with pytest.raises(InvalidInputError, match=r"person_box must be \(T, 4\) = \(2, 4\)"):
        detections_to_objects([frame, frame], 3, person_box=np.zeros(4))


def test_detect_objects_end_to_end_passes_the_objects_check(detector):
    class_map = class_map_by_name(detector.class_names, NAMES)
    assert class_map == {47: 1, 77: 2, 84: 3}
    frames = [_frame(), _frame((0, 0, 10, 10)), np.zeros((H, W, 3), np.uint8)]
    objects = detect_objects(detector, frames, max_objects=4, class_map=class_map)
    assert objects.shape == (3, 4, 6)
    checked = check_objects_batch(objects, num_frames=3, num_classes=len(NAMES), max_objects=4)[0]
    np.testing.assert_allclose(checked[0, :2], [[1, *RECT, 0.9], [2, W / 2, H / 2, W, 0.75 * H, 0.45]], atol=1e-3)
    np.testing.assert_allclose(checked[1, 0, 1:5], [0, 0, 10, 10], atol=1e-3)
    assert not checked[:, 2:].any()


def test_class_map_by_name():
    detector_names = ("background", "Mug", "mobile_phone", "laptop", "Book", "???", "cardboard-box", "bottle")
    assert class_map_by_name(detector_names, NAMES) == {1: 1, 2: 2, 4: 3, 6: 5}  # laptop is not a tablet
    assert class_map_by_name(COCO_LABELS, ("none", "cell phone", "laptop"))[77] == 1
    assert 73 not in class_map_by_name(COCO_LABELS, NAMES)
    with pytest.raises(InvalidInputError, match="none of the detector's 3 classes matches"):
        class_map_by_name(("none", "car", "bus", "truck"), NAMES)
    with pytest.raises(InvalidInputError, match="label names are unknown"):
        class_map_by_name(("none",), NAMES)
    with pytest.raises(InvalidInputError, match="dataset object class names must start with 'none'"):
        class_map_by_name(COCO_LABELS, NAMES[1:])
