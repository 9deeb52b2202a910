"""Results in BigQuery, on bqemulator: the batch pipeline end to end (load jobs
through fake-gcs-server), the sink in a streaming pipeline (streaming inserts),
and what happens to rows BigQuery refuses."""
from __future__ import annotations

import datetime as dt

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to
from PIL import Image

from pipeline.run import main
from tools import analytics
from tools.samples import jpeg_bytes, sample_photos
from transforms.clients import anonymous_beam_credentials_for_emulators, storage_client
from transforms.sinks.bigquery_client import BeamEmulatorClient, bigquery_client
from transforms.sinks.bigquery_sink import WriteToBigQueryTables
from transforms.stage import StageOutput

PROJECT = "test-project"


def small_jpeg(name: str, side: int = 128) -> bytes:
    img = Image.fromarray(sample_photos()[name]).convert("RGB")
    img.thumbnail((side, side))
    return jpeg_bytes(np.asarray(img))


def query(sql: str) -> list[dict]:
    return [dict(r) for r in bigquery_client(PROJECT).query(sql).result()]


def row(i: int, **over) -> dict:
    t = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=i)
    r = {"uri": f"gs://up/img{i}.jpg", "bucket": "up", "name": f"img{i}.jpg", "generation": 10 + i,
         "primary_category": "cat", "labels": [{"name": "cat", "score": 0.9, "mid": "/m/01yrx"}],
         "objects": [{"name": "cat", "score": 0.8, "box": [0.1, 0.2, 0.7, 0.9]}],
         "safe_search": {k: "VERY_UNLIKELY" for k in ("adult", "spoof", "medical", "violence", "racy")},
         "is_safe": True, "backend": "local", "event_time": t.isoformat(), "classified_at": t.isoformat()}
    r.update(over)
    return r


@pytest.fixture(scope="module")
def backfill(bq_gcs, gcs_server, model_dir):
    """`python -m pipeline` over a small bucket into BigQuery, run twice."""
    anonymous_beam_credentials_for_emulators()
    client = storage_client()
    bucket = client.create_bucket("bq-photos")
    client.create_bucket("bq-temp")
    for name in ("chelsea", "coffee", "astronaut"):
        bucket.blob(f"in/{name}.jpg").upload_from_string(small_jpeg(name))
    bucket.blob("in/broken.jpg").upload_from_string(b"\xff\xd8 not really a jpeg")
    bigquery_client(PROJECT).create_dataset("backfill")
    argv = ["--input=gs://bq-photos/in", "--category_root=gs://bq-photos/classified",
            f"--bigquery_dataset={PROJECT}:backfill", "--temp_location=gs://bq-temp/tmp",
            "--features=LABEL_DETECTION,SAFE_SEARCH_DETECTION", f"--model_dir={model_dir}"]
    for _ in range(2):
        assert main(argv) == 0
    return {"argv": argv}


def test_backfill_rows_land_with_nested_fields__load_jobs(backfill):
    rows = query("SELECT * FROM `test-project.backfill.classifications`")
    assert sorted({r["name"] for r in rows}) == ["in/astronaut.jpg", "in/chelsea.jpg", "in/coffee.jpg"]
    for r in rows:
        assert r["labels"] and all(set(lab) == {"name", "score", "mid"} and 0 < lab["score"] <= 1
                                   for lab in r["labels"])
        assert set(r["safe_search"]) == {"adult", "spoof", "medical", "violence", "racy"}
        assert r["is_safe"] in (True, False) and r["generation"] > 0 and r["backend"] == "local"
    errors = query("SELECT name, stage FROM `test-project.backfill.errors`")
    assert {e["name"] for e in errors} == {"in/broken.jpg"}


def test_rerun_adds_no_row_to_the_view__backfill_twice(backfill):
    raw = query("SELECT COUNT(*) AS n FROM `test-project.backfill.classifications`")[0]["n"]
    assert raw == 6   # load jobs append: both runs are in the table
    columns, rows = analytics.run("latest_classifications", bigquery_dataset=f"{PROJECT}:backfill")
    keys = [(r[columns.index("bucket")], r[columns.index("name")], r[columns.index("generation")]) for r in rows]
    assert len(keys) == len(set(keys)) == 3


def test_tables_are_partitioned_and_clustered__created_if_missing(backfill):
    for table, field, cluster in (("classifications", "event_time", ["primary_category"]),
                                  ("errors", "failed_at", ["stage"])):
        t = bigquery_client(PROJECT).get_table(f"{PROJECT}.backfill.{table}")
        assert t.time_partitioning.type_ == "DAY" and t.time_partitioning.field == field
        assert t.clustering_fields == cluster
        assert {f.name: f.mode for f in t.schema}.get("labels", "REPEATED") == "REPEATED"
    labels = next(f for f in bigquery_client(PROJECT).get_table(f"{PROJECT}.backfill.classifications").schema
                  if f.name == "labels")
    assert labels.field_type == "RECORD" and [f.name for f in labels.fields] == ["name", "score", "mid"]


