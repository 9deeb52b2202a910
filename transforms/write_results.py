"""WriteResults: send result rows and error rows to the configured sinks
(the embedded DuckDB file, BigQuery, or both)."""
from __future__ import annotations

import apache_beam as beam

from transforms.duckdb_sink import WriteToDuckDB


class WriteResults(beam.PTransform):
    """Takes {'classifications': rows, 'errors': rows}."""

    def __init__(self, settings):
        super().__init__()
        self.settings = settings

    def expand(self, tables):
        s = self.settings
        if s.duckdb:
            for table, rows in tables.items():
                rows | f"DuckDB_{table}" >> WriteToDuckDB(s.duckdb, table)
        if s.bigquery_dataset:
            from transforms.bigquery_sink import WriteToBigQueryTables
            tables | "BigQuery" >> WriteToBigQueryTables(s.bigquery_dataset, streaming=s.streaming)
