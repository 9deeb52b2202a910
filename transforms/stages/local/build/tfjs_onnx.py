"""TensorFlow.js graph models -> ONNX nodes, with numpy and `onnx` only.

Used by nanodet_onnx.py. A TFJS graph model is a TF GraphDef as JSON (`modelTopology`)
plus a weights manifest naming each constant's shape and dtype, in the order of the
bytes of the weights file. Each TF op is translated into its ONNX twin; ops outside
`TRANSLATE` are refused, not guessed. Subgraphs of constants (the shapes an
ONNX-to-TF export computes) are folded here in numpy.

What the translation must keep (each changes the output if wrong):
- TFJS stores float weights as float16 (`quantization`) and int64 constants as int32;
  both are widened (float32, int64) on reading;
- TF's NHWC ops (Conv2D, MaxPool, ResizeBilinear) become their NCHW ONNX op between
  two transposes; onnxruntime cancels the transposes that meet;
- only explicit padding is supported (Pad, PadV2 with its fill value): convolutions
  and pools must be VALID;
- ResizeBilinear with half_pixel_centers is ONNX Resize linear, half_pixel;
- a Reshape whose shape starts with 1 (an exported batch of one) copies the input's
  batch instead, so batches run.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx


def read_weights(manifest: list[dict], blob: bytes) -> dict[str, np.ndarray]:
    """Every constant of the weights manifest: float16-stored floats as float32, ints as int64."""
    out: dict[str, np.ndarray] = {}
    offset = 0
    for group in manifest:
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            quant = w.get("quantization")
            if quant and quant.get("dtype") != "float16":
                raise ValueError(f"{w['name']}: quantization {quant} is not supported")
            dtype = np.dtype("<f2") if quant else np.dtype({"float32": "<f4", "int32": "<i4"}[w["dtype"]])
            end = offset + count * dtype.itemsize
            if end > len(blob):
                raise ValueError("the weights file is shorter than its manifest")
            a = np.frombuffer(blob, dtype, count, offset).reshape(w["shape"])
            out[w["name"]] = a.astype(np.float32 if w["dtype"] == "float32" else np.int64)
            offset = end
    if offset != len(blob):
        raise ValueError(f"{len(blob) - offset} bytes of weights left over: the manifest does not match")
    return out


def _attr(node: dict, key: str, default=None):
    """A TF node attribute's plain value (list of ints, float, bool or decoded string)."""
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "list" in a:
        return [int(i) for i in a["list"].get("i", [])]
    if "s" in a:
        import base64
        return base64.b64decode(a["s"]).decode()
    for k in ("f", "b", "i"):
        if k in a:
            return {"f": float, "b": bool, "i": int}[k](a[k])
    return default


