"""Run one of the shipped SQL analyses on BigQuery or on the embedded DuckDB file.

    python -m pipeline.analytics --list
    python -m pipeline.analytics NAME [--param k=v ...] (--bigquery_dataset=P:D | --duckdb=PATH)
                                 [--format=table|json|csv]

Each analysis is one GoogleSQL file in `sql/`. Its header says what it answers
and declares its parameters (`@name TYPE [= default]  help`). The same text
runs on BigQuery and, translated by sqlglot, on DuckDB, so a laptop user gets the
same answers as the warehouse. Tables are written `{dataset}.table`; `{dataset}`
becomes a validated, quoted identifier. Parameter values are always bound as
query parameters, never pasted into the SQL.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import re
import sys
from dataclasses import dataclass

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SQL_DIR = os.environ.get("IMAGE_CLASSIFIER_SQL_DIR", os.path.join(REPO_ROOT, "sql"))
DATASET_TOKEN = "{dataset}"
DUCKDB_SCHEMA = "main"
_TITLE = re.compile(r"^--\s*(?P<name>\w+)(?:\s*\((?P<kind>view)\))?:\s*(?P<summary>.+)$")
_PARAM = re.compile(r"^--\s+@(?P<name>\w+)\s+(?P<type>STRING|INT64|FLOAT64|BOOL|DATE)"
                    r"(?:\s*=\s*(?P<default>\S+))?\s*(?P<help>.*)$")
_CONVERT = {
    "STRING": str, "INT64": int, "FLOAT64": float, "DATE": dt.date.fromisoformat,
    "BOOL": lambda v: {"true": True, "false": False}[v.strip().lower()],
}


class AnalyticsError(ValueError):
    """A wrong name, parameter or target, reported as one line."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: str | None
    help: str


@dataclass(frozen=True)
class Analysis:
    name: str
    kind: str            # "analysis" or "view"
    summary: str
    answers: str
    params: tuple[Param, ...]
    sql: str             # the whole file, header included

    @property
    def body(self) -> str:
        """The SQL without its header comment (the emulator counts @names even in comments)."""
        lines = self.sql.splitlines()
        while lines and (lines[0].startswith("--") or not lines[0].strip()):
            lines.pop(0)
        return "\n".join(lines)


def parse_sql_file(path: str) -> Analysis:
    text = open(path, encoding="utf-8").read()
    header = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        header.append(line)
    title = _TITLE.match(header[0]) if header else None
    if not title:
        raise AnalyticsError(f"{path}: the first line must be '-- name: what it answers'")
    answers, params, in_answers = [], [], False
    for line in header[1:]:
        body = line[2:].strip()
        if body.startswith("Answers:"):
            in_answers, body = True, body[len("Answers:"):].strip()
        elif body.startswith("Parameters:"):
            in_answers = False
        m = _PARAM.match(line)
        if m:
            params.append(Param(m["name"], m["type"], m["default"], m["help"].strip()))
        elif in_answers and body:
            answers.append(body)
    return Analysis(title["name"], title["kind"] or "analysis", title["summary"].strip(),
                    " ".join(answers), tuple(params), text)


def catalog(sql_dir: str = SQL_DIR) -> dict[str, Analysis]:
    """Every .sql file in the folder, by name."""
    out = {}
    for fname in sorted(os.listdir(sql_dir)):
        if fname.endswith(".sql"):
            a = parse_sql_file(os.path.join(sql_dir, fname))
            out[a.name] = a
    return out


def bind(analysis: Analysis, given: dict[str, str]) -> dict[str, object]:
    """Typed values for the declared parameters; unknown, missing or malformed ones are errors."""
    declared = {p.name: p for p in analysis.params}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise AnalyticsError(f"{analysis.name} has no parameter {unknown[0]!r} "
                             f"(it takes: {', '.join(declared) or 'none'})")
    values = {}
    for p in analysis.params:
        raw = given.get(p.name, p.default)
        if raw is None:
            raise AnalyticsError(f"{analysis.name} needs --param {p.name}=VALUE ({p.help})")
        try:
            values[p.name] = _CONVERT[p.type](raw)
        except (ValueError, KeyError):
            raise AnalyticsError(f"--param {p.name}={raw!r} is not a {p.type}") from None
    return values


def with_dataset(sql: str, dataset_identifier: str) -> str:
    """Put the (already quoted) dataset identifier where the SQL names it; nothing else changes."""
    return sql.replace(DATASET_TOKEN, dataset_identifier)


