"""Write the int8 copies of the local ONNX models, calibrated on the quality photo set.

    python -m tools.quantize_models [--models DIR]      (make models-int8)

For the classifier, the COCO detector and open_nsfw: `<name>.int8.onnx` beside the fp32
file (transforms/stages/local/build/quantize.py), which the workers load with
`--local_precision=int8`. Each model is calibrated on the photo set of
tools/photo_set.py, decoded and shrunk as the pipeline does, and seen through that
model's own preprocessing (the detector at each of its passes' sizes). The held-out
kinds of photos are not in that set, so they stay an independent check.

Idempotent: DIR/INT8.json records the sha256 of each fp32 file a copy was made from;
a copy whose source is unchanged is not redone. The faces' MTCNN graphs stay fp32:
they are small, and the face detector is not where the time goes.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable

from PIL import Image

from tools.photo_set import REPO, write_photo_set
from transforms.stages.imaging import decode_image
from transforms.stages.local.build.quantize import int8_path, quantize

RECORD = "INT8.json"
RECIPE = "quantize/3 qdq per-channel s8 weights (7-bit), u8 activations minmax; photo set at 640 px"
CALIBRATION_SIDE = 640  # what the pipeline shrinks images to for the default features


def preprocessors(model_dir: str) -> dict[str, Callable[[Image.Image], object]]:
    """{fp32 model file: its run-time preprocessing} for each model quantised: the chosen
    classifier and COCO detector (model_choice.py) and open_nsfw."""
    import importlib

    from transforms.stages.local import labeler, safety
    from transforms.stages.local.model_choice import coco_detector

    coco = coco_detector(model_dir, threads=1)
    module = importlib.import_module(type(coco).__module__)

    def letterboxes(im: Image.Image) -> list:
        """The detector's input at each of its passes (one for a detector without `scales`)."""
        out = []
        for size, pad in getattr(coco, "scales", [(None, None)]):
            if size is not None:
                coco.size, coco.pad = size, pad
            out.append(coco.letterbox(im)[0])
        return out

    return {labeler.MODEL_FILE: labeler.Labeler.preprocess, safety.MODEL_FILE: safety.SafetyModel.preprocess,
            module.MODEL_FILE: letterboxes}


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def calibration_images(folder: str) -> list[Image.Image]:
    write_photo_set(folder)
    images = []
    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as f:
            images.append(decode_image(f.read(), CALIBRATION_SIDE)[0])
    return images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=os.path.join(REPO, "models"), help="the fp32 models' folder")
    args = parser.parse_args(argv)
    record_path = os.path.join(args.models, RECORD)
    record = json.load(open(record_path, encoding="utf-8")) if os.path.exists(record_path) else {}
    todo = {}
    for name, pre in preprocessors(args.models).items():
        source = os.path.join(args.models, name)
        entry = {"source_sha256": _sha256(source), "recipe": RECIPE}
        if record.get(name) != entry or not os.path.exists(int8_path(source)):
            todo[name] = (pre, entry)
    if not todo:
        print(f"int8 models in {args.models} are up to date")
        return 0
    with tempfile.TemporaryDirectory(prefix="calibration_") as work:
        images = calibration_images(os.path.join(work, "photos"))
        for name, (pre, entry) in todo.items():
            t0 = time.monotonic()
            out = quantize(os.path.join(args.models, name), images, pre)
            record[name] = entry
            print(f"{out}: calibrated on {len(images)} photos in {time.monotonic() - t0:.0f} s")
    tmp = f"{record_path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    os.replace(tmp, record_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