class _Translator:
    """Walks the TF nodes in dependency order, folding constant subgraphs in numpy."""

    def __init__(self, nodes: list[dict], consts: dict[str, np.ndarray]):
        from onnx import helper, numpy_helper
        self.helper, self.numpy_helper = helper, numpy_helper
        self.by_name = {n["name"]: n for n in nodes}
        self.consts = consts
        self.onnx_nodes: list = []
        self.inits: dict[str, onnx.TensorProto] = {}
        self.done: set[str] = set()
        self.count = 0

    # -- names and constants
    def fresh(self, base: str) -> str:
        self.count += 1
        return f"{base}__{self.count}"

    def const(self, ref: str) -> np.ndarray:
        return self.consts[ref[:-2] if ref.endswith(":0") else ref]

    def is_const(self, ref: str) -> bool:
        return (ref[:-2] if ref.endswith(":0") else ref) in self.consts

    def init(self, array: np.ndarray, base: str = "c") -> str:
        name = self.fresh(base)
        self.inits[name] = self.numpy_helper.from_array(array, name)
        return name

    def tensor(self, ref: str) -> str:
        """The ONNX name of a TF input reference ("node" or "node:k"); constants become initializers."""
        ref = ref[:-2] if ref.endswith(":0") else ref
        if self.is_const(ref):
            if ref not in self.inits:
                self.inits[ref] = self.numpy_helper.from_array(self.const(ref), ref)
            return ref
        return ref

    def add(self, op: str, inputs: list[str], outputs: list[str] | None = None, **attrs) -> str:
        outputs = outputs or [self.fresh(op.lower())]
        self.onnx_nodes.append(self.helper.make_node(op, inputs, outputs, name=outputs[0], **attrs))
        return outputs[0]

    def nchw(self, x: str) -> str:
        return self.add("Transpose", [x], perm=[0, 3, 1, 2])

    def nhwc(self, x: str, out: str) -> str:
        return self.add("Transpose", [x], [out], perm=[0, 2, 3, 1])

    # -- the walk
    def visit(self, name: str) -> None:
        stack = [name]
        while stack:
            cur = stack[-1]
            if cur in self.done:
                stack.pop()
                continue
            node = self.by_name[cur]
            deps = [i.lstrip("^").split(":")[0] for i in node.get("input", [])]
            pending = [d for d in deps if d not in self.done]
            if pending:
                stack.extend(pending)
                continue
            self.translate(node)
            self.done.add(cur)
            stack.pop()

    def translate(self, node: dict) -> None:
        op, name = node["op"], node["name"]
        inputs = [i for i in node.get("input", []) if not i.startswith("^")]
        if op == "Const":
            if name not in self.consts:
                raise ValueError(f"constant {name} has no weights")
            return
        if op == "Placeholder":
            return
        if inputs and all(self.is_const(i) for i in inputs):
            self.consts[name] = _fold(op, [self.const(i) for i in inputs])
            return
        fn = TRANSLATE.get(op)
        if fn is None:
            raise NotImplementedError(f"TF op {op} ({name}) is not translated")
        fn(self, node, name, inputs)


def _fold(op: str, args: list[np.ndarray]) -> np.ndarray:
    """Constant subgraphs (the exported Reshape shapes): evaluated here."""
    if op in ("Add", "AddV2"):
        return args[0] + args[1]
    if op == "SparseToDense":
        indices, shape, values, default = args
        out = np.full(shape.astype(np.int64), default, dtype=np.asarray(values).dtype)
        if indices.size:
            out[tuple(np.asarray(indices).reshape(-1, out.ndim).T)] = values
        return out
    raise NotImplementedError(f"TF op {op} on constants is not folded")


def _conv2d(t: _Translator, node: dict, name: str, inputs: list[str]) -> None:
    if _attr(node, "data_format", "NHWC") != "NHWC" or _attr(node, "padding") != "VALID":
        raise NotImplementedError(f"{name}: only NHWC VALID convolutions are translated")
    if any(d != 1 for d in _attr(node, "dilations", [1, 1, 1, 1])):
        raise NotImplementedError(f"{name}: dilated convolution")
    w = t.const(inputs[1])  # HWIO
    strides = _attr(node, "strides")[1:3]
    y = t.add("Conv", [t.nchw(t.tensor(inputs[0])), t.init(np.ascontiguousarray(w.transpose(3, 2, 0, 1)), "w")],
              kernel_shape=list(w.shape[:2]), strides=strides)
    t.nhwc(y, name)


def _maxpool(t: _Translator, node: dict, name: str, inputs: list[str]) -> None:
    if _attr(node, "data_format", "NHWC") != "NHWC" or _attr(node, "padding") != "VALID":
        raise NotImplementedError(f"{name}: only NHWC VALID pooling is translated")
    y = t.add("MaxPool", [t.nchw(t.tensor(inputs[0]))], kernel_shape=_attr(node, "ksize")[1:3],
              strides=_attr(node, "strides")[1:3])
    t.nhwc(y, name)


