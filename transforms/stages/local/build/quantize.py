"""int8 copies of the local ONNX models: onnxruntime static quantisation.

`quantize(onnx_path, images, preprocess)` writes `<name>.int8.onnx` beside the fp32
file and returns its path. It applies to any of the models (classifier, COCO
detector, open_nsfw, or a model chosen later) because it knows nothing of them: the
caller gives the calibration photos and the model's own preprocessing, which turns
one photo into the input array(s) the model sees at run time.

How (onnxruntime's recommended recipe for CPU): QDQ format, int8 weights per output
channel (symmetric), uint8 activations with ranges from MinMax calibration on the
photos, `reduce_range` (7-bit weights) so the int8 x uint8 products cannot saturate the
AVX2 kernel (VPMADDUBSW) of this project's 2-core machine. Of the variants measured on
the photo set (docs/local-backend.md, "Local backend speed: what was tried") this one kept the most
labels and categories of fp32. The graph is first shape-inferred and optimised
(`quant_pre_process`), as onnxruntime asks, and a model older than opset 13 is
converted to 13, the first with per-channel QDQ.

Calibration photos must not include the quality bench's held-out kinds (see
tools/photo_set.py): they would stop being an independent check.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence

import numpy as np
from PIL import Image

INT8_SUFFIX = ".int8.onnx"
MIN_PER_CHANNEL_OPSET = 13


def int8_path(onnx_path: str) -> str:
    """Where the int8 copy of `onnx_path` lives: models/x.onnx -> models/x.int8.onnx."""
    root, _ = os.path.splitext(onnx_path)
    return root + INT8_SUFFIX


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over preprocessed photos."""

    def __init__(self, input_name: str, arrays: Iterator[np.ndarray]):
        self.input_name, self.arrays = input_name, arrays

    def get_next(self) -> dict[str, np.ndarray] | None:
        x = next(self.arrays, None)
        return None if x is None else {self.input_name: x[None].astype(np.float32)}

    def rewind(self) -> None:  # onnxruntime calls it between passes; MinMax makes one
        return None


def _inputs(images: Iterable[Image.Image], preprocess: Callable[[Image.Image], object]) -> Iterator[np.ndarray]:
    """Each photo's model input(s): `preprocess` may return one array or a list (e.g. one per scale)."""
    for im in images:
        out = preprocess(im)
        for x in out if isinstance(out, (list, tuple)) else [out]:
            yield np.asarray(x)


def _opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def end_nodes(model) -> list[str]:
    """Names of the nodes that read the graph's input or write one of its outputs."""
    inputs = {i.name for i in model.graph.input}
    outputs = {o.name for o in model.graph.output}
    return [n.name for n in model.graph.node if inputs & set(n.input) or outputs & set(n.output)]


def quantize(onnx_path: str, images: Iterable[Image.Image], preprocess: Callable[[Image.Image], object],
             out_path: str | None = None, per_channel: bool = True, reduce_range: bool = True,
             fp32_ends: bool = False, calibration: str = "minmax", keep_fp32: Sequence[str] = (),
             weights: str = "int8") -> str:
    """Write the int8 (QDQ) copy of `onnx_path`, calibrated on `images` seen through
    `preprocess`; returns its path (`int8_path(onnx_path)` unless `out_path` is given).
    `fp32_ends` keeps the nodes at the graph's ends (the first layer, the heads) in fp32, and
    `keep_fp32` the nodes of those names; `weights` "uint8" avoids AVX2's int8 x uint8
    saturation without losing a bit, at some speed;
    `calibration` is minmax, percentile (99.999 %) or entropy; the last two need every
    calibration input of one shape (onnxruntime stacks them), so not the detector's two sizes."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out_path = out_path or int8_path(onnx_path)
    model = onnx.load(onnx_path)
    input_name = model.graph.input[0].name
    with tempfile.TemporaryDirectory(prefix="quantize_") as work:
        source = onnx_path
        if _opset(model) < MIN_PER_CHANNEL_OPSET:
            source = os.path.join(work, "opset.onnx")
            onnx.save(version_converter.convert_version(model, MIN_PER_CHANNEL_OPSET), source)
        prepared = os.path.join(work, "prepared.onnx")
        quant_pre_process(source, prepared, skip_symbolic_shape=True)
        tmp_out = f"{out_path}.tmp{os.getpid()}"
        exclude = [*(end_nodes(onnx.load(prepared)) if fp32_ends else []), *keep_fp32]
        quantize_static(prepared, tmp_out, _Reader(input_name, _inputs(images, preprocess)),
                        nodes_to_exclude=exclude,
                        quant_format=QuantFormat.QDQ, per_channel=per_channel, reduce_range=reduce_range,
                        activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QUInt8 if weights == "uint8" else QuantType.QInt8,
                        calibrate_method={"minmax": CalibrationMethod.MinMax,
                                          "percentile": CalibrationMethod.Percentile,
                                          "entropy": CalibrationMethod.Entropy}[calibration])
        os.replace(tmp_out, out_path)
    return out_path
