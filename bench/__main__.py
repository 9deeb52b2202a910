"""Run the benchmarks: `python -m bench [NAME ...]` (NAME without the bench_ prefix).

Each module `bench/bench_<name>.py` has `main() -> None` that prints its own
figures; they are measurements, never pass/fail tests.
"""
from __future__ import annotations

import importlib
import os
import sys
import time


def main(argv: list[str]) -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    names = sorted(f[6:-3] for f in os.listdir(here) if f.startswith("bench_") and f.endswith(".py"))
    chosen = argv or names
    unknown = [n for n in chosen if n not in names]
    if unknown:
        print(f"unknown benchmark {unknown[0]}; known: {', '.join(names)}", file=sys.stderr)
        return 2
    for name in chosen:
        print(f"\n=== bench {name} ===", flush=True)
        t0 = time.monotonic()
        importlib.import_module(f"bench.bench_{name}").main()
        print(f"(bench {name} took {time.monotonic() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
