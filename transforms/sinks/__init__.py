"""Where results go: validation, then the DuckDB file and/or BigQuery, and the optional output events."""