def _resize(t: _Translator, node: dict, name: str, inputs: list[str]) -> None:
    if _attr(node, "align_corners", False) or not _attr(node, "half_pixel_centers", False):
        raise NotImplementedError(f"{name}: only half-pixel-centre bilinear resizing is translated")
    x = t.nchw(t.tensor(inputs[0]))
    batch_channels = t.add("Slice", [t.add("Shape", [x]), t.init(np.array([0], np.int64)),
                                     t.init(np.array([2], np.int64))])
    sizes = t.add("Concat", [batch_channels, t.init(t.const(inputs[1]).astype(np.int64), "hw")], axis=0)
    y = t.add("Resize", [x, "", "", sizes], mode="linear", coordinate_transformation_mode="half_pixel")
    t.nhwc(y, name)


def _pad(t: _Translator, _node: dict, name: str, inputs: list[str]) -> None:
    p = t.const(inputs[1]).astype(np.int64)
    args = [t.tensor(inputs[0]), t.init(np.concatenate([p[:, 0], p[:, 1]]), "pads")]
    if len(inputs) > 2:
        args.append(t.init(t.const(inputs[2]).astype(np.float32).reshape(()), "pad_value"))
    t.add("Pad", args, [name], mode="constant")


def _reshape(t: _Translator, _node: dict, name: str, inputs: list[str]) -> None:
    shape = t.const(inputs[1]).astype(np.int64).copy()
    if shape[0] == 1:  # the exported batch of one: copy the input's batch instead
        shape[0] = 0
    t.add("Reshape", [t.tensor(inputs[0]), t.init(shape, "shape")], [name])


def _split(t: _Translator, _node: dict, name: str, inputs: list[str]) -> None:
    sizes = t.const(inputs[1]).astype(np.int64)
    outs = [name] + [f"{name}:{k}" for k in range(1, len(sizes))]
    t.onnx_nodes.append(t.helper.make_node("Split", [t.tensor(inputs[0]), t.init(sizes, "split")], outs,
                                           name=name, axis=int(t.const(inputs[2]))))


def _plain(t: _Translator, node: dict, name: str, inputs: list[str]) -> None:
    """Ops whose ONNX twin takes the same tensors; a constant axis or perm becomes an attribute."""
    op = node["op"]
    if op == "Transpose":
        t.add("Transpose", [t.tensor(inputs[0])], [name], perm=[int(v) for v in t.const(inputs[1])])
    elif op == "ConcatV2":
        t.add("Concat", [t.tensor(x) for x in inputs[:-1]], [name], axis=int(t.const(inputs[-1])))
    elif op == "LeakyRelu":
        t.add("LeakyRelu", [t.tensor(inputs[0])], [name], alpha=_attr(node, "alpha", 0.2))
    else:
        t.add("Add" if op == "AddV2" else op, [t.tensor(x) for x in inputs], [name])


TRANSLATE: dict[str, Callable[[_Translator, dict, str, list[str]], None]] = {
    "Conv2D": _conv2d,
    "MaxPool": _maxpool,
    "ResizeBilinear": _resize,
    "Pad": _pad,
    "PadV2": _pad,
    "Reshape": _reshape,
    "SplitV": _split,
    **{op: _plain for op in ("Add", "AddV2", "LeakyRelu", "Sigmoid", "Transpose", "ConcatV2", "Identity")},
}


def translate(model_json: dict, weights: bytes, outputs: list[str]) -> _Translator:
    """The ONNX nodes and initializers computing the TF tensors `outputs` of a TFJS graph
    model; its placeholder is fed by the ONNX input `image`."""
    from onnx import helper

    nodes = model_json["modelTopology"]["node"]
    t = _Translator(nodes, read_weights(model_json["weightsManifest"], weights))
    (placeholder,) = [n for n in nodes if n["op"] == "Placeholder"]
    for name in outputs:
        t.visit(name)
    t.onnx_nodes.insert(0, helper.make_node("Identity", ["image"], [placeholder["name"]], name="input"))
    return t
