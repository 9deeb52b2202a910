"""int8 copies of the local models: quantize() on the real classifier, and the worker loading it."""
from __future__ import annotations

import os
import shutil

import numpy as np
import onnx
import pytest
import skimage.data
from PIL import Image

from transforms.stages.local import sessions
from transforms.stages.local.build.quantize import int8_path, quantize
from transforms.stages.local.labeler import MODEL_FILE, Labeler

MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "models")


@pytest.fixture(scope="module")
def int8_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("int8_models")
    shutil.copy(os.path.join(MODELS, MODEL_FILE), folder)
    photos = [Image.fromarray(getattr(skimage.data, n)()).convert("RGB")
              for n in ("chelsea", "coffee", "astronaut", "rocket")]
    path = quantize(str(folder / MODEL_FILE), photos, Labeler.preprocess)
    assert path == int8_path(str(folder / MODEL_FILE))
    yield str(folder)
    sessions.configure(sessions.SessionConfig())


def test_quantize__writes_a_qdq_graph_with_the_models_outputs(int8_dir):
    model = onnx.load(os.path.join(int8_dir, "efficientnet_lite0.int8.onnx"))
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("QuantizeLinear") > 40 and "DequantizeLinear" in ops
    assert [o.name for o in model.graph.output] == ["logits", "features"]
    # per-channel: each convolution's weights have one scale per output channel
    scales = {i.name: i for i in model.graph.initializer if i.name.endswith("_scale")}
    assert any(len(t.dims) == 1 and t.dims[0] > 1 for t in scales.values())


def test_int8_precision__classifier_reads_clear_photos_close_to_fp32(int8_dir):
    """Close, not the same: on chelsea int8 can swap tiger cat for Egyptian cat (see docs/local-backend.md)."""
    photos = [Image.fromarray(getattr(skimage.data, n)()).convert("RGB") for n in ("chelsea", "coffee")]
    batch = np.stack([Labeler.preprocess(p) for p in photos])
    tops = {}
    for precision in ("fp32", "int8"):
        sessions.configure(sessions.SessionConfig(precision=precision))
        labeler = Labeler(int8_dir, threads=1)
        probs, features = labeler.predict(batch)
        assert features.shape == (2, 1280, 7, 7)
        tops[precision] = np.argsort(-probs, axis=1)[:, :3].tolist()
    assert all(f[0] in q for f, q in zip(tops["fp32"], tops["int8"], strict=True)), tops
    assert sessions.model_file(int8_dir, MODEL_FILE, "int8") == "efficientnet_lite0.int8.onnx"
