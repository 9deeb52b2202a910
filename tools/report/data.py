"""What the report shows, read from DuckDB or BigQuery with the same queries.

The queries are written once in GoogleSQL, with unqualified table names, and run
through `tools.warehouse` (default dataset on BigQuery, sqlglot's translation
on DuckDB), so both warehouses give the same figures. Everything heavy (counts, label
frequency, the score histogram) is aggregated in the warehouse; only a bounded
sample of rows per category and the most recent errors come back, so a table
of millions of rows makes a report of a few hundred cards.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from tools import warehouse
from transforms.sinks.bigquery_client import bigquery_client

SCORE_BINS = 20   # confidence histogram: bins of 0.05

# BigQuery may hold a retried insert twice; the newest row per image wins (DuckDB upserts already).
_LATEST = ("WITH c AS (SELECT * FROM classifications "
           "QUALIFY ROW_NUMBER() OVER (PARTITION BY bucket, name, generation ORDER BY classified_at DESC) = 1)")

QUERIES = {
    "per_category": _LATEST + " SELECT primary_category, COUNT(*) AS n FROM c GROUP BY 1 ORDER BY n DESC, 1",
    "sample": _LATEST + " SELECT * FROM c QUALIFY ROW_NUMBER() OVER "
                        "(PARTITION BY primary_category ORDER BY name, generation) <= {per_category}",
    "label_frequency": _LATEST + " SELECT l.name AS label, COUNT(*) AS n FROM c, UNNEST(c.labels) AS l "
                                 "GROUP BY 1 ORDER BY n DESC, 1 LIMIT {top_labels}",
    "score_histogram": _LATEST + f" SELECT LEAST(CAST(FLOOR(l.score * {SCORE_BINS}) AS INT64), {SCORE_BINS - 1})"
                                 " AS bin, COUNT(*) AS n FROM c, UNNEST(c.labels) AS l GROUP BY 1 ORDER BY 1",
    "errors_per_stage": "SELECT stage, COUNT(*) AS n FROM errors GROUP BY 1 ORDER BY n DESC, 1",
    "errors": "SELECT uri, name, generation, stage, code, message, attempts, failed_at FROM errors "
              "ORDER BY failed_at DESC, uri LIMIT {max_errors}",
}


@dataclass
class ReportData:
    source: str
    per_category: list[tuple[str, int]]
    rows: list[dict]                       # a sample per category
    label_frequency: list[tuple[str, int]]
    score_histogram: list[int]             # SCORE_BINS counts of kept label scores
    errors_per_stage: list[tuple[str, int]]
    errors: list[dict]
    limits: dict = field(default_factory=dict)

    @property
    def total_images(self) -> int:
        return sum(n for _, n in self.per_category)

    @property
    def total_errors(self) -> int:
        return sum(n for _, n in self.errors_per_stage)


def _sql(name: str, limits: dict) -> str:
    return QUERIES[name].format(**limits)


def _histogram(pairs) -> list[int]:
    bins = [0] * SCORE_BINS
    for b, n in pairs:
        if b is not None:
            bins[min(max(int(b), 0), SCORE_BINS - 1)] += int(n)
    return bins


def _assemble(source: str, run, limits: dict) -> ReportData:
    return ReportData(
        source=source,
        per_category=[(r["primary_category"], int(r["n"])) for r in run("per_category")],
        rows=run("sample"),
        label_frequency=[(r["label"], int(r["n"])) for r in run("label_frequency")],
        score_histogram=_histogram((r["bin"], r["n"]) for r in run("score_histogram")),
        errors_per_stage=[(r["stage"], int(r["n"])) for r in run("errors_per_stage")],
        errors=run("errors"),
        limits=limits,
    )


def _limits(per_category: int, max_errors: int, top_labels: int) -> dict:
    return {"per_category": int(per_category), "max_errors": int(max_errors), "top_labels": int(top_labels)}


def _as_dicts(columns_rows) -> list[dict]:
    columns, rows = columns_rows
    return [dict(zip(columns, values, strict=False)) for values in rows]


def from_duckdb(path: str, per_category: int = 48, max_errors: int = 1000, top_labels: int = 12) -> ReportData:
    try:
        con = warehouse.duckdb_connection(path)
    except warehouse.WarehouseError as e:
        raise FileNotFoundError(str(e)) from None
    limits = _limits(per_category, max_errors, top_labels)
    try:
        return _assemble(os.path.abspath(path),
                         lambda name: _as_dicts(warehouse.query_duckdb(con, _sql(name, limits))), limits)
    finally:
        con.close()


def from_bigquery(dataset: str, per_category: int = 48, max_errors: int = 1000, top_labels: int = 12,
                  client=None) -> ReportData:
    project, name = warehouse.dataset_of(dataset)
    limits = _limits(per_category, max_errors, top_labels)
    client = client or bigquery_client(project)
    return _assemble(f"BigQuery {project}:{name}",
                     lambda query: _as_dicts(warehouse.query_bigquery(client, _sql(query, limits), dataset)), limits)
