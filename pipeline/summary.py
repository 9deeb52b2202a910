"""The summary printed at the end of every local run: what happened to each
image this run took in, and where the results and copies are."""
from __future__ import annotations

import datetime as dt

from transforms.duckdb_sink import connect


def run_summary(duckdb_path: str, since: dt.datetime) -> dict:
    """Figures for the rows this run wrote (re-runs replace rows, so `since` selects this run)."""
    con = connect(duckdb_path, read_only=True)
    try:
        per_category = con.execute(
            "SELECT primary_category, count(*) FROM classifications WHERE classified_at >= ? "
            "GROUP BY 1 ORDER BY 2 DESC, 1", [since]).fetchall()
        per_stage = con.execute(
            "SELECT stage, count(*) FROM errors WHERE failed_at >= ? GROUP BY 1 ORDER BY 2 DESC, 1",
            [since]).fetchall()
        first_errors = con.execute(
            "SELECT stage, code, name, message FROM errors WHERE failed_at >= ? ORDER BY failed_at, name LIMIT 5",
            [since]).fetchall()
        totals = con.execute("SELECT (SELECT count(*) FROM classifications), (SELECT count(*) FROM errors)").fetchone()
    finally:
        con.close()
    return {"per_category": per_category, "per_stage": per_stage, "first_errors": first_errors,
            "classified": sum(n for _, n in per_category), "errors": sum(n for _, n in per_stage),
            "db_totals": totals}


def format_summary(s: dict, *, seconds: float, duckdb_path: str, category_root: str) -> str:
    done = s["classified"] + s["errors"]
    rate = done / seconds if seconds > 0 else 0.0
    lines = [f"Classified {s['classified']} images, {s['errors']} errors, in {seconds:.1f} s "
             f"({rate:.1f} images/s)."]
    if s["per_category"]:
        lines.append("Images per category:")
        lines += [f"  {cat:<28} {n:>7}" for cat, n in s["per_category"]]
    if s["per_stage"]:
        lines.append("Errors by stage: " + ", ".join(f"{stage} {n}" for stage, n in s["per_stage"]))
        lines += [f"  [{stage}/{code}] {name}: {msg}" for stage, code, name, msg in s["first_errors"]]
    lines.append(f"Results: {duckdb_path} (tables classifications: {s['db_totals'][0]} rows, "
                 f"errors: {s['db_totals'][1]} rows)")
    lines.append(f"Copies:  {category_root}/<category>/...")
    return "\n".join(lines)
