"""Speed switches compared fairly on a busy machine: interleaved bare-loop runs.

`python -m bench local_ab` (or `make bench BENCH=local_ab`). Each variant is a set of
environment variables (the switches of bench_local_backend and
transforms/stages/local/sessions.py); every round runs each variant once, in turn, as a
fresh process over the same photos, so a load that comes and goes hits all variants
alike. Per variant: the best and median images/s of the rounds, the median CPU ms per
image (all threads of the process: the figure others' load changes least), the median
model loading time, and the median ms per stage (wall time; stages of the two lanes overlap).

Environment: BENCH_AB="name:VAR=VAL,VAR=VAL;name:..." (default: fp32 against int8),
BENCH_AB_ROUNDS (default 3), BENCH_IMAGES (default 32), BENCH_FEATURES=all for all
local features instead of the default ones.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

from bench.bench_local_backend import ALL, DEFAULT, write_images

DEFAULT_AB = "fp32:BENCH_PRECISION=fp32;int8:BENCH_PRECISION=int8"


def parse_variants(spec: str) -> dict[str, dict[str, str]]:
    """"a:X=1,Y=2;b:X=0" -> {"a": {"X": "1", "Y": "2"}, "b": {"X": "0"}}."""
    variants = {}
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        name, _, assigns = part.partition(":")
        variants[name] = dict(a.split("=", 1) for a in assigns.split(",") if a)
    return variants


def run_one(folder: str, env: dict[str, str], features: tuple[str, ...]) -> dict:
    code = ("import json, os, sys; from bench.bench_local_backend import bare; "
            "paths = sorted(os.path.join(sys.argv[1], f) for f in os.listdir(sys.argv[1])); "
            "print(json.dumps(bare(paths, sys.argv[2].split(','))))")
    proc = subprocess.run([sys.executable, "-c", code, folder, ",".join(features)], capture_output=True,
                          text=True, env={**os.environ, **env})
    if proc.returncode != 0:
        raise RuntimeError(f"variant {env} failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    n = int(os.environ.get("BENCH_IMAGES", "32"))
    rounds = int(os.environ.get("BENCH_AB_ROUNDS", "3"))
    features = ALL if os.environ.get("BENCH_FEATURES") == "all" else DEFAULT
    variants = parse_variants(os.environ.get("BENCH_AB", DEFAULT_AB))
    folder = tempfile.mkdtemp(prefix="bench_ab_")
    write_images(folder, n)
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for r in range(rounds):
        for name, env in variants.items():
            runs[name].append(run_one(folder, env, features))
            print(f"round {r + 1} {name}: {n / runs[name][-1]['wall']:.1f} images/s", flush=True)
    print(f"\n{n} photos, {rounds} interleaved rounds, features {','.join(features)}; "
          "the machine was shared: compare the rows, not the absolute figures")
    stages = sorted({s for rs in runs.values() for r in rs for s in r["split"]})
    print("| variant | best images/s | median images/s | CPU ms/image | models loaded in s | "
          + " | ".join(stages) + " |")
    print("|---|---|---|---|---|" + "---|" * len(stages))
    for name, rs in runs.items():
        ips = [n / r["wall"] for r in rs]
        per_stage = [statistics.median(r["split"].get(s, 0.0) for r in rs) / n * 1000 for s in stages]
        print(f"| {name} | {max(ips):.1f} | {statistics.median(ips):.1f} | "
              f"{statistics.median(r['cpu'] for r in rs) / n * 1000:.0f} | "
              f"{statistics.median(r['load'] for r in rs):.1f} | "
              + " | ".join(f"{v:.1f}" for v in per_stage) + " |")
