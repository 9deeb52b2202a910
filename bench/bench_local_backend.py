"""The local backend's speed: bare models vs the whole pipeline, where the time goes, and
what 1,000 images cost next to the Vision API.

`python -m bench local_backend` (or `make bench BENCH=local_backend`). Environment:
BENCH_IMAGES (default 64), BENCH_VCPU_HOUR_PRICE (default 0.069 USD), BENCH_FEATURES=default
to skip the all-features run, BENCH_PRECISION=int8 to run the quantised models (default
fp32, the pipeline's default), BENCH_SKIP_PIPELINE=1 for the bare loop alone. The
onnxruntime knobs of transforms/stages/local/sessions.py (LOCAL_ORT_*) apply to both.
Besides wall-clock figures it prints the bare loop's CPU time per image (all threads of
the process): on a machine others are using, wall time measures them too, CPU time
much less so; `bench local_ab` compares variants by interleaved runs.

Images: scikit-image's real photos upscaled to typical camera sizes (1, 3, 8 and 12
megapixels, a quarter each) and saved as JPEG quality 90. The same files go through:
- bare: a tight loop, no Beam: read the bytes, decode (JPEG draft) and shrink exactly as
  the pipeline does, then `LocalModels.annotate` in batches of `--inference_batch_size`;
- pipeline: `python -m pipeline --input=DIR` in a fresh process (all of Beam, the
  listing, DuckDB and the category copies included; wall time from launch to exit, so
  start-up and model loading count against it), on the default runner and with two
  worker processes.
Both are measured for the default features and for all local features.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from transforms.stages.backends import LOCAL_FEATURES
from transforms.stages.imaging import decode_image

DEFAULT = ("LABEL_DETECTION", "OBJECT_LOCALIZATION", "SAFE_SEARCH_DETECTION")
ALL = tuple(sorted(LOCAL_FEATURES))
SIZES_MP = (1, 3, 8, 12)
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "horse", "immunohistochemistry", "page")
# USD list prices per 1,000 images (1,001-5,000,000 units a month). SafeSearch is free when
# requested with Label Detection.
VISION_PRICE = {"LABEL_DETECTION": 1.50, "OBJECT_LOCALIZATION": 2.25, "SAFE_SEARCH_DETECTION": 0.0,
                "FACE_DETECTION": 1.50, "TEXT_DETECTION": 1.50, "DOCUMENT_TEXT_DETECTION": 1.50,
                "IMAGE_PROPERTIES": 1.50}
# Dataflow batch, us-central1: 0.056 per vCPU-hour + 3.75 GB x 0.003557 per GB-hour.
VCPU_HOUR = float(os.environ.get("BENCH_VCPU_HOUR_PRICE", "0.069"))
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def write_images(folder: str, n: int) -> list[str]:
    import skimage.data
    from PIL import Image

    paths = []
    for i in range(n):
        name = PHOTOS[i % len(PHOTOS)]
        arr = getattr(skimage.data, name)()
        im = Image.fromarray(arr).convert("RGB")
        mp = SIZES_MP[i * len(SIZES_MP) // n]
        w = int((mp * 1e6 * 4 / 3) ** 0.5)
        im = im.resize((w, w * 3 // 4), Image.Resampling.BILINEAR)
        path = os.path.join(folder, f"{mp:02d}mp_{i:03d}_{name}.jpg")
        im.save(path, quality=90)
        paths.append(path)
    return paths


def precision() -> str:
    return os.environ.get("BENCH_PRECISION", "fp32")


def bare(paths: list[str], features, batch: int = 16) -> dict:
    """Tight loop over the same work as the pipeline, without Beam; seconds per stage, and the
    process's CPU seconds over the loop (`cpu`)."""
    from PIL import Image

    from transforms.stages.local.handler import LocalModels, default_threads, local_max_side

    t_load = time.perf_counter()
    models = LocalModels(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models"),
                         features, default_threads(), precision=precision())
    load = time.perf_counter() - t_load
    side = local_max_side(features)
    models.annotate([Image.new("RGB", (640, 480), (120, 90, 60))])  # warm-up, not timed
    models.timings.clear()
    split = {"read": 0.0, "decode": 0.0, "shrink": 0.0}
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(paths), batch):
        images = []
        for p in paths[start:start + batch]:
            a = time.perf_counter()
            with open(p, "rb") as f:
                data = f.read()
            b = time.perf_counter()
            decode_only(data, side)
            c = time.perf_counter()
            images.append(decode_image(data, side)[0])
            d = time.perf_counter()
            split["read"] += b - a
            split["decode"] += c - b
            split["shrink"] += max(0.0, (d - c) - (c - b))
        models.annotate(images)
    wall = time.perf_counter() - t0 - split["decode"]  # decode_only ran twice: count it once
    cpu = time.process_time() - c0 - split["decode"]  # (its CPU time ~ its wall time: one thread)
    split.update(models.timings)
    return {"wall": wall, "cpu": cpu, "load": load, "split": split, "version": models.version}


