"""WriteResults for real, into a DuckDB file: validation before the sink, and
an output that is what the file has taken."""
from __future__ import annotations

import datetime as dt

import apache_beam as beam
import pytest
from apache_beam.testing.util import assert_that, equal_to

from transforms.records import error_row
from transforms.sinks.duckdb_sink import connect, ensure_tables, upsert
from transforms.sinks.write_results import Sinks, WriteResults
from transforms.stage import StageOutput


def row(i: int, **over) -> dict:
    t = (dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=i)).isoformat()
    r = {"uri": f"/photos/img{i}.jpg", "bucket": "/photos", "name": f"img{i}.jpg", "generation": 1000 + i,
         "primary_category": "cat", "labels": [{"name": "cat", "score": 0.9, "mid": "/m/01yrx"}],
         "is_safe": True, "backend": "local", "event_time": t, "classified_at": t}
    r.update(over)
    return r


BAD = row(99, labels=[{"name": "cat", "score": "very high", "mid": None}])   # a STRING where FLOAT64 goes


def test_premise__arrow_refuses_the_bad_row_and_fails_its_whole_batch(tmp_path):
    con = connect(str(tmp_path / "r.duckdb"))
    ensure_tables(con)
    with pytest.raises(Exception, match="(?i)float|double|convert"):
        upsert(con, "classifications", [row(1), BAD])
    assert con.execute("SELECT count(*) FROM classifications").fetchone() == (0,)


def test_row_arrow_refuses_is_one_error_row__rest_of_its_batch_written(tmp_path):
    db = str(tmp_path / "results.duckdb")
    good = [row(i) for i in range(5)]
    failed = error_row(None, "decode", "truncated", "cut short", uri="/photos/broken.jpg")
    with beam.Pipeline(runner="FnApiRunner") as p:
        results = StageOutput(p | "Rows" >> beam.Create([*good[:2], BAD, *good[2:]]),
                              p | "Errors" >> beam.Create([failed]))
        written = results | WriteResults(Sinks(duckdb=db))
        assert_that(written.ok | beam.Map(lambda r: r["name"]), equal_to([r["name"] for r in good]),
                    label="written rows")
        assert_that(written.errors | beam.Map(lambda e: (e["uri"], e["stage"], e["code"])),
                    equal_to([("/photos/broken.jpg", "decode", "truncated"),
                              ("/photos/img99.jpg", "write", "invalid_row")]), label="written errors")
    con = connect(db, read_only=True)
    assert sorted(n for (n,) in con.execute("SELECT name FROM classifications").fetchall()) == \
        sorted(r["name"] for r in good)
    errors = con.execute("SELECT uri, stage, code, message FROM errors ORDER BY uri").fetchall()
    assert [e[:3] for e in errors] == [("/photos/broken.jpg", "decode", "truncated"),
                                       ("/photos/img99.jpg", "write", "invalid_row")]
    assert "labels[0].score" in errors[1][3] and "FLOAT64" in errors[1][3]


def test_without_a_sink_is_refused__when_the_graph_is_built():
    with pytest.raises(ValueError, match="DuckDB file or a BigQuery dataset"):
        WriteResults(Sinks())
