"""Run one of the shipped SQL analyses on BigQuery or on the embedded DuckDB file.

    python -m tools.analytics --list
    python -m tools.analytics NAME [--param k=v ...] (--bigquery_dataset=P:D | --duckdb=PATH)
                                 [--format=table|json|csv]

Each analysis is one plain GoogleSQL file in `sql/` (see `tools.sql_catalog`);
the same text runs on BigQuery with the dataset as default dataset and, translated
by sqlglot, on DuckDB (`tools.warehouse`), so a laptop user gets the same
answers as the warehouse.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import sys

from tools import warehouse
from tools.sql_catalog import SQL_DIR, Analysis, AnalyticsError, bind, catalog
from transforms.sinks.bigquery_client import bigquery_client

__all__ = ["AnalyticsError", "bind", "catalog", "main", "render", "run"]


def run(name: str, params: dict[str, str] | None = None, *, bigquery_dataset: str | None = None,
        duckdb: str | None = None, sql_dir: str = SQL_DIR) -> tuple[list[str], list[tuple]]:
    """Run analysis `name` on exactly one target; returns (columns, rows)."""
    analyses = catalog(sql_dir)
    if name not in analyses:
        raise AnalyticsError(f"no analysis {name!r}; --list shows them")
    if bool(bigquery_dataset) == bool(duckdb):
        raise AnalyticsError("give exactly one of --bigquery_dataset=PROJECT:DATASET or --duckdb=PATH")
    analysis = analyses[name]
    values = bind(analysis, params or {})
    views = {a.name: a.body for a in analyses.values() if a.kind == "view" and a.name != name}
    try:
        if bigquery_dataset:
            return _run_bigquery(analysis, values, bigquery_dataset, views)
        con = warehouse.duckdb_connection(duckdb or "", views)
        try:
            return warehouse.query_duckdb(con, analysis.body, values)
        finally:
            con.close()
    except warehouse.WarehouseError as e:
        raise AnalyticsError(str(e)) from None


def _run_bigquery(analysis: Analysis, values: dict, dataset_spec: str, views: dict[str, str]):
    project, _ = warehouse.dataset_of(dataset_spec)
    client = bigquery_client(project)
    warehouse.ensure_views_bigquery(client, dataset_spec, views)
    types = {p.name: p.type for p in analysis.params}
    return warehouse.query_bigquery(client, analysis.body, dataset_spec,
                                    {name: (types[name], value) for name, value in values.items()})


# ---- output ---------------------------------------------------------------------------

def _plain(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    return value


def render(columns: list[str], rows: list[tuple], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([{c: _plain(v) for c, v in zip(columns, r, strict=True)} for r in rows],
                          indent=2, default=str)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_plain(v) for v in r] for r in rows])
        return buf.getvalue().rstrip("\n")
    cells = [[("" if v is None else str(_plain(v))) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=False)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=False)).rstrip() for r in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def describe(analyses: dict[str, Analysis]) -> str:
    lines = []
    for a in analyses.values():
        kind = " (view)" if a.kind == "view" else ""
        lines.append(f"{a.name}{kind}: {a.summary}")
        for p in a.params:
            default = "required" if p.default is None else f"default {p.default}"
            kind = p.type if p.low is None else f"{p.type} {p.low:g}..{p.high:g}"
            lines.append(f"    --param {p.name}=<{kind}>  {p.help} ({default})")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m tools.analytics",
                                 description="Run one SQL analysis of the results (see --list).")
    ap.add_argument("name", nargs="?", help="the analysis to run")
    ap.add_argument("--list", action="store_true", help="list the analyses and their parameters")
    ap.add_argument("--param", action="append", default=[], metavar="K=V", help="a parameter value")
    ap.add_argument("--bigquery_dataset", metavar="PROJECT:DATASET")
    ap.add_argument("--duckdb", metavar="PATH")
    ap.add_argument("--format", choices=("table", "json", "csv"), default="table")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.list:
            print(describe(catalog()))
            return 0
        if not args.name:
            raise AnalyticsError("name an analysis (--list shows them)")
        params = {}
        for item in args.param:
            key, sep, value = item.partition("=")
            if not sep:
                raise AnalyticsError(f"--param wants K=V, got {item!r}")
            params[key.strip()] = value
        columns, rows = run(args.name, params, bigquery_dataset=args.bigquery_dataset, duckdb=args.duckdb)
    except AnalyticsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(render(columns, rows, args.format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
