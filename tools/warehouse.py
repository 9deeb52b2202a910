"""Run GoogleSQL on BigQuery or on the embedded DuckDB file, the same text on both.

Used by the analytics command and by the report, so both read the warehouses one
way. Queries name tables unqualified (`FROM classifications`):

* on BigQuery they run with the dataset as the job's default dataset, as
  `bq query --dataset_id` does; a view's text is stored with its table names
  qualified (a view has no default dataset when it is read later), rewritten
  through sqlglot's syntax tree, not by pasting strings;
* on DuckDB, sqlglot translates them; the results file is opened read-only and
  the shipped views are temporary views beside its tables, so the same names work.
  A results file may come from anyone and the report is meant to be shared: it is
  opened with DuckDB's external access off (no query reads a local file or URL),
  and a view where the pipeline writes a table is refused.

Parameter values are always bound as query parameters, never pasted into SQL.
"""
from __future__ import annotations

import os
from typing import Any

import sqlglot
from sqlglot import exp

from transforms.schema import ALL_TABLES, duckdb_ddl
from transforms.sinks.bigquery_client import parse_dataset
from transforms.sinks.duckdb_sink import connect


class WarehouseError(ValueError):
    """A target that cannot be read (no such file, malformed dataset name)."""


def to_duckdb(sql: str) -> str:
    """GoogleSQL -> DuckDB SQL; @name parameters become $name."""
    return ";\n".join(sqlglot.transpile(sql, read="bigquery", write="duckdb"))


def qualify_tables(sql: str, project: str, dataset: str, names) -> str:
    """`sql` (GoogleSQL) with every unqualified reference to one of `names` written
    `project`.`dataset`.`name`; CTEs and aliases are left alone."""
    tree = sqlglot.parse_one(sql, read="bigquery")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    wanted = set(names) - ctes

    def qualify(node):
        if isinstance(node, exp.Table) and not node.db and node.name in wanted:
            return exp.Table(this=exp.to_identifier(node.name, quoted=True),
                             db=exp.to_identifier(dataset, quoted=True),
                             catalog=exp.to_identifier(project, quoted=True), alias=node.args.get("alias"))
        return node
    return tree.transform(qualify).sql(dialect="bigquery")


def dataset_of(dataset_spec: str) -> tuple[str, str]:
    """'PROJECT:DATASET' -> (project, dataset), or a WarehouseError naming the rule."""
    try:
        return parse_dataset(dataset_spec)
    except ValueError as e:
        raise WarehouseError(str(e)) from None


# ---- BigQuery -------------------------------------------------------------------------

def ensure_views_bigquery(client, dataset_spec: str, views: dict[str, str]) -> None:
    """Create the shipped views (name -> GoogleSQL) the first time they are needed."""
    from google.api_core.exceptions import NotFound
    project, dataset = dataset_of(dataset_spec)
    known = set(ALL_TABLES) | set(views)
    for name, body in views.items():
        try:
            client.get_table(f"{project}.{dataset}.{name}")
        except NotFound:
            client.query(f"CREATE VIEW `{project}.{dataset}.{name}` AS\n"
                         + qualify_tables(body, project, dataset, known)).result()


def query_bigquery(client, sql: str, dataset_spec: str, params: dict[str, tuple[str, Any]] | None = None):
    """(columns, rows) of `sql` run with the dataset as default; params: name -> (TYPE, value)."""
    from google.cloud import bigquery
    project, dataset = dataset_of(dataset_spec)
    config = bigquery.QueryJobConfig(
        default_dataset=f"{project}.{dataset}",
        query_parameters=[bigquery.ScalarQueryParameter(name, kind, value)
                          for name, (kind, value) in (params or {}).items()])
    result = client.query(sql, job_config=config).result()
    return [f.name for f in result.schema], [tuple(row.values()) for row in result]


# ---- DuckDB ---------------------------------------------------------------------------

def duckdb_connection(path: str, views: dict[str, str] | None = None):
    """The results file opened read-only (waiting while a pipeline holds its lock),
    with the shipped views as temporary views.

    Read-only, so a query never changes results; a table the job never wrote is an
    empty temporary table, so every query still runs.
    """
    if not os.path.exists(path):
        raise WarehouseError(f"no results database at {path}")
    con = connect(path, read_only=True, config={"enable_external_access": False})
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables "
                             "WHERE table_schema = 'main' AND table_catalog = current_database()").fetchall())
    present = {name for name, kind in kinds.items() if kind == "BASE TABLE"}
    odd = sorted(name for name in set(ALL_TABLES) & set(kinds) if name not in present)
    if odd:
        con.close()
        raise WarehouseError(f"{path}: `{odd[0]}` is a {kinds[odd[0]].lower()}, not a table: "
                             "the pipeline writes tables there; refusing to read this file")
    for table in ALL_TABLES:
        if table not in present:
            con.execute(duckdb_ddl(table).replace("CREATE TABLE IF NOT EXISTS", "CREATE TEMP TABLE", 1))
    for name, body in (views or {}).items():
        con.execute(f'CREATE TEMP VIEW "{name}" AS ' + to_duckdb(body))
    return con


def query_duckdb(con, sql: str, values: dict[str, object] | None = None):
    """(columns, rows) of GoogleSQL `sql` on a connection from `duckdb_connection`."""
    duck = to_duckdb(sql)
    used = {name: v for name, v in (values or {}).items() if f"${name}" in duck}
    cur = con.execute(duck, used)
    return [d[0] for d in cur.description], [tuple(r) for r in cur.fetchall()]
