r"""WriteToBigQueryTables: result rows and error rows into BigQuery.

    tables exist (created if missing, partitioned and clustered)
    classifications -> validate -> write ---------------------------> written rows
                            \ invalid   \ rejected rows
    errors -------------------------------+-> validate -> write -> written error rows

Batch jobs write with load jobs (FILE_LOADS: free, atomic per file; needs a
gs:// temp location). Streaming jobs use streaming inserts whose insert ids are
derived from the image key (bucket, name, generation), so a redelivered
notification or a retried bundle is de-duplicated by BigQuery instead of landing
twice (Beam's own ids are random per attempt). What BigQuery still lets through
twice (a re-run backfill, a redelivery after the de-duplication window) is
removed by the shipped `latest_classifications` view. Rows are validated first;
rows BigQuery rejects anyway become error rows, not a failed job.
What the sink outputs is what BigQuery has taken: with streaming inserts each
row it accepted; with load jobs the rows of the load, once the load job has
finished (BigQuery takes or refuses a load job's file whole).
STORAGE_WRITE_API is not used: it needs a Java expansion service.
"""
from __future__ import annotations

import hashlib
import json
import logging

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryDisposition, WriteToBigQuery
from apache_beam.io.gcp.bigquery_tools import RetryStrategy

from transforms import metrics
from transforms.beam_compat import InsertRowsReportingWritten, WaitForLoadJobs
from transforms.records import error_row
from transforms.schema import KEY, TABLES, bigquery_layout, bigquery_schema
from transforms.sinks.bigquery_client import beam_test_client, bigquery_client, parse_dataset, table_spec
from transforms.sinks.row_validation import ValidateRows, ValidateTables, repair_error_row
from transforms.stage import StageOutput

LOG = logging.getLogger(__name__)
DEFAULT_MAX_RETRIES = 8   # about a minute of backoff before a row is given up as an error row


def insert_id(table: str, row: dict) -> str:
    """Same image (and, for errors, same failure) -> same id, on every attempt."""
    if table == "classifications":
        parts = [row.get(k) for k in KEY]
    else:
        parts = [row.get("uri"), row.get("generation"), row.get("stage"), row.get("code")]
    return hashlib.sha256(json.dumps([table, *parts], default=str).encode()).hexdigest()


def rejected_as_error(failure) -> dict:
    """Beam's failed-row output (destination, row, errors) -> an `errors` row."""
    _, row, errors = failure
    err = error_row(None, "write", "bigquery_rejected",
                    "BigQuery rejected the row: " + json.dumps(errors, default=str)[:2000],
                    uri=str(row.get("uri") or "unknown"))
    for key in KEY:
        err[key] = row.get(key)
    return repair_error_row(err)


class _EnsureTables(beam.DoFn):
    """Create both tables if missing, so an empty run still leaves queryable tables."""

    def __init__(self, dataset: str):
        self.dataset = dataset

    def process(self, _):
        from google.cloud import bigquery
        project, dataset = parse_dataset(self.dataset)
        client = bigquery_client(project)
        for table in TABLES:
            layout = bigquery_layout(table)
            t = bigquery.Table(f"{project}.{dataset}.{table}",
                               schema=[bigquery.SchemaField.from_api_repr(f) for f in bigquery_schema(table)])
            t.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=layout["timePartitioning"]["field"])
            t.clustering_fields = layout["clustering"]["fields"]
            add_missing_columns(client, client.create_table(t, exists_ok=True), table)
        yield True


def add_missing_columns(client, existing, table: str) -> None:
    """Append the nullable columns a table made by an older version lacks (BigQuery allows adding them)."""
    from google.cloud import bigquery
    have = {f.name for f in existing.schema}
    missing = [f for f in bigquery_schema(table) if f["name"] not in have and f["mode"] != "REQUIRED"]
    if missing:
        existing.schema = list(existing.schema) + [bigquery.SchemaField.from_api_repr(f) for f in missing]
        client.update_table(existing, ["schema"])


class _LogLostErrors(beam.DoFn):
    """An error row the errors table refused: nothing is left to write it to, so say it loudly."""

    def __init__(self):
        self.lost = metrics.counter("bigquery_error_rows_lost")

    def process(self, failure):
        self.lost.inc()
        LOG.error("errors table refused a row for %s: %s", failure[1].get("uri"), failure[2])


