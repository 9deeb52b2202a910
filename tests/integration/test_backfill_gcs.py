"""Backfill of a bucket on fake-gcs-server: copies written back to gs://, anonymous credentials."""
import time

import duckdb
import pytest

from pipeline.run import main
from tests.integration.corpus import ROW, SKIP, build_corpus
from transforms.clients import COPY_MARKER, storage_client

FEATURES = "--features=LABEL_DETECTION,SAFE_SEARCH_DETECTION"


@pytest.fixture(scope="module")
def bucket_run(gcs_server, model_dir, tmp_path_factory):
    client = storage_client()
    bucket = client.create_bucket("photos-backfill")
    corpus = build_corpus()
    for rel, (data, _) in corpus.items():
        bucket.blob(f"incoming/{rel}").upload_from_string(data)
    bucket.blob("incoming/bad/zero.jpg").upload_from_string(b"")
    marked = bucket.blob("incoming/already/a copy.jpg")
    marked.metadata = {COPY_MARKER: "gs://photos-backfill/elsewhere.jpg"}
    marked.upload_from_string(corpus["animals/chelsea.jpg"][0])
    expected = {f"incoming/{k}": v for k, (_, v) in corpus.items()}
    expected["incoming/bad/zero.jpg"] = "empty_file"

    db = tmp_path_factory.mktemp("gcsrun") / "results.duckdb"
    argv = ["--input=gs://photos-backfill/incoming", "--category_root=gs://photos-backfill/classified",
            f"--duckdb={db}", FEATURES, f"--model_dir={model_dir}"]
    timings = []
    for _ in range(2):
        t0 = time.monotonic()
        assert main(argv) == 0
        timings.append(time.monotonic() - t0)
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT name, generation, primary_category, category_uri FROM classifications").fetchall()
    errors = con.execute("SELECT name, stage, code FROM errors").fetchall()
    con.close()
    return {"client": client, "expected": expected, "rows": rows, "errors": errors, "timings": timings}


def test_every_object_accounted_for_once__bucket_run_twice(bucket_run):
    expected = bucket_run["expected"]
    assert sorted(r[0] for r in bucket_run["rows"]) == sorted(n for n, o in expected.items() if o == ROW)
    assert sorted((e[0], e[2]) for e in bucket_run["errors"]) == sorted(
        (n, o) for n, o in expected.items() if o not in (ROW, SKIP))


def test_generation_is_the_objects__gcs_key(bucket_run):
    bucket = bucket_run["client"].bucket("photos-backfill")
    for name, generation, *_ in bucket_run["rows"]:
        assert generation == bucket.get_blob(name).generation


def test_copies_are_marked_and_not_relisted__category_prefix(bucket_run):
    client = bucket_run["client"]
    copies = list(client.list_blobs("photos-backfill", prefix="classified/"))
    assert sorted(b.name for b in copies) == sorted(
        r[3].removeprefix("gs://photos-backfill/") for r in bucket_run["rows"])
    assert all(b.metadata and b.metadata.get(COPY_MARKER, "").startswith("gs://photos-backfill/incoming/")
               for b in copies)
    assert "gs://photos-backfill/classified/animals/animals/chelsea.jpg" in [r[3] for r in bucket_run["rows"]]


def test_no_credential_wait__anonymous_on_emulator(bucket_run):
    # The 25 s google.auth probe would make each run take far longer than the work itself.
    assert max(bucket_run["timings"]) < 15


def test_object_deleted_after_listing_is_not_found__error_row(gcs_server, tmp_path):
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from transforms.sources.list_images import ListImages
    from transforms.stages.read_images import ReadImages
    client = storage_client()
    bucket = client.create_bucket("photos-vanishing")
    for name in ("a.jpg", "b.jpg"):
        bucket.blob(f"in/{name}").upload_from_string(build_corpus()["animals/chelsea.jpg"][0])

    def delete_b(ref):
        if ref.name.endswith("b.jpg"):  # the object disappears between listing and reading
            storage_client().bucket("photos-vanishing").blob(ref.name).delete()
        return ref

    with beam.Pipeline(runner="FnApiRunner") as p:
        listed = p | ListImages("gs://photos-vanishing/in", "gs://photos-vanishing/classified")
        read = listed.ok | beam.Map(delete_b) | ReadImages()
        assert_that(read.ok | beam.Map(lambda i: i.ref.name), equal_to(["in/a.jpg"]), label="images")
        assert_that(read.errors | beam.Map(lambda e: (e["name"], e["stage"], e["code"])),
                    equal_to([("in/b.jpg", "read", "not_found")]), label="errors")


def test_overwritten_object_is_read_at_its_generation__late_redelivery(gcs_server):
    from transforms.records import ImageRef
    from transforms.stages.imaging import ImageError
    from transforms.stages.read_images import read_bytes
    blob = storage_client().create_bucket("photos-overwritten").blob("a.jpg")
    blob.upload_from_string(b"first version")
    old = blob.generation
    blob.upload_from_string(b"second version")
    ref = ImageRef(uri="gs://photos-overwritten/a.jpg", bucket="photos-overwritten", name="a.jpg",
                   generation=old, rel_path="a.jpg")
    try:
        data = read_bytes(ref)
    except ImageError as e:  # a store that keeps no old generations: the old one is gone
        assert e.code == "not_found"
    else:
        assert data == b"first version"
    assert read_bytes(ImageRef(**{**ref.__dict__, "generation": blob.generation})) == b"second version"
