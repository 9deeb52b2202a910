"""Run the fuzz targets one after the other, each bounded, and print what they tried.

    python -m fuzz [--secs=300] [--runs=5000000] [decode] [notification] [endpoint_request]

Each target runs in its own process under `timeout` (libFuzzer's
-max_total_time is checked between inputs, so one input stuck in C code would
not honour it): at most `--runs` inputs and `--secs` seconds, 10 s per input,
2 GB of memory. The seeds are written fresh and the corpus starts empty, so a
run's figures can be compared with another's. Outputs under out/fuzz/<target>/:
the corpus, the log, and any crash-/timeout-/oom- input, which is what becomes
a regression test. Exit status 1 when anything was found.
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import time

from fuzz.seeds import REPO, write_seeds

TARGETS = ("decode", "notification", "endpoint_request")
MAX_LEN = {"decode": 16384, "notification": 4096, "endpoint_request": 8192}
GRACE_SECS = 60   # over --secs before `timeout` ends a run that did not stop by itself
FOUND = ("crash", "timeout", "oom", "leak", "slow-unit")


def run_target(target: str, secs: int, runs: int, out: str) -> dict:
    work = os.path.join(out, target)
    shutil.rmtree(work, ignore_errors=True)
    corpus, seeds = os.path.join(work, "corpus"), os.path.join(work, "seeds")
    os.makedirs(corpus)
    n_seeds = write_seeds(target, seeds)
    log_path = os.path.join(work, "fuzz.log")
    cmd = ["timeout", "--kill-after=10", str(secs + GRACE_SECS), sys.executable, "-m", f"fuzz.fuzz_{target}",
           f"-atheris_runs={runs}", f"-max_total_time={secs}", "-timeout=10", "-rss_limit_mb=2048",
           f"-max_len={MAX_LEN[target]}", "-print_final_stats=1", f"-artifact_prefix={work}/", corpus, seeds]
    started = time.monotonic()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                env=dict(os.environ, PYTHONPATH=REPO))
        _, status, usage = os.wait4(proc.pid, 0)   # the rusage of this run alone (getrusage of the child)
    seconds = time.monotonic() - started
    rc = os.waitstatus_to_exitcode(status)
    with open(log_path, errors="replace") as f:
        text = f.read()
    stats = dict(re.findall(r"^stat::(\w+):\s+(\d+)", text, re.M))
    done = re.findall(r"^Done (\d+) (?:runs )?in", text, re.M)   # -atheris_runs ends without final stats
    execs = int(stats.get("number_of_executed_units") or (done or [0])[-1])
    found = {kind: sorted(glob.glob(os.path.join(work, f"{kind}-*"))) for kind in FOUND}
    return {"target": target, "seeds": n_seeds, "execs": execs,
            "secs": seconds, "rc": rc, "killed": rc in (124, 137, -9), "peak_mb": usage.ru_maxrss / 1024,
            "libfuzzer_peak_mb": int(stats.get("peak_rss_mb", 0)), "corpus": len(os.listdir(corpus)),
            "coverage": (re.findall(r" cov: (\d+) ft: (\d+)", text) or [("?", "?")])[-1],
            "found": {k: v for k, v in found.items() if v}, "log": log_path}


def report(r: dict) -> str:
    found = ", ".join(f"{len(v)} {k}" for k, v in r["found"].items()) or "0 crashes, 0 hangs, 0 OOM"
    stop = "killed by timeout (did not stop by itself)" if r["killed"] else f"exit {r['rc']}"
    lines = [f"{r['target']}: {r['execs']:,} execs in {r['secs']:.0f} s ({r['execs'] / max(r['secs'], 1e-9):,.0f}/s), "
             f"{found}; peak RSS {r['peak_mb']:.0f} MB; {stop}",
             f"  seeds {r['seeds']}, corpus {r['corpus']} inputs, coverage {r['coverage'][0]} edges / "
             f"{r['coverage'][1]} features; log {os.path.relpath(r['log'], REPO)}"]
    lines += [f"  found: {os.path.relpath(p, REPO)}" for paths in r["found"].values() for p in paths]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help=f"any of {', '.join(TARGETS)} (default: all)")
    parser.add_argument("--secs", type=int, default=300, help="time limit per target (default 300)")
    parser.add_argument("--runs", type=int, default=5_000_000, help="input count limit per target")
    parser.add_argument("--out", default=os.path.join(REPO, "out", "fuzz"))
    args = parser.parse_args(argv)
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s) {', '.join(sorted(unknown))}: choose from {', '.join(TARGETS)}")
    results = []
    for target in args.targets or TARGETS:
        print(f"fuzzing {target}: at most {args.runs:,} inputs and {args.secs} s ...", flush=True)
        results.append(run_target(target, args.secs, args.runs, args.out))
        print(report(results[-1]), flush=True)
    bad = [r["target"] for r in results if r["found"] or r["killed"] or r["rc"] != 0]
    print("nothing found" if not bad else f"FOUND something in: {', '.join(bad)} (see above)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
