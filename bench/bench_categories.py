"""Which default files more photos where a person would look: the top label or the
built-in everyday taxonomy? `python -m bench categories`.

The quality bench's photos (tools/photo_set.py) go through the pipeline once, with
`--categories=top_label`; both taxonomies are then applied to the stored rows (as
`tools.refile` does, no second model run) and each photo's folder is scored against
the categories bench/quality_truth.yaml accepts: right, a non-answer (`uncategorized`
or `other`), or wrong. Precision is right / (right + wrong): a wrong folder costs more
than no folder.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import yaml

from pipeline.categories_file import load_taxonomy
from tools.photo_set import write_photo_set
from tools.quality import parse_truth
from transforms.sinks.duckdb_sink import connect
from transforms.taxonomy import TOP_LABEL, categorize

TRUTH_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "quality_truth.yaml")
NON_ANSWERS = ("uncategorized", "other")


def _key(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def main() -> None:
    with open(TRUTH_FILE, encoding="utf-8") as f:
        _, truth = parse_truth(yaml.safe_load(f))
    taxonomies = {"top_label": TOP_LABEL, "builtin:everyday": load_taxonomy("builtin:everyday")}
    with tempfile.TemporaryDirectory(prefix="bench_categories_") as work:
        folder, db = os.path.join(work, "photos"), os.path.join(work, "results.duckdb")
        names = write_photo_set(folder)
        subprocess.run([sys.executable, "-m", "pipeline", f"--input={folder}", f"--duckdb={db}",
                        "--categories=top_label", f"--category_root={os.path.join(work, 'classified')}"],
                       check=True, capture_output=True)
        con = connect(db, read_only=True)
        cur = con.execute("SELECT name, labels, objects, faces, text, is_safe FROM classifications")
        cols = [d[0] for d in cur.description]
        rows = {r[0]: dict(zip(cols, r, strict=True)) for r in cur.fetchall()}
        con.close()
    tally = {t: {"right": 0, "none": 0, "wrong": 0} for t in taxonomies}
    print(f"{'photo':22s} " + " ".join(f"{t:32s}" for t in taxonomies))
    for name, pid in sorted(names.items(), key=lambda kv: kv[1]):
        accepted = {_key(c) for c in truth[pid].categories}
        cells = []
        for t, tax in taxonomies.items():
            category, _ = categorize(rows[name], tax) if name in rows else ("(no row)", "")
            verdict = "right" if _key(category) in accepted else "none" if category in NON_ANSWERS else "wrong"
            tally[t][verdict] += 1
            cells.append(f"{category} {'' if verdict == 'right' else verdict.upper()}".ljust(32))
        print(f"{pid:22s} " + " ".join(cells))
    print()
    for t, n in tally.items():
        answered = n["right"] + n["wrong"]
        print(f"{t:18s} right {n['right']:2d}  non-answer {n['none']:2d}  wrong {n['wrong']:2d}  "
              f"precision {n['right'] / answered:.0%} of {answered} filed" if answered else f"{t}: nothing filed")
