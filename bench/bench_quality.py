"""How often the local backend's answers agree with a person, photo by photo.

`python -m bench quality` (or `make bench BENCH=quality`). The photos come from
installed packages (tools/photo_set.py); bench/quality_truth.yaml says what a person
sees in each. They go through `python -m pipeline --input=DIR --duckdb=FILE` in a fresh
process with the default options (what a user runs), the rows are read back from DuckDB
(what a user sees) and scored by tools/quality.py: per photo, whether it is right on
every count and what failed, then the totals.

Environment: BENCH_QUALITY_SET=check scores the check set instead (tools/photo_set.py's
CHECK_PHOTOS against bench/quality_truth_check.yaml: photos from other packages, built
after the rules; docs/quality.md says which rules its first run prompted; the default,
`dev`, is the 42 development photos);
BENCH_QUALITY_ARGS adds pipeline options (e.g. "--detector_model=PATH") to
try a change against the same truth; BENCH_QUALITY_VERBOSE=1 also prints each photo's
kept labels, category and boxes; BENCH_QUALITY_PHOTOS=DIR with BENCH_QUALITY_TRUTH=FILE
score another set of photos (a held-out one) by the same rules.
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

from tools.photo_set import CHECK_PHOTOS, PHOTOS, Photo, write_photo_set
from tools.quality import format_report, parse_truth, score
from transforms.sinks.duckdb_sink import connect

HERE = os.path.dirname(os.path.abspath(__file__))
TRUTH_FILE = os.path.join(HERE, "quality_truth.yaml")
CHECK_TRUTH_FILE = os.path.join(HERE, "quality_truth_check.yaml")
# BENCH_QUALITY_SET -> (photos, truth file)
SETS: dict[str, tuple[tuple[Photo, ...], str]] = {"dev": (PHOTOS, TRUTH_FILE),
                                                   "check": (CHECK_PHOTOS, CHECK_TRUTH_FILE)}
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff")


def run_pipeline(folder: str, db: str, extra: list[str]) -> None:
    cmd = [sys.executable, "-m", "pipeline", f"--input={folder}", f"--duckdb={db}", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")


def read_rows(db: str) -> tuple[dict[str, dict], dict[str, str]]:
    """({file name: result row}, {file name: error message}) as the pipeline stored them."""
    con = connect(db, read_only=True)
    try:
        cur = con.execute("SELECT name, primary_category, labels, objects FROM classifications")
        cols = [d[0] for d in cur.description]
        rows = {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}
        errors = {r[0]: f"{r[1]}: {r[2]}" for r in con.execute("SELECT name, stage, message FROM errors").fetchall()}
    finally:
        con.close()
    return rows, errors


def describe(row: dict | None) -> str:
    if row is None:
        return "(no row)"
    labels = ", ".join(f"{lab['name']} {lab['score']:.2f}" for lab in row["labels"] or [])
    boxes = ", ".join(f"{o['name']} {o['score']:.2f}" for o in row["objects"] or [])
    return f"category {row['primary_category']} | labels: {labels or '-'} | boxes: {boxes or '-'}"


def photo_set() -> tuple[tuple[Photo, ...], str]:
    """(photos, truth file) of the set BENCH_QUALITY_SET names (`dev` unless set)."""
    name = os.environ.get("BENCH_QUALITY_SET") or "dev"
    if name not in SETS:
        raise SystemExit(f"BENCH_QUALITY_SET={name!r}: known sets are {', '.join(SETS)}")
    return SETS[name]


def gather_photos(folder: str, photos: tuple[Photo, ...] = PHOTOS) -> dict[str, str]:
    """Put the photos in `folder`; returns {file name: photo id}.

    BENCH_QUALITY_PHOTOS=DIR takes the image files directly in DIR instead of the photo set
    (id: the file name without extension), e.g. a held-out set scored with its own truth.
    """
    source = os.environ.get("BENCH_QUALITY_PHOTOS")
    if not source:
        return write_photo_set(folder, photos)
    os.makedirs(folder)
    names = {}
    for name in sorted(os.listdir(source)):
        if os.path.isfile(os.path.join(source, name)) and name.lower().endswith(IMAGE_EXTENSIONS):
            shutil.copyfile(os.path.join(source, name), os.path.join(folder, name))
            names[name] = os.path.splitext(name)[0]
    return names


def main() -> None:
    photos, set_truth = photo_set()
    truth_file = os.environ.get("BENCH_QUALITY_TRUTH") or set_truth
    with open(truth_file, encoding="utf-8") as f:
        naming, truth = parse_truth(yaml.safe_load(f))
    extra = shlex.split(os.environ.get("BENCH_QUALITY_ARGS", ""))
    with tempfile.TemporaryDirectory(prefix="bench_quality_") as work:
        folder = os.path.join(work, "photos")
        names = gather_photos(folder, photos)
        ids = sorted(names.values())
        if ids != sorted(truth):
            raise SystemExit(f"photos and {truth_file} differ: photos without truth "
                             f"{sorted(set(ids) - set(truth))}, truth without photo {sorted(set(truth) - set(ids))}")
        print(f"{len(names)} photos; truth {os.path.relpath(truth_file)}; "
              f"pipeline options: {' '.join(extra) or '(defaults)'}", flush=True)
        db = os.path.join(work, "results.duckdb")
        run_pipeline(folder, db, extra)
        rows, errors = read_rows(db)
    name_of = {pid: name for name, pid in names.items()}
    verdicts = [score(t, rows.get(name_of[pid]), naming, errors.get(name_of[pid])) for pid, t in truth.items()]
    print(format_report(verdicts))
    if os.environ.get("BENCH_QUALITY_VERBOSE") == "1":
        print()
        for pid in truth:
            print(f"{pid}: {describe(rows.get(name_of[pid]))}")
