"""WriteResults: send result rows and error rows to the configured sinks
(the embedded DuckDB file, BigQuery, or both, and optionally a Firestore
collection), and hand on what was written.

Firestore, when configured, is written first and holds classifications only:
the rows whose documents it took go on to the tables, and an image whose
document it could not write goes on as that image's error row instead, so an
image has one outcome everywhere. The tables then decide: what is handed on
(and so what progress, the summary and output events count) is what the DuckDB
file has taken, or BigQuery when there is no DuckDB file. One sink decides, so
an image is counted once, and only once every configured sink has it.
"""
from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam

from transforms.sinks.bigquery_sink import WriteToBigQueryTables
from transforms.sinks.duckdb_sink import WriteToDuckDBTables
from transforms.sinks.firestore_sink import FirestoreTarget, WriteToFirestore
from transforms.sinks.row_validation import ValidateTables
from transforms.stage import StageOutput


@dataclass(frozen=True)
class Sinks:
    """Where results go; at least one of DuckDB and BigQuery (the settings see to it)."""
    duckdb: str | None = None
    bigquery_dataset: str | None = None   # PROJECT:DATASET
    streaming: bool = False               # BigQuery: streaming inserts instead of load jobs
    firestore: FirestoreTarget | None = None


class WriteResults(beam.PTransform):
    """StageOutput(rows, error rows) -> StageOutput(rows written, error rows written)."""

    def __init__(self, sinks: Sinks):
        super().__init__()
        if not (sinks.duckdb or sinks.bigquery_dataset):
            raise ValueError("WriteResults needs a DuckDB file or a BigQuery dataset")
        self.sinks = sinks

    def expand(self, results):
        s = self.sinks
        if s.firestore:
            checked = results | "ValidateForFirestore" >> ValidateTables()
            documents = checked.ok | "Firestore" >> WriteToFirestore(s.firestore)
            results = StageOutput(documents.ok, (checked.errors, documents.errors)
                                  | "WithFirestoreErrors" >> beam.Flatten())
        written = []
        if s.duckdb:
            written.append(results | "DuckDB" >> WriteToDuckDBTables(s.duckdb))
        if s.bigquery_dataset:
            written.append(results | "BigQuery" >> WriteToBigQueryTables(s.bigquery_dataset, streaming=s.streaming))
        return written[0]
