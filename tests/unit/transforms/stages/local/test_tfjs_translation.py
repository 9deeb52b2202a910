"""The TFJS graph -> ONNX translation of the NanoDet build, on a small graph of the same op
types, against the same arithmetic done in numpy."""
import base64

import numpy as np
import onnxruntime as ort
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from onnx import TensorProto, helper

from transforms.stages.local.build.tfjs_onnx import read_weights, translate

NHWC = base64.b64encode(b"NHWC").decode()
VALID = base64.b64encode(b"VALID").decode()


def _const(name, array, quantize=False):
    return ({"name": name, "op": "Const", "attr": {}},
            {"name": name, "shape": list(array.shape), "dtype": "float32" if array.dtype.kind == "f" else "int32",
             **({"quantization": {"dtype": "float16", "original_dtype": "float32"}} if quantize else {})},
            array.astype(np.float16 if quantize else (np.float32 if array.dtype.kind == "f" else np.int32)))


def _toy(rng):
    """(model.json dict, weights bytes, (conv weight, bias)) of: NCHW input -> NHWC -> pad ->
    conv 3x3 -> bias -> leaky -> bilinear 8->4 -> split 2+2 -> sigmoid on the first half ->
    concat -> reshape [1, -1, 4] with a shape folded from SparseToDense + AddV2."""
    w = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    b = rng.normal(size=(4,)).astype(np.float32)
    consts = [
        _const("perm", np.array([0, 2, 3, 1])),
        _const("pads", np.array([[0, 0], [1, 1], [1, 1], [0, 0]])),
        _const("w", w, quantize=True),
        _const("b", b, quantize=True),
        _const("size", np.array([4, 4])),
        _const("split_sizes", np.array([2, 2])),
        _const("split_dim", np.array(3)),
        _const("axis", np.array(3)),
        _const("shape_base", np.array([1, -1, 4])),
        _const("where", np.zeros((0, 1), np.int64)),
        _const("dense_shape", np.array([3])),
        _const("gather", np.zeros((0,), np.int64)),
        _const("zero", np.array(0)),
    ]
    nodes = [{"name": "input_1", "op": "Placeholder", "attr": {}}] + [c[0] for c in consts] + [
        {"name": "t1", "op": "Transpose", "input": ["input_1", "perm"]},
        {"name": "p", "op": "Pad", "input": ["t1", "pads"]},
        {"name": "conv", "op": "Conv2D", "input": ["p", "w"], "attr": {
            "data_format": {"s": NHWC}, "padding": {"s": VALID}, "strides": {"list": {"i": ["1", "1", "1", "1"]}},
            "dilations": {"list": {"i": ["1", "1", "1", "1"]}}}},
        {"name": "add", "op": "Add", "input": ["conv", "b"]},
        {"name": "leaky", "op": "LeakyRelu", "input": ["add"], "attr": {"alpha": {"f": 0.1}}},
        {"name": "resize", "op": "ResizeBilinear", "input": ["leaky", "size"],
         "attr": {"half_pixel_centers": {"b": True}, "align_corners": {"b": False}}},
        {"name": "split", "op": "SplitV", "input": ["resize", "split_sizes", "split_dim"]},
        {"name": "sig", "op": "Sigmoid", "input": ["split"]},
        {"name": "cat", "op": "ConcatV2", "input": ["sig", "split:1", "axis"]},
        {"name": "dense", "op": "SparseToDense", "input": ["where", "dense_shape", "gather", "zero"]},
        {"name": "shape", "op": "AddV2", "input": ["shape_base", "dense"]},
        {"name": "out", "op": "Reshape", "input": ["cat", "shape"]},
    ]
    model_json = {"modelTopology": {"node": nodes}, "weightsManifest": [{"weights": [c[1] for c in consts]}]}
    return model_json, b"".join(c[2].tobytes() for c in consts), (w, b)


def _reference(x, w, b):
    """The toy graph in numpy (float16-rounded weights, as stored)."""
    w, b = w.astype(np.float16).astype(np.float32), b.astype(np.float16).astype(np.float32)
    h = np.pad(x.transpose(0, 2, 3, 1), ((0, 0), (1, 1), (1, 1), (0, 0)))
    patches = sliding_window_view(h, (3, 3), axis=(1, 2))  # [N, 8, 8, C, 3, 3]
    y = np.einsum("nhwcij,ijco->nhwo", patches, w) + b
    y = np.where(y > 0, y, 0.1 * y)
    n, hh, ww, c = y.shape
    y = y.reshape(n, hh // 2, 2, ww // 2, 2, c).mean(axis=(2, 4))  # half-pixel bilinear 8->4: 2x2 means
    y = np.concatenate([1 / (1 + np.exp(-y[..., :2])), y[..., 2:]], axis=3)
    return y.reshape(n, -1, 4)


def test_same_numbers_as_numpy__toy_graph_batch_of_two():
    rng = np.random.default_rng(0)
    model_json, blob, (w, b) = _toy(rng)
    t = translate(model_json, blob, ["out"])
    graph = helper.make_graph(t.onnx_nodes, "toy", [helper.make_tensor_value_info("image", TensorProto.FLOAT,
                                                                                  ["N", 3, 8, 8])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)],
                              list(t.inits.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = rng.normal(size=(2, 3, 8, 8)).astype(np.float32)
    (out,) = session.run(None, {"image": x})
    assert out.shape == (2, 16, 4)
    np.testing.assert_allclose(out, _reference(x, w, b), atol=1e-4)


def test_refused__op_outside_the_translated_set():
    model_json, blob, _ = _toy(np.random.default_rng(0))
    model_json["modelTopology"]["node"][-1]["op"] = "Softmax"
    with pytest.raises(NotImplementedError, match="Softmax"):
        translate(model_json, blob, ["out"])


def test_refused__weights_shorter_than_manifest():
    model_json, blob, _ = _toy(np.random.default_rng(0))
    with pytest.raises(ValueError, match="shorter"):
        read_weights(model_json["weightsManifest"], blob[:-4])
