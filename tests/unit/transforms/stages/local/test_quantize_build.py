"""transforms/stages/local/build/quantize.py: where the int8 copy goes and which nodes stay fp32."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper
from PIL import Image

from transforms.stages.local.build.quantize import _inputs, end_nodes, int8_path


def test_int8_path__beside_the_fp32_file():
    assert int8_path("/m/yolov3_tiny.onnx") == "/m/yolov3_tiny.int8.onnx"
    assert int8_path("gs://b/m/open_nsfw.onnx") == "gs://b/m/open_nsfw.int8.onnx"


def test_end_nodes__first_layer_and_every_output_producer():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    logits = helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])
    feats = helper.make_tensor_value_info("feats", TensorProto.FLOAT, [1, 3])
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["feats"], name="middle_output"),
             helper.make_node("Relu", ["feats"], ["b"], name="inner"),
             helper.make_node("Relu", ["b"], ["logits"], name="head")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [logits, feats]))
    assert end_nodes(model) == ["first", "middle_output", "head"]


def test_inputs__one_array_or_one_per_pass():
    photos = [Image.new("RGB", (4, 4)), Image.new("RGB", (8, 8))]
    one = list(_inputs(photos, lambda im: np.zeros((3, im.width))))
    two = list(_inputs(photos, lambda im: [np.zeros(1), np.ones(im.width // 4 + 1)]))
    assert [a.shape for a in one] == [(3, 4), (3, 8)]
    assert [a.shape for a in two] == [(1,), (2,), (1,), (3,)]