class _WriteTable(beam.PTransform):
    """Write validated rows of one table: StageOutput(ok=the rows written,
    errors=Beam's failed rows (destination, row, errors))."""

    def __init__(self, dataset: str, table: str, streaming: bool, max_retries: int, client=None):
        super().__init__()
        self.dataset, self.table, self.streaming, self.max_retries = dataset, table, streaming, max_retries
        self.client = client

    def expand(self, rows):
        spec = table_spec(self.dataset, self.table)
        schema = {"fields": bigquery_schema(self.table)}
        client = self.client or beam_test_client(parse_dataset(self.dataset)[0])
        if not self.streaming:
            loads = rows | "Load" >> WriteToBigQuery(
                spec, schema=schema, method=WriteToBigQuery.Method.FILE_LOADS,
                create_disposition=BigQueryDisposition.CREATE_IF_NEEDED,
                write_disposition=BigQueryDisposition.WRITE_APPEND,
                additional_bq_parameters=bigquery_layout(self.table), test_client=client)
            finished = (loads.destination_load_jobid_pairs
                        | "WaitForLoads" >> beam.ParDo(WaitForLoadJobs(client)))
            written = rows | "AfterLoads" >> beam.Map(lambda row, _: row, beam.pvalue.AsList(finished))
            # A load job takes or refuses a whole file; rows were validated for that.
            return StageOutput(written, rows.pipeline | f"No{self.table}Rejects" >> beam.Create([]))
        table = self.table
        keyed = rows | "KeyByImage" >> beam.Map(lambda r: (spec, (r, insert_id(table, r))))
        inserted = keyed | "StreamingInsert" >> beam.ParDo(InsertRowsReportingWritten(
            batch_size=500, schema=schema, create_disposition=BigQueryDisposition.CREATE_IF_NEEDED,
            write_disposition=BigQueryDisposition.WRITE_APPEND, test_client=client,
            retry_strategy=RetryStrategy.RETRY_ON_TRANSIENT_ERROR,
            additional_bq_parameters=bigquery_layout(self.table), max_retries=self.max_retries,
        )).with_outputs(InsertRowsReportingWritten.WRITTEN, InsertRowsReportingWritten.FAILED_ROWS_WITH_ERRORS,
                        main="main")
        return StageOutput(inserted[InsertRowsReportingWritten.WRITTEN],
                           inserted[InsertRowsReportingWritten.FAILED_ROWS_WITH_ERRORS])


class _WhenTablesExist(beam.PTransform):
    """Hold rows until the tables exist: a side input is read only once it is complete."""

    def __init__(self, ready):
        super().__init__()
        self.ready = ready

    def expand(self, rows):
        return rows | "Wait" >> beam.Map(lambda row, _: row, beam.pvalue.AsSingleton(self.ready))


class WriteToBigQueryTables(beam.PTransform):
    """StageOutput(rows, error rows) -> StageOutput(rows written, error rows written,
    including the sink's own); `dataset` is PROJECT:DATASET. `client` replaces
    Beam's BigQuery client (tests use it to inject the per-row refusals that no
    stand-in produces).
    """

    def __init__(self, dataset: str, streaming: bool, max_retries: int = DEFAULT_MAX_RETRIES, client=None):
        super().__init__()
        parse_dataset(dataset)   # a bad name fails while the graph is built, not on the workers
        self.dataset, self.streaming, self.max_retries, self.client = dataset, streaming, max_retries, client

    def expand(self, results):
        ready = (results.ok.pipeline | "Once" >> beam.Create([None])
                 | "EnsureTables" >> beam.ParDo(_EnsureTables(self.dataset)))
        checked = results | "Validate" >> ValidateTables()
        rows = (checked.ok | "WhenTablesExist" >> _WhenTablesExist(ready)
                | "WriteClassifications" >> _WriteTable(self.dataset, "classifications",
                                                        self.streaming, self.max_retries, self.client))
        rejected = (rows.errors | "RejectedAsErrors" >> beam.Map(rejected_as_error)
                    | "ValidateRejected" >> ValidateRows("errors"))
        errors = ((checked.errors, rejected.valid)
                  | "AllErrorRows" >> beam.Flatten()
                  | "ErrorsWhenTablesExist" >> _WhenTablesExist(ready)
                  | "WriteErrors" >> _WriteTable(self.dataset, "errors", self.streaming, self.max_retries,
                                                self.client))
        errors.errors | "LogLostErrors" >> beam.ParDo(_LogLostErrors())
        return StageOutput(rows.ok, errors.ok)
