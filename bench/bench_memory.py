"""Peak memory of a backfill: on hostile input, and as the number of images grows (target: flat).

First a folder of every decompression bomb kind (tools/bombs.py, complete pixel data)
among 100 ordinary photos, and the same 100 photos alone; then N small distinct JPEGs.
Each runs the backfill on the embedded default in a child process (the local runner
runs the workers in that process) and reports that process's peak resident memory.

    make bench BENCH=memory        (or: python -m bench memory)
    BENCH_MEMORY_SIZES=1000,10000 to choose the sizes (empty: the bomb folder only).
"""
from __future__ import annotations

import collections
import io
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image, ImageDraw

from tools.bombs import every_kind

RUNNER = ("import resource, runpy, sys\n"
          "sys.argv = ['pipeline'] + sys.argv[1:]\n"
          "try:\n"
          "    runpy.run_module('pipeline', run_name='__main__')\n"
          "except SystemExit:\n"
          "    pass\n"
          "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")


def write_images(folder: str, n: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = os.path.join(folder, f"part-{i // 1000:03d}")
        os.makedirs(sub, exist_ok=True)
        arr = (rng.random((96, 128, 3)) * 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=80)
        with open(os.path.join(sub, f"img-{i:06d}.jpg"), "wb") as f:
            f.write(buf.getvalue())


def _pictures() -> list[Image.Image]:
    """scikit-image's photos (in its wheel) and pictures Pillow draws: fractal, gradients, noise, shapes."""
    from skimage import data
    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.stereo_motorcycle()[0],
              data.hubble_deep_field(), data.immunohistochemistry(), data.retina(), data.colorwheel(),
              data.camera(), data.moon(), data.coins(), data.clock(), data.page(), data.brick(), data.grass()]
    pictures = [Image.fromarray(p).convert("RGB") for p in photos] + [Image.fromarray(data.logo(), "RGBA")]
    pictures.append(Image.effect_mandelbrot((900, 600), (-2.0, -1.0, 1.0, 1.0), 120).convert("RGB"))
    pictures.append(Image.merge("RGB", [Image.linear_gradient("L").resize((800, 600)),
                                        Image.radial_gradient("L").resize((800, 600)),
                                        Image.effect_noise((800, 600), 60)]))
    shapes = Image.new("RGB", (1000, 700), (240, 235, 220))
    draw = ImageDraw.Draw(shapes)
    rng = np.random.default_rng(1)
    for _ in range(60):
        x, y, r = (int(v) for v in rng.integers((0, 0, 10), (1000, 700, 120)))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(c) for c in rng.integers(0, 255, 3)))
    pictures.append(shapes)
    return pictures


def ordinary_photos(n: int = 100) -> dict[str, bytes]:
    """{name: bytes}: n varied images in every accepted format, a few at camera sizes (12 and 24 MP)."""
    pictures = _pictures()
    exif = Image.Exif()
    exif[0x0112] = 6
    saves = [("jpg", "JPEG", {"quality": 88}), ("jpg", "JPEG", {"progressive": True}),
             ("png", "PNG", {}), ("webp", "WEBP", {"quality": 80}), ("gif", "GIF", {}),
             ("png", "PNG", {"transparency": 0}), ("bmp", "BMP", {}), ("tif", "TIFF", {"compression": "tiff_lzw"}),
             ("jpg", "JPEG", {"exif": exif.tobytes()}), ("png", "PNG", {}), ("jpg", "JPEG", {"quality": 70})]
    out = {}
    for i in range(n):
        im = pictures[i % len(pictures)]
        ext, fmt, params = saves[i % len(saves)]
        if i % 25 == 24:
            im, ext, fmt, params = im.convert("RGB").resize((6000, 4000)), "jpg", "JPEG", {"progressive": True}
        elif i % 10 == 9:
            im, ext, fmt, params = im.convert("RGB").resize((4000, 3000)), "jpg", "JPEG", {"quality": 90}
        elif i % 7 == 6:
            im = im.resize((im.width * 3, im.height * 3))
        if fmt == "GIF" or params.get("transparency") == 0:
            im = im.convert("RGB").quantize(128)
        elif fmt in ("JPEG", "BMP") or (fmt == "PNG" and i % 3):
            im = im.convert("RGB")
        buf = io.BytesIO()
        im.save(buf, fmt, **params)
        out[f"photo-{i:03d}.{ext}"] = buf.getvalue()
    return out


def _peak_mib(images: str, tmp: str) -> tuple[float, float]:
    t0 = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", RUNNER, f"--input={images}", f"--duckdb={tmp}/r.duckdb",
         f"--category_root={tmp}/classified", "--features=LABEL_DETECTION,SAFE_SEARCH_DETECTION"],
        capture_output=True, text=True, check=True)
    seconds = time.monotonic() - t0
    peak = next(int(line.split()[1]) for line in out.stdout.splitlines() if line.startswith("PEAK_RSS_KB"))
    return peak / 1024, seconds


def _outcomes(tmp: str) -> dict[str, str]:
    """{file name: "row" or the error code}; a file in neither table was skipped when listed."""
    import duckdb
    con = duckdb.connect(f"{tmp}/r.duckdb", read_only=True)
    rows = con.execute("SELECT name, 'row' FROM classifications UNION ALL SELECT name, code FROM errors").fetchall()
    con.close()
    return {os.path.basename(name): outcome for name, outcome in rows}


def run_bombs(with_bombs: bool) -> tuple[float, float, dict[str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        images = os.path.join(tmp, "images")
        os.makedirs(images)
        files = ordinary_photos() | (every_kind(full=True) if with_bombs else {})
        for name, data in files.items():
            with open(os.path.join(images, name), "wb") as f:
                f.write(data)
        peak, seconds = _peak_mib(images, tmp)
        return peak, seconds, _outcomes(tmp)


def run(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        images = os.path.join(tmp, "images")
        write_images(images, n)
        return _peak_mib(images, tmp)


def main() -> None:
    kinds = len(every_kind())
    print(f"{'folder':<34} {'peak RSS (MiB)':>15} {'seconds':>8}  outcomes")
    for with_bombs in (True, False):
        peak, seconds, outcomes = run_bombs(with_bombs)
        label = f"{kinds} bomb kinds + 100 photos" if with_bombs else "the 100 photos alone"
        tally = collections.Counter(outcomes.values())
        counts = ", ".join(f"{tally[kind]} {kind}" for kind in sorted(tally))
        print(f"{label:<34} {peak:>15.0f} {seconds:>8.1f}  {counts}", flush=True)
        if with_bombs:
            for name in sorted(every_kind()):
                print(f"    {name:<38} {outcomes.get(name, 'skipped when listed (not an image extension)')}")
    sizes = [int(s) for s in os.environ.get("BENCH_MEMORY_SIZES", "1000,10000").split(",") if s.strip()]
    if sizes:
        print(f"\n{'images':>8} {'peak RSS (MiB)':>15} {'seconds':>8} {'images/s':>9}")
    for n in sizes:
        peak, seconds = run(n)
        print(f"{n:>8} {peak:>15.0f} {seconds:>8.1f} {n / seconds:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
