"""Backfill from manifests (inventory CSV, inventory Parquet, plain URI list) on fake-gcs-server."""
import csv

import apache_beam as beam
import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipeline.run import main
from tests.integration.corpus import build_corpus
from transforms.sources.read_manifest import ReadManifest

BUCKET = "photos-manifest"
IMAGES = ("in/a.jpg", "in/sub/b é.jpg", "in/c.png")
INVENTORY = ("bucket", "name", "generation", "size", "contentType", "updated")


@pytest.fixture(scope="module")
def objects(gcs_server):
    """(bucket, name, generation) of each image uploaded, plus a non-image and a copy."""
    from transforms.clients import storage_client
    bucket = storage_client().create_bucket(BUCKET)
    data = build_corpus()["animals/chelsea.jpg"][0]
    keys = []
    for name in IMAGES:
        blob = bucket.blob(name)
        blob.upload_from_string(data)
        keys.append((BUCKET, name, blob.generation))
    bucket.blob("in/notes.txt").upload_from_string(b"x")
    bucket.blob("classified/cat/a.jpg").upload_from_string(data)
    return keys


def _inventory_rows(objects):
    extra = [(BUCKET, "in/notes.txt", 1), (BUCKET, "classified/cat/a.jpg", 1)]
    return [{"bucket": b, "name": n, "generation": str(g), "size": "10", "contentType": "image/jpeg",
             "updated": "2026-01-01T00:00:00Z"} for b, n, g in [*objects, *extra]]


def _read(pattern, images, errors):
    """Run ReadManifest alone: its images' keys and its errors' (file:line, code)."""
    with beam.Pipeline() as p:
        out = p | ReadManifest(pattern, f"gs://{BUCKET}/classified")
        assert_that(out.ok | beam.Map(lambda r: r.key), equal_to(images), label="images")
        assert_that(out.errors | beam.Map(lambda e: (e["uri"].rsplit("/", 1)[-1], e["code"])),
                    equal_to(errors), label="errors")


def test_inventory_csv__exactly_the_images_and_a_bad_line(objects, tmp_path):
    with open(tmp_path / "inv-0.csv", "w", newline="") as f:
        w = csv.DictWriter(f, INVENTORY)
        w.writeheader()
        w.writerows(_inventory_rows(objects)[:2])
    with open(tmp_path / "inv-1.csv", "w", newline="") as f:
        w = csv.DictWriter(f, INVENTORY)
        w.writeheader()
        w.writerows(_inventory_rows(objects)[2:])
        f.write(f"{BUCKET},in/d.jpg,notanumber,1,image/jpeg,2026-01-01T00:00:00Z\n")
    _read(str(tmp_path / "inv-*.csv"), objects, [("inv-1.csv:5", "bad_generation")])


def test_inventory_parquet__exactly_the_images_and_a_bad_row(objects, tmp_path):
    rows = _inventory_rows(objects) + [{"bucket": BUCKET, "name": "", "generation": "1", "size": "1",
                                        "contentType": "image/jpeg", "updated": "2026-01-01T00:00:00Z"}]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "inv.parquet")
    _read(str(tmp_path / "*.parquet"), objects, [("inv.parquet:6", "missing_column")])


def test_uri_list__classified_end_to_end_with_bad_line_as_error_row(objects, model_dir, tmp_path):
    lines = [f"gs://{b}/{n}#{g}" for b, n, g in objects[:2]] + [f"gs://{BUCKET}/{objects[2][1]}",
                                                                 "not a uri", f"gs://{BUCKET}/in/notes.txt",
                                                                 f"gs://{BUCKET}/in/gone.jpg"]
    (tmp_path / "failed.txt").write_text("\n".join(lines) + "\n")
    db = tmp_path / "results.duckdb"
    assert main([f"--input_manifest={tmp_path / 'failed.txt'}", f"--category_root=gs://{BUCKET}/classified",
                 f"--duckdb={db}", "--features=LABEL_DETECTION", f"--model_dir={model_dir}"]) == 0
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT bucket, name FROM classifications").fetchall()
    errors = con.execute("SELECT uri, stage, code FROM errors").fetchall()
    con.close()
    assert sorted(rows) == sorted((b, n) for b, n, _ in objects)
    manifest = tmp_path / "failed.txt"
    assert sorted(errors) == [(f"{manifest}:4", "manifest", "not_gcs_uri"), (f"{manifest}:6", "manifest", "not_found")]


def test_input_and_manifest__refused_before_start(tmp_path):
    assert main(["--input=gs://b/x", f"--input_manifest={tmp_path}/m.txt",
                 f"--category_root=gs://{BUCKET}/classified"]) != 0


def test_failed_images_manifest__rerun_processes_only_the_failures(gcs_server, model_dir, tmp_path, capsys):
    from tools import analytics
    from transforms.clients import storage_client
    bucket = storage_client().create_bucket("photos-retry")
    good = build_corpus()["animals/chelsea.jpg"][0]
    for name, data in [("in/ok1.jpg", good), ("in/ok2.jpg", good), ("in/empty.jpg", b""),
                       ("in/text.jpg", b"not an image at all")]:
        bucket.blob(name).upload_from_string(data)
    db = tmp_path / "results.duckdb"
    common = ["--category_root=gs://photos-retry/classified", f"--duckdb={db}", "--features=LABEL_DETECTION",
              f"--model_dir={model_dir}"]
    assert main(["--input=gs://photos-retry/in", *common]) == 0

    capsys.readouterr()
    assert analytics.main(["failed_images", f"--duckdb={db}", "--format=csv"]) == 0
    manifest = tmp_path / "failed.csv"
    manifest.write_text(capsys.readouterr().out + "\n")
    assert manifest.read_text().splitlines()[0] == "bucket,name,generation"
    assert sorted(line.split(",")[1] for line in manifest.read_text().split()[1:]) == ["in/empty.jpg", "in/text.jpg"]

    before = _outcomes(db)
    assert main([f"--input_manifest={manifest}", *common]) == 0
    assert capsys.readouterr().out.startswith("Classified 0 images, 2 errors")
    after = _outcomes(db)
    assert sorted(after["errors"]) == ["in/empty.jpg", "in/text.jpg"]
    assert all(after["errors"][n] > before["errors"][n] for n in after["errors"])  # the failures ran again
    assert after["rows"] == before["rows"]                                          # the successes did not


def _outcomes(db) -> dict:
    """Per image name: when it last failed, when it was last classified."""
    con = duckdb.connect(str(db), read_only=True)
    got = {"errors": dict(con.execute("SELECT name, MAX(failed_at) FROM errors GROUP BY name").fetchall()),
           "rows": dict(con.execute("SELECT name, MAX(classified_at) FROM classifications GROUP BY name").fetchall())}
    con.close()
    return got