def decode_only(data: bytes, side: int):
    """The JPEG draft decode alone (what decode_image does before shrinking), for the time split."""
    import io

    from PIL import Image

    im = Image.open(io.BytesIO(data))
    if max(im.size) > side:
        scale = side / max(im.size)
        im.draft("RGB", (int(im.width * scale), int(im.height * scale)))
    im.load()
    return im


def pipeline(folder: str, features, extra: list[str]) -> float:
    out = tempfile.mkdtemp(prefix="bench_out_")
    cmd = [sys.executable, "-m", "pipeline", f"--input={folder}", f"--features={','.join(features)}",
           f"--duckdb={out}/r.duckdb", f"--category_root={out}/classified", f"--local_precision={precision()}",
           *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return wall


def main() -> None:
    n = int(os.environ.get("BENCH_IMAGES", "64"))
    folder = tempfile.mkdtemp(prefix="bench_local_")
    paths = write_images(folder, n)
    one = tempfile.mkdtemp(prefix="bench_one_")
    os.link(paths[0], os.path.join(one, os.path.basename(paths[0])))
    sizes = {mp: sum(p.split("/")[-1].startswith(f"{mp:02d}mp") for p in paths) for mp in SIZES_MP}
    print(f"{n} JPEG photos, {CORES} cores; by megapixels: {sizes}; "
          f"average {np.mean([os.path.getsize(p) for p in paths]) / 1e6:.1f} MB")
    rows = []
    sets = (("default (labels, objects, safe search)", DEFAULT), ("all 7 local features", ALL))
    if os.environ.get("BENCH_FEATURES") == "default":
        sets = sets[:1]
    for label, feats in sets:
        b = bare(paths, feats)
        bare_ips = n / b["wall"]
        print(f"\n## {label}\nmodels: {b['version']}, {precision()} (loaded in {b['load']:.1f} s)")
        print(f"bare loop: {bare_ips:.1f} images/s; CPU {b['cpu'] / n * 1000:.0f} ms per image "
              f"(= {1000 * b['cpu'] / n / 3600 * VCPU_HOUR:.4f} USD per 1,000 images at full use of the cores)")
        print("time split, ms per image (bare loop):")
        total = sum(b["split"].values())
        for stage, secs in sorted(b["split"].items(), key=lambda kv: -kv[1]):
            print(f"  {stage:24s} {secs / n * 1000:7.1f}  ({secs / total:5.1%})")
        results = {"bare loop": bare_ips}
        for name, extra in () if os.environ.get("BENCH_SKIP_PIPELINE") == "1" else (("pipeline, default runner", []),
                            ("pipeline, 2 processes",
                             ["--direct_num_workers=2", "--direct_running_mode=multi_processing"])):
            start_up = pipeline(one, feats, extra)  # a one-image run: start-up, model loading, shutdown
            wall = pipeline(folder, feats, extra)
            steady = (n - 1) / max(wall - start_up, 1e-9)
            results[name + " (incl. start-up)"] = n / wall
            results[name + " (steady)"] = steady
            print(f"{name}: {n / wall:.1f} images/s over {wall:.1f} s incl. start-up; start-up alone "
                  f"{start_up:.1f} s; steady {steady:.1f} images/s = {steady / bare_ips:.2f} of bare")
        vision = sum(VISION_PRICE[f] for f in feats)
        for name, ips in results.items():
            cost = 1000 / ips / 3600 * CORES * VCPU_HOUR
            rows.append((label, name, ips, cost, vision))
    print(f"\n| features | how | images/s ({CORES} vCPU) | USD per 1,000 images at {VCPU_HOUR} per vCPU-hour | "
          "Vision API list price per 1,000 |")
    print("|---|---|---|---|---|")
    for label, name, ips, cost, vision in rows:
        print(f"| {label} | {name} | {ips:.1f} | {cost:.4f} | {vision:.2f} |")


if __name__ == "__main__":
    main()