def bigquery_identifier(dataset_spec: str) -> str:
    from transforms.bigquery_client import parse_dataset
    project, dataset = parse_dataset(dataset_spec)   # letters, digits, - _ . : only
    return f"`{project}.{dataset}`"


def to_duckdb(sql: str) -> str:
    """GoogleSQL -> DuckDB SQL; @name parameters become $name."""
    import sqlglot
    return ";\n".join(sqlglot.transpile(sql, read="bigquery", write="duckdb"))


# ---- BigQuery -------------------------------------------------------------------------

def ensure_views_bigquery(client, dataset_spec: str, views: list[Analysis]) -> None:
    """Create the shipped views the first time an analysis needs them."""
    from google.api_core.exceptions import NotFound
    from transforms.bigquery_client import parse_dataset
    project, dataset = parse_dataset(dataset_spec)
    ident = bigquery_identifier(dataset_spec)
    for view in views:
        try:
            client.get_table(f"{project}.{dataset}.{view.name}")
        except NotFound:
            client.query(f"CREATE VIEW {ident}.{view.name} AS\n"
                         + with_dataset(view.body, ident)).result()


def run_bigquery(analysis: Analysis, values: dict, dataset_spec: str, views: list[Analysis]):
    from google.cloud import bigquery
    from transforms.bigquery_client import bigquery_client, parse_dataset
    client = bigquery_client(parse_dataset(dataset_spec)[0])
    ensure_views_bigquery(client, dataset_spec, views)
    types = {p.name: p.type for p in analysis.params}
    config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ScalarQueryParameter(name, types[name], value) for name, value in values.items()])
    result = client.query(with_dataset(analysis.body, bigquery_identifier(dataset_spec)),
                          job_config=config).result()
    columns = [f.name for f in result.schema]
    return columns, [tuple(row.values()) for row in result]


# ---- DuckDB ---------------------------------------------------------------------------

def duckdb_connection(path: str, views: list[Analysis]):
    """In-memory DuckDB over the results file (read-only), with the shipped views.

    The file is attached read-only, so an analysis never changes results and can
    run beside a finished pipeline; its tables and the views live in `main`.
    """
    import duckdb
    from transforms.schema import TABLES
    if not os.path.exists(path):
        raise AnalyticsError(f"no results database at {path}")
    con = duckdb.connect()
    con.execute("SET TimeZone='UTC'")
    quoted_path = "'" + os.path.abspath(path).replace("'", "''") + "'"
    con.execute(f"ATTACH {quoted_path} AS results (READ_ONLY)")
    for table in TABLES:
        con.execute(f'CREATE VIEW {DUCKDB_SCHEMA}."{table}" AS SELECT * FROM results.main."{table}"')
    for view in views:
        con.execute(f'CREATE VIEW {DUCKDB_SCHEMA}."{view.name}" AS '
                    + to_duckdb(with_dataset(view.body, DUCKDB_SCHEMA)))
    return con


def run_duckdb(analysis: Analysis, values: dict, path: str, views: list[Analysis]):
    con = duckdb_connection(path, views)
    try:
        sql = to_duckdb(with_dataset(analysis.body, DUCKDB_SCHEMA))
        used = {name: v for name, v in values.items() if f"${name}" in sql}
        cur = con.execute(sql, used)
        columns = [d[0] for d in cur.description]
        return columns, [tuple(r) for r in cur.fetchall()]
    finally:
        con.close()


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
    views = [a for a in analyses.values() if a.kind == "view" and a.name != name]
    if bigquery_dataset:
        try:
            bigquery_identifier(bigquery_dataset)
        except ValueError as e:
            raise AnalyticsError(str(e)) from None
        return run_bigquery(analysis, values, bigquery_dataset, views)
    return run_duckdb(analysis, values, duckdb, views)


# ---- output ---------------------------------------------------------------------------

def _plain(value):
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, float):
        return round(value, 6)
    return value


def render(columns: list[str], rows: list[tuple], fmt: str) -> str:
    if fmt == "json":
        return json.dumps([{c: _plain(v) for c, v in zip(columns, r)} for r in rows], indent=2, default=str)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_plain(v) for v in r] for r in rows])
        return buf.getvalue().rstrip("\n")
    cells = [[("" if v is None else str(_plain(v))) for v in r] for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def describe(analyses: dict[str, Analysis]) -> str:
    lines = []
    for a in analyses.values():
        kind = " (view)" if a.kind == "view" else ""
        lines.append(f"{a.name}{kind}: {a.summary}")
        for p in a.params:
            default = "required" if p.default is None else f"default {p.default}"
            lines.append(f"    --param {p.name}=<{p.type}>  {p.help} ({default})")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m pipeline.analytics",
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
