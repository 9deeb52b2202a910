"""Peak memory of a backfill as the number of images grows (target: flat).

Generates N small distinct JPEGs, runs the backfill on the embedded default in
a child process and reports that process's peak resident memory.

    make bench BENCH=memory        (or: python -m bench memory)
    BENCH_MEMORY_SIZES=1000,10000 to choose the sizes.
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

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


def run(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        images = os.path.join(tmp, "images")
        write_images(images, n)
        t0 = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-c", RUNNER, f"--input={images}", f"--duckdb={tmp}/r.duckdb",
             f"--category_root={tmp}/classified", "--features=LABEL_DETECTION,SAFE_SEARCH_DETECTION"],
            capture_output=True, text=True, check=True)
        seconds = time.monotonic() - t0
        peak = next(int(line.split()[1]) for line in out.stdout.splitlines() if line.startswith("PEAK_RSS_KB"))
        return peak / 1024, seconds


def main() -> None:
    sizes = [int(s) for s in os.environ.get("BENCH_MEMORY_SIZES", "1000,10000").split(",")]
    print(f"{'images':>8} {'peak RSS (MiB)':>15} {'seconds':>8} {'images/s':>9}")
    for n in sizes:
        peak, seconds = run(n)
        print(f"{n:>8} {peak:>15.0f} {seconds:>8.1f} {n / seconds:>9.1f}", flush=True)


if __name__ == "__main__":
    main()
