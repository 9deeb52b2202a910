"""The summary printed at the end of every local run: what happened to each
image this run took in, how fast, and where the results and copies are.

The figures come from the results database when the run wrote to DuckDB (what
was really written), otherwise from the run's progress tracker (BigQuery-only
runs); the listing's skips come from the job's Beam metrics.

Names and messages come from files and objects anyone can name: every control
character in them is printed as an escape (`\\x1b`, `\\n`), so a name cannot move
the cursor, retitle the window, clear the screen or start a line of its own.
"""
from __future__ import annotations

import datetime as dt
import os
import re

from transforms.metrics import NAMESPACE
from transforms.sinks.duckdb_sink import connect

FIRST_ERRORS = 5
# C0 and C1 controls, DEL, the line and paragraph separators and the bidirectional
# overrides (which reorder what follows them on the line).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match) -> str:
    ch = m.group()
    return _SHORT.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def printable(text) -> str:
    """`text` with every control character written as an escape; other characters (any script) kept."""
    return _CONTROL.sub(_escape, str(text))


def run_summary(duckdb_path: str, since: dt.datetime) -> dict:
    """Figures for the rows this run wrote (re-runs replace rows, so `since` selects this run).

    A run stopped early may have written nothing yet: no file, or a table not made yet, counts as empty.
    """
    tables: set[str] = set()
    con = connect(duckdb_path, read_only=True) if os.path.exists(duckdb_path) else None
    try:
        if con is not None:
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}

        def query(table: str, sql: str, params=None) -> list:
            return con.execute(sql, params or []).fetchall() if con is not None and table in tables else []

        per_category = query("classifications",
                             "SELECT primary_category, count(*) FROM classifications WHERE classified_at >= ? "
                             "GROUP BY 1 ORDER BY 2 DESC, 1", [since])
        per_stage = query("errors", "SELECT stage, count(*) FROM errors WHERE failed_at >= ? "
                                    "GROUP BY 1 ORDER BY 2 DESC, 1", [since])
        first_errors = query("errors", "SELECT stage, code, coalesce(name, uri), message FROM errors "
                                       f"WHERE failed_at >= ? ORDER BY failed_at, name LIMIT {FIRST_ERRORS}", [since])
        totals = tuple(query(t, f"SELECT count(*) FROM {t}")[0][0] if t in tables else 0
                       for t in ("classifications", "errors"))
    finally:
        if con is not None:
            con.close()
    return {"per_category": per_category, "per_stage": per_stage, "first_errors": first_errors,
            "classified": sum(n for _, n in per_category), "errors": sum(n for _, n in per_stage),
            "db_totals": totals}


def tracker_summary(tracker) -> dict:
    """The same figures from the in-process progress tracker (any sink)."""
    per_category = sorted(tracker.per_category.items(), key=lambda kv: (-kv[1], kv[0]))
    per_stage = sorted(tracker.per_stage.items(), key=lambda kv: (-kv[1], kv[0]))
    first = [(e["stage"], e["code"], e["name"] or e["uri"], e["message"]) for e in tracker.first_errors]
    return {"per_category": per_category, "per_stage": per_stage, "first_errors": first,
            "classified": tracker.classified, "errors": tracker.errors, "db_totals": None}


def listing_skips(result) -> dict[str, int]:
    """What the listing or manifest took in and skipped, from the finished job's counters (as ranges report them)."""
    out = {"listed_images": 0, "listing_ranges": 0, "manifest_bad_lines": 0,
           "skipped_not_image": 0, "skipped_copies": 0, "skipped_links": 0}
    try:
        counters = result.metrics().query()["counters"]
    except Exception:  # noqa: BLE001 - a runner without metrics only loses this line
        return out
    for c in counters:
        if c.key.metric.namespace == NAMESPACE and c.key.metric.name in out:
            out[c.key.metric.name] += c.committed or c.attempted or 0
    return out


def format_summary(s: dict, *, seconds: float, duckdb_path: str | None, category_root: str,
                   bigquery_dataset: str | None = None, skips: dict | None = None,
                   firestore: str | None = None) -> str:
    done = s["classified"] + s["errors"]
    rate = done / seconds if seconds > 0 else 0.0
    lines = [f"Classified {s['classified']:,} images, {s['errors']:,} errors, in {seconds:.1f} s "
             f"({rate:.1f} images/s)."]
    if skips and skips.get("listed_images"):
        ranges = f" from {skips['listing_ranges']:,} key ranges" if skips.get("listing_ranges") else ""
        bad = f"; {skips['manifest_bad_lines']:,} manifest lines unusable" if skips.get("manifest_bad_lines") else ""
        lines.append(f"Listed {skips['listed_images']:,} images{ranges}{bad}.")
    if skips and (skips.get("skipped_not_image") or skips.get("skipped_copies")):
        lines.append(f"Skipped {skips.get('skipped_not_image', 0):,} files that are not images and "
                     f"{skips.get('skipped_copies', 0):,} category copies.")
    if skips and skips.get("skipped_links"):
        lines.append(f"Skipped {skips['skipped_links']:,} symbolic links not followed (folders and other "
                     "non-image names; a link with an image name is a read/symlink error row).")
    if s["per_category"]:
        lines.append("Images per category:")
        lines += [f"  {printable(cat):<28} {n:>7,}" for cat, n in s["per_category"]]
    if s["per_stage"]:
        lines.append("Errors by stage: " + ", ".join(f"{stage} {n:,}" for stage, n in s["per_stage"]))
        lines += [f"  [{stage}/{code}] {name}: {msg}" for stage, code, name, msg in s["first_errors"]]
    if duckdb_path:
        totals = f" (tables classifications: {s['db_totals'][0]:,} rows, errors: {s['db_totals'][1]:,} rows)" \
            if s.get("db_totals") else ""
        lines.append(f"Results: {duckdb_path}{totals}")
    if bigquery_dataset:
        lines.append(f"Results: BigQuery {bigquery_dataset} (tables classifications, errors)")
    if firestore:
        lines.append(f"Results: Firestore {firestore} (one document per classified image)")
    lines.append(f"Copies:  {category_root}/<category>/...")
    source = f"--duckdb={duckdb_path}" if duckdb_path else f"--bigquery_dataset={bigquery_dataset}"
    lines.append(f"Report:  python -m tools.report {source} --out=out/report")
    return "\n".join(printable(line) for line in lines)
