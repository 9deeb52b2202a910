"""The rows `tools.refile` reads and updates: the DuckDB file or the BigQuery dataset.

Only what a category depends on is read (labels, objects, text, faces, safety) and
only the category columns are written, one batch per statement, so a kill leaves
each row either as it was or refiled.
"""
from __future__ import annotations

from transforms.schema import KEY, bigquery_schema, column_names, duckdb_ddl

READ = ("uri", "bucket", "name", "generation", "labels", "objects", "faces", "text", "is_safe",
        "primary_category", "top_label", "category_rule", "category_uri", "classified_at")
WRITE = ("primary_category", "category_rule", "top_label", "category_uri")


class RefileError(ValueError):
    """A target that cannot be refiled, reported as one line."""


def latest_per_key(rows: list[dict]) -> list[dict]:
    """One row per image version (the latest result), as the `latest_classifications` view keeps."""
    best: dict[tuple, dict] = {}
    for r in rows:
        k = tuple(r[c] for c in KEY)
        if k not in best or str(r.get("classified_at")) > str(best[k].get("classified_at")):
            best[k] = r
    return list(best.values())


class DuckDBRows:
    def __init__(self, path: str):
        import os
        if not os.path.exists(path):
            raise RefileError(f"no results database at {path}")
        self.path = path

    def _connect(self):
        from transforms.sinks.duckdb_sink import connect, ensure_tables
        con = connect(self.path)
        ensure_tables(con)   # a file from an older version gains the category columns
        return con

    def rows(self) -> list[dict]:
        con = self._connect()
        try:
            cur = con.execute(f"SELECT {', '.join(READ)} FROM classifications")
            cols = [d[0] for d in cur.description]
            return latest_per_key([dict(zip(cols, r, strict=True)) for r in cur.fetchall()])
        finally:
            con.close()

    def write_rules(self, rules: list[dict]) -> None:
        """Replace the `category_rules` table with these rows, in one transaction."""
        cols = column_names("category_rules")
        con = self._connect()
        try:
            con.execute(duckdb_ddl("category_rules"))
            con.execute("BEGIN")
            con.execute("DELETE FROM category_rules")
            if rules:
                con.executemany(f"INSERT INTO category_rules ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                                [[r[c] for c in cols] for r in rules])
            con.execute("COMMIT")
        finally:
            con.close()

    def update(self, changes: list[dict]) -> None:
        sets = ", ".join(f"{c} = ?" for c in WRITE)
        where = " AND ".join(f"{c} = ?" for c in KEY)
        con = self._connect()
        try:
            con.execute("BEGIN")
            con.executemany(f"UPDATE classifications SET {sets} WHERE {where}",
                            [[ch[c] for c in WRITE] + [ch[c] for c in KEY] for ch in changes])
            con.execute("COMMIT")
        finally:
            con.close()


class BigQueryRows:
    def __init__(self, dataset_spec: str):
        from transforms.sinks.bigquery_client import bigquery_client, parse_dataset
        try:
            self.project, self.dataset = parse_dataset(dataset_spec)
        except ValueError as e:
            raise RefileError(str(e)) from None
        self.client = bigquery_client(self.project)
        self.table = f"`{self.project}.{self.dataset}.classifications`"
        self._add_columns()

    def _add_columns(self) -> None:
        from google.api_core.exceptions import NotFound

        from transforms.sinks.bigquery_sink import add_missing_columns
        try:
            existing = self.client.get_table(f"{self.project}.{self.dataset}.classifications")
        except NotFound:
            raise RefileError(f"no classifications table in {self.project}:{self.dataset}") from None
        add_missing_columns(self.client, existing, "classifications")

    def rows(self) -> list[dict]:
        result = self.client.query(f"SELECT {', '.join(READ)} FROM {self.table}").result()
        return latest_per_key([dict(r.items()) for r in result])

    def write_rules(self, rules: list[dict]) -> None:
        """Replace the `category_rules` table's rows (created if missing) with these."""
        from google.cloud import bigquery
        table = bigquery.Table(f"{self.project}.{self.dataset}.category_rules", schema=[
            bigquery.SchemaField.from_api_repr(f) for f in bigquery_schema("category_rules")])
        self.client.create_table(table, exists_ok=True)
        name = f"`{self.project}.{self.dataset}.category_rules`"
        self.client.query(f"DELETE FROM {name} WHERE TRUE").result()
        if not rules:
            return
        types = {f["name"]: f["type"] for f in bigquery_schema("category_rules")}
        param = bigquery.ArrayQueryParameter("rules", "STRUCT", [
            bigquery.StructQueryParameter(None, *[bigquery.ScalarQueryParameter(c, t, r[c]) for c, t in types.items()])
            for r in rules])
        cols = ", ".join(types)
        self.client.query(f"INSERT INTO {name} ({cols}) SELECT {', '.join('r.' + c for c in types)} "
                          "FROM UNNEST(@rules) AS r",
                          job_config=bigquery.QueryJobConfig(query_parameters=[param])).result()

    def update(self, changes: list[dict]) -> None:
        """One DML statement per batch: BigQuery applies it whole or not at all."""
        from google.cloud import bigquery
        types = {"bucket": "STRING", "name": "STRING", "generation": "INT64"} | {c: "STRING" for c in WRITE}
        param = bigquery.ArrayQueryParameter("changes", "STRUCT", [
            bigquery.StructQueryParameter(None, *[bigquery.ScalarQueryParameter(c, types[c], ch[c]) for c in types])
            for ch in changes])
        sets = ", ".join(f"{c} = u.{c}" for c in WRITE)
        where = " AND ".join(f"c.{c} = u.{c}" for c in KEY)
        sql = f"UPDATE {self.table} AS c SET {sets} FROM UNNEST(@changes) AS u WHERE {where}"
        self.client.query(sql, job_config=bigquery.QueryJobConfig(query_parameters=[param])).result()