def test_backfill_without_gcs_temp_location_is_refused__load_jobs_need_one(backfill, capsys):
    argv = [a for a in backfill["argv"] if not a.startswith("--temp_location")]
    assert main(argv) == 2
    assert "--temp_location=gs://" in capsys.readouterr().err


def _stream(rows, errors, dataset, max_retries=2):
    options = PipelineOptions(["--runner=BundleBasedDirectRunner", "--streaming", f"--project={PROJECT}"])
    with beam.Pipeline(options=options) as p:
        tables = StageOutput(p | "Rows" >> beam.Create(rows),
                             p | "Errors" >> beam.Create(errors))
        tables | WriteToBigQueryTables(f"{PROJECT}:{dataset}", streaming=True, max_retries=max_retries)


def test_streaming_redelivery_adds_no_row_to_the_view__same_insert_ids(bq_gcs):
    bigquery_client(PROJECT).create_dataset("stream")
    good = [row(1), row(2, labels=[{"name": "dog", "score": 0.75, "mid": None}], primary_category="dog")]
    invalid = row(3, labels=[{"name": "cat", "score": float("nan"), "mid": None}], extra="x")
    failure = {"uri": "gs://up/bad.jpg", "bucket": "up", "name": "bad.jpg", "generation": 7, "stage": "decode",
               "code": "not_an_image", "message": "not an image", "attempts": 1,
               "failed_at": "2024-06-01T00:00:00+00:00"}
    _stream(good + [good[0], invalid], [failure], "stream")       # good[0] delivered twice
    _stream(good, [failure], "stream")                              # and the whole batch again
    rows = query("SELECT name, labels, objects, safe_search FROM `test-project.stream.classifications`")
    assert {r["name"] for r in rows} == {"img1.jpg", "img2.jpg"}
    img1 = next(r for r in rows if r["name"] == "img1.jpg")
    assert img1["labels"] == [{"name": "cat", "score": 0.9, "mid": "/m/01yrx"}]
    assert img1["objects"] == [{"name": "cat", "score": 0.8, "box": [0.1, 0.2, 0.7, 0.9]}]
    assert img1["safe_search"]["adult"] == "VERY_UNLIKELY"
    columns, view = analytics.run("latest_classifications", bigquery_dataset=f"{PROJECT}:stream")
    assert sorted(r[columns.index("name")] for r in view) == ["img1.jpg", "img2.jpg"]
    errors = query("SELECT name, stage, code, message FROM `test-project.stream.errors`")
    assert {(e["name"], e["stage"], e["code"]) for e in errors} == {
        ("bad.jpg", "decode", "not_an_image"), ("img3.jpg", "write", "invalid_row")}
    invalid_msg = next(e["message"] for e in errors if e["code"] == "invalid_row")
    assert "not finite" in invalid_msg and "extra: not in the schema" in invalid_msg


class RefusingClient(BeamEmulatorClient):
    """The emulator accepts every row (see EMULATORS.md), so per-row refusals, which
    BigQuery answers with insertErrors, are injected here; the other rows go in for real."""

    def insert_rows_json(self, table, json_rows, row_ids=None, **kwargs):
        refused = [i for i, r in enumerate(json_rows)
                   if table.endswith(".classifications") and r["name"].startswith("refuse")]
        kept = [r for i, r in enumerate(json_rows) if i not in refused]
        kept_ids = [x for i, x in enumerate(row_ids or []) if i not in refused] or None
        if kept:
            assert super().insert_rows_json(table, kept, row_ids=kept_ids, **kwargs) == []
        return [{"index": i, "errors": [{"reason": "invalid", "message": "no such field: labels.mid"}]}
                for i in refused]


def test_rows_bigquery_refuses_become_error_rows__insert_errors(bq_gcs):
    bigquery_client(PROJECT).create_dataset("refusing")
    options = PipelineOptions(["--runner=BundleBasedDirectRunner", "--streaming", f"--project={PROJECT}"])
    with beam.Pipeline(options=options) as p:
        tables = StageOutput(p | "Rows" >> beam.Create([row(1), row(2, name="refuse-me.jpg")]),
                             p | "Errors" >> beam.Create([]))
        written = tables | WriteToBigQueryTables(f"{PROJECT}:refusing", streaming=True,
                                                 client=RefusingClient(bq_gcs, PROJECT))
        # What the sink hands on (to progress and events) is what BigQuery took, not what it was sent.
        assert_that(written.ok | beam.Map(lambda r: r["name"]), equal_to(["img1.jpg"]), label="written rows")
        assert_that(written.errors | beam.Map(lambda e: (e["name"], e["code"])),
                    equal_to([("refuse-me.jpg", "bigquery_rejected")]), label="written errors")
    assert [r["name"] for r in query("SELECT name FROM `test-project.refusing.classifications`")] == ["img1.jpg"]
    errors = query("SELECT name, generation, stage, code, message FROM `test-project.refusing.errors`")
    assert [(e["name"], e["generation"], e["stage"], e["code"]) for e in errors] == [
        ("refuse-me.jpg", 12, "write", "bigquery_rejected")]
    assert "no such field" in errors[0]["message"]
