"""Object boxes: class activation map geometry and the plug-in YOLO-style detector."""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

from transforms.stages.local.label_hierarchy import class_label
from transforms.stages.local.objects import (
    PluginDetector,
    cam_box,
    cam_objects,
    class_groups,
    crop_region,
    face_objects,
)


def test_box_surrounds_the_hot_region__cam_with_one_peak():
    cam = np.zeros((7, 7), np.float32)
    cam[2:4, 4:6] = 5.0
    cam[6, 0] = 0.5  # weak, disconnected: not part of the object
    x0, y0, x1, y1 = cam_box(cam)
    # the hot cells' centres are inside; the box ends within a cell of them (bilinear upsampling)
    assert 3 / 7 <= x0 <= 4.5 / 7 and 5.5 / 7 <= x1 <= 1.0
    assert 1 / 7 <= y0 <= 2.5 / 7 and 3.5 / 7 <= y1 <= 5 / 7


def test_no_box__cam_without_positive_evidence():
    assert cam_box(-np.ones((7, 7), np.float32)) is None


def _cam_inputs(index):
    probs = np.full(1000, 0.1 / 999)
    probs[index] = 0.9
    features = np.zeros((8, 7, 7), np.float32)
    features[:, 2:4, 2:4] = 1.0
    fc = np.ones((1000, 8), np.float32)
    return probs, features, fc


def test_object_boxed__class_activation_of_a_thing():
    objs = cam_objects(*_cam_inputs(883), (640, 480))   # a vase
    assert [o["name"] for o in objs] == ["Vase"]


def test_no_box_for_a_place__class_activation_of_a_valley():
    # a view is no object: the Vision API never boxes a Valley, a Mountain or a Beach
    for place in (979, 970, 978):   # valley, alp, seashore
        assert cam_objects(*_cam_inputs(place), (640, 480)) == []


def test_crop_is_centred_and_inside__wide_image():
    x0, y0, x1, y1 = crop_region((800, 400))
    assert (x0, y0) > (0.0, 0.0) and x1 < 1.0 and y1 < 1.0
    assert abs((x0 + x1) / 2 - 0.5) < 0.01 and abs((y0 + y1) / 2 - 0.5) < 0.01


def test_face_boxes_are_normalised_and_clamped__face_past_the_edge():
    (obj,) = face_objects([{"box": [-10, 20, 110, 60], "confidence": 0.9}], (100, 100))
    xs = [v["x"] for v in obj["boundingPoly"]["normalizedVertices"]]
    assert obj["name"] == "Face" and min(xs) == 0.0 and max(xs) == 1.0


def _tiny_detector(path):
    """A 64x64 'detector' with two candidates and classes bright/dark scored by the image's mean."""
    boxes = np.array([[32, 48], [32, 48], [32, 8], [16, 8]], np.float32)   # cx, cy, w, h x 2 candidates
    a = np.array([[1.0, 0.2], [0.0, 0.0]], np.float32)  # bright: candidate 0 strongly, 1 weakly
    b = np.array([[0.0, 0.0], [1.0, 0.0]], np.float32)  # dark: candidate 0
    inits = [numpy_helper.from_array(v, n) for v, n in
             ((boxes, "boxes"), (a, "a"), (b, "b"), (np.array(1.0, np.float32), "one"),
              (np.array([0], np.int64), "axis0"))]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Sub", ["one", "m"], ["inv"]),
        helper.make_node("Mul", ["m", "a"], ["sa"]),
        helper.make_node("Mul", ["inv", "b"], ["sb"]),
        helper.make_node("Add", ["sa", "sb"], ["scores"]),
        helper.make_node("Concat", ["boxes", "scores"], ["pred"], axis=0),
        helper.make_node("Unsqueeze", ["pred", "axis0"], ["output0"]),
    ]
    graph = helper.make_graph(nodes, "tiny",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
                              [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 6, 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    helper.set_model_props(model, {"names": "{0: 'bright', 1: 'dark'}"})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    return PluginDetector(_tiny_detector(tmp_path_factory.mktemp("det") / "tiny.onnx"), threads=1)


def test_letterboxed_box_maps_back_to_the_image__wide_bright_image(detector):
    (obj,) = detector.detect(Image.new("RGB", (128, 64), (255, 255, 255)))
    assert obj["name"] == "bright" and obj["score"] > 0.5  # grey letterbox bars lower the mean
    v = obj["boundingPoly"]["normalizedVertices"]
    corners = [round(v[0]["x"], 3), round(v[0]["y"], 3), round(v[2]["x"], 3), round(v[2]["y"], 3)]
    assert corners == [0.25, 0.25, 0.75, 0.75]


def test_class_follows_the_model_output__dark_image(detector):
    names = [o["name"] for o in detector.detect(Image.new("RGB", (64, 64), (0, 0, 0)))]
    assert names == ["dark"]


def test_box_group_is_the_everyday_word__jellyfish_own_group_breeds_under_dog():
    group_of, names = class_groups()
    index = {class_label(i)[1]: i for i in range(1000)}
    assert names[group_of[index["Jellyfish"]]] == "Jellyfish"
    assert names[group_of[index["Pekinese"]]] == names[group_of[index["Beagle"]]] == "Dog"
