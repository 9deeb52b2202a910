"""WriteResults: send result rows and error rows to the configured sinks
(the embedded DuckDB file, BigQuery, or both), and hand on what was written.

With both sinks on, what is handed on (and so what progress, the summary and
output events count) is what the DuckDB file has taken: one sink decides, so
an image is counted once.
"""
from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam

from transforms.sinks.bigquery_sink import WriteToBigQueryTables
from transforms.sinks.duckdb_sink import WriteToDuckDBTables


@dataclass(frozen=True)
class Sinks:
    """Where results go; at least one of the two (the settings see to it)."""
    duckdb: str | None = None
    bigquery_dataset: str | None = None   # PROJECT:DATASET
    streaming: bool = False               # BigQuery: streaming inserts instead of load jobs


class WriteResults(beam.PTransform):
    """StageOutput(rows, error rows) -> StageOutput(rows written, error rows written)."""

    def __init__(self, sinks: Sinks):
        super().__init__()
        if not (sinks.duckdb or sinks.bigquery_dataset):
            raise ValueError("WriteResults needs a DuckDB file or a BigQuery dataset")
        self.sinks = sinks

    def expand(self, results):
        s = self.sinks
        written = []
        if s.duckdb:
            written.append(results | "DuckDB" >> WriteToDuckDBTables(s.duckdb))
        if s.bigquery_dataset:
            written.append(results | "BigQuery" >> WriteToBigQueryTables(s.bigquery_dataset, streaming=s.streaming))
        return written[0]
