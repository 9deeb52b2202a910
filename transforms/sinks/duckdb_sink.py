"""WriteToDuckDB: the embedded results database.

Rows are written in batches as upserts on (bucket, name, generation), so a
re-run backfill or a redelivered notification never adds a second row, and an
image that failed once and succeeds later moves from `errors` to
`classifications` (the latest outcome wins: one row per image, in one table).
DuckDB allows one writer per file at a time, so each batch opens the file,
writes and closes it, waiting while another process holds the lock. Rows are
validated against the table definition first (the same rules as BigQuery's), so
a row Arrow cannot convert becomes its image's error row instead of failing its
whole batch; the sink outputs the rows once their batch is committed.
"""
from __future__ import annotations

import os
import random
import time

import apache_beam as beam

from transforms import metrics
from transforms.schema import TABLES, arrow_schema, duckdb_ddl, duckdb_type
from transforms.sinks.row_validation import ValidateTables
from transforms.stage import StageOutput

LOCK_WAIT_SECS = 300


def connect(path: str, read_only: bool = False, wait_secs: float = LOCK_WAIT_SECS, config: dict | None = None):
    """Open the file, waiting for another writer's lock to be released; `config`: DuckDB settings."""
    import duckdb
    deadline = time.monotonic() + wait_secs
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(path, read_only=read_only, config=config or {})
            con.execute("SET TimeZone='UTC'")
            return con
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)


def ensure_tables(con) -> None:
    """Create the tables, and add any nullable column a file written by an older version lacks."""
    for table in TABLES:
        con.execute(duckdb_ddl(table))
        for f in TABLES[table]:
            if f.mode != "REQUIRED":
                con.execute(f'ALTER TABLE {table} ADD COLUMN IF NOT EXISTS "{f.name}" {duckdb_type(f)}')


def upsert(con, table: str, rows: list[dict]) -> None:
    """Insert rows, replacing any earlier outcome for the same image."""
    import pyarrow as pa
    if not rows:
        return
    batch = pa.Table.from_pylist(rows, schema=arrow_schema(table))  # noqa: F841 - read by DuckDB by name
    con.execute("BEGIN")
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE _keys AS "
                    "SELECT DISTINCT bucket, name, generation, uri FROM batch")
        for t in ("classifications", "errors") if table == "errors" else ("errors",):
            con.execute(f"DELETE FROM {t} USING _keys k WHERE "
                        f"({t}.bucket = k.bucket AND {t}.name = k.name AND {t}.generation = k.generation) "
                        f"OR (k.bucket IS NULL AND {t}.uri = k.uri)")
        columns = ", ".join(f'"{c}"' for c in batch.column_names)
        verb = "INSERT OR REPLACE" if table == "classifications" else "INSERT"
        con.execute(f"{verb} INTO {table} ({columns}) SELECT {columns} FROM batch")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


class _WriteBatch(beam.DoFn):
    def __init__(self, path: str, table: str):
        self.path, self.table = path, table
        self.written = metrics.counter(f"duckdb_{table}_rows")
        self.batch_size = metrics.distribution(f"duckdb_{table}_batch_size")

    def setup(self):
        os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)

    def process(self, rows):
        rows = list({(r.get("bucket"), r.get("name"), r.get("generation"), r.get("uri")): r
                     for r in rows}.values())
        con = connect(self.path)
        try:
            ensure_tables(con)
            upsert(con, self.table, rows)
        finally:
            con.close()
        self.written.inc(len(rows))
        self.batch_size.update(len(rows))
        yield from rows


class WriteToDuckDB(beam.PTransform):
    """Write valid rows of `table` ('classifications' or 'errors'); outputs the rows written."""

    def __init__(self, path: str, table: str, max_batch_size: int = 500):
        super().__init__()
        self.path, self.table, self.max_batch_size = path, table, max_batch_size

    def expand(self, rows):
        return (rows
                | "Batch" >> beam.BatchElements(min_batch_size=1, max_batch_size=self.max_batch_size)
                | "Upsert" >> beam.ParDo(_WriteBatch(self.path, self.table)))


class WriteToDuckDBTables(beam.PTransform):
    """StageOutput(rows, error rows) -> StageOutput(rows written, error rows written)."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def expand(self, results):
        checked = results | "Validate" >> ValidateTables()
        return StageOutput(checked.ok | "WriteClassifications" >> WriteToDuckDB(self.path, "classifications"),
                           checked.errors | "WriteErrors" >> WriteToDuckDB(self.path, "errors"))
