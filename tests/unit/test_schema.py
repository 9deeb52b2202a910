"""DuckDB and BigQuery tables come from the one definition in transforms/schema.py."""
import duckdb

from transforms.schema import CLASSIFICATIONS, ERRORS, bigquery_schema, column_names, duckdb_ddl


def test_duckdb_tables_have_the_schema_columns__created_from_ddl():
    con = duckdb.connect()
    for table, fields in (("classifications", CLASSIFICATIONS), ("errors", ERRORS)):
        con.execute(duckdb_ddl(table))
        cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]
        assert cols == [f.name for f in fields] == column_names(table)


def test_nested_fields_are_repeated_records__bigquery_schema():
    by_name = {f["name"]: f for f in bigquery_schema("classifications")}
    for name in ("labels", "objects", "faces"):
        assert (by_name[name]["type"], by_name[name]["mode"]) == ("RECORD", "REPEATED")
    assert by_name["safe_search"]["type"] == "RECORD" and by_name["safe_search"]["mode"] == "NULLABLE"
    assert [f["name"] for f in by_name["safe_search"]["fields"]] == ["adult", "spoof", "medical", "violence", "racy"]
    assert by_name["generation"]["mode"] == "REQUIRED"


def test_contract_columns_exist__design_card():
    contract = ["uri", "bucket", "name", "generation", "content_type", "size_bytes", "primary_category", "labels",
                "objects", "safe_search", "is_safe", "faces", "text", "dominant_colors", "backend",
                "model_version", "event_time", "classified_at", "category_uri"]
    assert set(contract) <= set(column_names("classifications"))
    assert {"uri", "generation", "stage", "code", "message", "attempts", "failed_at"} <= set(column_names("errors"))


def test_rerun_replaces_instead_of_duplicating__duckdb_upsert(tmp_path):
    from transforms.records import ImageRef, error_row
    from transforms.sinks.duckdb_sink import connect, ensure_tables, upsert
    ref = ImageRef(uri="/x/a.jpg", bucket="/x", name="a.jpg", generation=1, rel_path="a.jpg")
    row = {"uri": ref.uri, "bucket": "/x", "name": "a.jpg", "generation": 1, "primary_category": "cat",
           "labels": [{"name": "Cat", "score": 0.9, "mid": "wn:1"}], "backend": "local",
           "event_time": "2024-01-01T00:00:00Z", "classified_at": "2024-01-01T00:00:00Z"}
    con = connect(str(tmp_path / "r.duckdb"))
    ensure_tables(con)
    upsert(con, "errors", [error_row(ref, "decode", "truncated", "the JPEG data is truncated")])
    upsert(con, "classifications", [row])
    upsert(con, "classifications", [dict(row, primary_category="dog")])
    assert con.execute("SELECT primary_category, labels[1].name FROM classifications").fetchall() == [("dog", "Cat")]
    assert con.execute("SELECT count(*) FROM errors").fetchone() == (0,)
    upsert(con, "errors", [error_row(ref, "copy", "copy_failed", "disk full")])
    assert con.execute("SELECT count(*) FROM classifications").fetchone() == (0,)
    assert con.execute("SELECT stage FROM errors").fetchall() == [("copy",)]
