"""A results file from somewhere else, opened by the report and the analytics.

A .duckdb file is a whole database: its `errors` may be a view over
`read_text('/etc/passwd')`, or any other reader of local files. The report is a
page meant to be shared, so the tools open the file read-only with DuckDB's
external access off, and refuse views where the pipeline writes tables.
"""
from __future__ import annotations

import os

import duckdb
import pytest

from tools import analytics
from tools.report.__main__ import main as report_main
from transforms.sinks.duckdb_sink import ensure_tables

SECRET = "/etc/passwd"


def _planted(path, table: str, body: str) -> str:
    con = duckdb.connect(str(path))
    ensure_tables(con)
    con.execute(f"DROP TABLE {table}")
    con.execute(f"CREATE VIEW {table} AS {body}")
    con.close()
    return str(path)


@pytest.fixture()
def passwd_view(tmp_path):
    return _planted(tmp_path / "hostile.duckdb", "errors",
                    f"SELECT content AS uri, NULL AS bucket, content AS name, 0::BIGINT AS generation, "
                    f"'read' AS stage, 'x' AS code, content AS message, 1 AS attempts, "
                    f"now()::TIMESTAMPTZ AS failed_at FROM read_text('{SECRET}')")


def test_report_refuses_a_view_where_a_table_belongs__errors_reading_etc_passwd(passwd_view, tmp_path, capsys):
    out = tmp_path / "report"
    assert report_main([f"--duckdb={passwd_view}", f"--out={out}"]) == 2
    err = capsys.readouterr().err
    assert "errors" in err and "view" in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(out / "errors.html")


def test_analytics_refuses_a_view_where_a_table_belongs__errors_reading_etc_passwd(passwd_view):
    with pytest.raises(analytics.AnalyticsError, match="errors.*view"):
        analytics.run("errors_by_stage", duckdb=passwd_view)


def test_no_local_file_is_read__external_access_off(tmp_path):
    """A file read through anything else the results file can hold (here a table macro) fails too."""
    path = str(tmp_path / "macro.duckdb")
    con = duckdb.connect(path)
    ensure_tables(con)
    con.execute(f"CREATE MACRO leak() AS TABLE SELECT content FROM read_text('{SECRET}')")
    con.close()
    from tools import warehouse
    con = warehouse.duckdb_connection(path)
    try:
        with pytest.raises(duckdb.Error, match="disabled|external"):
            con.execute("SELECT * FROM leak()").fetchall()
    finally:
        con.close()
