"""Does a speed switch change the answers? Two runs of the pipeline on the quality photo set,
compared photo by photo (tools/answers.py: labels kept, primary category, boxes at IoU >= 0.8).

`python -m bench answers_check` (or `make bench BENCH=answers_check`). Environment:
BENCH_ANSWERS_A and BENCH_ANSWERS_B are the two runs' extra pipeline options (default:
A "--local_precision=fp32", the unoptimised models, B "--local_precision=int8");
BENCH_QUALITY_PHOTOS=DIR compares on the image files in DIR instead of the photo set.
Both runs see the same files in fresh processes, as a user runs the pipeline.
"""
from __future__ import annotations

import os
import shlex
import tempfile

from bench.bench_quality import gather_photos, run_pipeline
from tools.answers import compare_runs, format_summary
from transforms.sinks.duckdb_sink import connect


def read_answers(db: str) -> dict[str, dict]:
    """{file name: {primary_category, labels, objects}} as the pipeline stored them."""
    con = connect(db, read_only=True)
    try:
        cur = con.execute("SELECT name, primary_category, labels, objects FROM classifications")
        cols = [d[0] for d in cur.description]
        return {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}
    finally:
        con.close()


def main() -> None:
    runs = {"A": os.environ.get("BENCH_ANSWERS_A", "--local_precision=fp32"),
            "B": os.environ.get("BENCH_ANSWERS_B", "--local_precision=int8")}
    with tempfile.TemporaryDirectory(prefix="bench_answers_") as work:
        folder = os.path.join(work, "photos")
        names = gather_photos(folder)
        rows = {}
        for run, args in runs.items():
            db = os.path.join(work, f"{run}.duckdb")
            run_pipeline(folder, db, shlex.split(args))
            rows[run] = read_answers(db)
    print(f"{len(names)} photos; A: {runs['A'] or '(defaults)'}; B: {runs['B'] or '(defaults)'}")
    print(format_summary(compare_runs(rows["A"], rows["B"])))
