"""Results in Firestore, on gcloud's Firestore emulator: a local backfill run
twice (and once more after an overwrite), the seed's lookups against what it
wrote, a document too large for Firestore, and a collection Firestore refuses."""
from __future__ import annotations

import datetime as dt
import os

import apache_beam as beam
import duckdb
import pytest
from apache_beam.testing.util import assert_that, equal_to

from pipeline.run import main
from tests.emulators import PROJECT
from tests.integration.streaming_support import small_jpeg
from tools.firestore_queries import latest_image, search_by_category, search_by_label
from transforms.sinks.firestore_doc import FIRESTORE_LIMIT, document_id, document_size
from transforms.sinks.firestore_sink import FirestoreTarget, firestore_client
from transforms.sinks.write_results import Sinks, WriteResults
from transforms.stage import StageOutput

FEATURES = "--features=LABEL_DETECTION,SAFE_SEARCH_DETECTION"
COLLECTION = "image_classifications"


def db():
    return firestore_client(PROJECT, "(default)")


def documents(collection: str = COLLECTION) -> dict[str, object]:
    """Every document of the collection by id (snapshots, with their create and update times)."""
    return {d.id: d for d in db().collection(collection).stream()}


def table_rows(path) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT bucket, name, generation, primary_category, "
                           "list_transform(labels, x -> lower(x.name)) FROM classifications").fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def backfill(firestore_host, model_dir, tmp_path_factory):
    """`python -m pipeline` over a folder into DuckDB and Firestore: run, run again, overwrite one image, run."""
    root = tmp_path_factory.mktemp("fsbackfill")
    images, results = root / "images", root / "results.duckdb"
    (images / "a").mkdir(parents=True)
    (images / "a" / "b.jpg").write_bytes(small_jpeg("chelsea"))    # the seed's id for both: a_b.jpg
    (images / "a_b.jpg").write_bytes(small_jpeg("coffee"))
    (images / "astronaut.jpg").write_bytes(small_jpeg("astronaut"))
    (images / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    argv = [f"--input={images}", f"--category_root={root / 'classified'}", f"--duckdb={results}", FEATURES,
            f"--model_dir={model_dir}", f"--firestore_collection={COLLECTION}", f"--firestore_project={PROJECT}"]
    runs = []
    for _ in range(2):
        assert main(argv) == 0
        runs.append((documents(), table_rows(results)))
    rocket = images / "astronaut.jpg"
    rocket.write_bytes(small_jpeg("rocket"))                        # a new generation of one object
    os.utime(rocket, ns=(rocket.stat().st_atime_ns, rocket.stat().st_mtime_ns + 10**9))
    assert main(argv) == 0
    runs.append((documents(), table_rows(results)))
    return {"runs": runs, "bucket": str(images)}


def test_one_document_per_image__backfill(backfill):
    docs, rows = backfill["runs"][0]
    assert sorted(d.to_dict()["file_name"] for d in docs.values()) == ["a/b.jpg", "a_b.jpg", "astronaut.jpg"]
    assert sorted(docs) == sorted(document_id(b, n, g) for b, n, g, *_ in rows)
    for b, n, g, category, labels in rows:
        doc = docs[document_id(b, n, g)].to_dict()
        assert (doc["bucket"], doc["name"], doc["generation"], doc["primary_category"]) == (b, n, g, category)
        assert doc["label_names"] == list(dict.fromkeys(labels))
        assert all(0 < lab["confidence"] <= 1 and lab["description"] for lab in doc["labels"])
        assert isinstance(doc["classified_at"], dt.datetime) and doc["is_safe"] in (True, False)
        assert set(doc["safe_search"]) == {"adult", "spoof", "medical", "violence", "racy"}
        assert doc["uri"].endswith(n) and doc["category_uri"] and doc["cut_fields"] == []


def test_rerun_writes_no_document_twice__same_ids_overwritten(backfill):
    (first, _), (second, _) = backfill["runs"][:2]
    assert sorted(second) == sorted(first)
    for doc_id, snap in second.items():
        assert snap.create_time == first[doc_id].create_time    # the same document ...
        assert snap.update_time > first[doc_id].update_time     # ... written again


def test_names_the_seed_would_collide_stay_apart__a_slash_b_and_a_underscore_b(backfill):
    docs, _ = backfill["runs"][1]
    by_name = {d.to_dict()["file_name"]: d.to_dict() for d in docs.values()}
    assert by_name["a/b.jpg"]["primary_category"] != by_name["a_b.jpg"]["primary_category"]
    assert "a_b.jpg" not in docs   # the seed's id is not used


def test_seed_queries_return_the_right_images__category_and_label(backfill):
    _, rows = backfill["runs"][2]    # the tables after the last run: what the collection should answer
    for category in {r[3] for r in rows}:
        found = search_by_category(db(), category, limit=10)
        assert sorted((d["name"], d["generation"]) for d in found) == sorted(
            (n, g) for _, n, g, c, _ in rows if c == category)
        times = [d["classified_at"] for d in found]
        assert times == sorted(times, reverse=True)                       # newest first
        newest = search_by_category(db(), category, limit=1)
        assert [d["classified_at"] for d in newest] == times[:1]
    label = max({lab for r in rows for lab in r[4]}, key=lambda lab: sum(lab in r[4] for r in rows))
    found = search_by_label(db(), label.upper(), limit=10)                # case does not matter
    assert sorted((d["name"], d["generation"]) for d in found) == sorted(
        (n, g) for _, n, g, _, labels in rows if label in labels)


def test_command_line_prints_the_images__category_and_image(backfill, capsys):
    import json

    from tools.firestore_queries import main as lookup
    _, rows = backfill["runs"][2]
    category = rows[0][3]
    assert lookup(["category", category, f"--project={PROJECT}"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(d["name"] for d in printed) == sorted(n for _, n, _, c, _ in rows if c == category)
    assert lookup(["image", backfill["bucket"], "no such.jpg", f"--project={PROJECT}"]) == 1


def test_lookup_by_name_finds_the_latest_generation__after_an_overwrite(backfill):
    docs, rows = backfill["runs"][2]
    generations = sorted(g for _, n, g, *_ in rows if n == "astronaut.jpg")
    assert len(generations) == 2 and len(docs) == 4     # each generation keeps its own document
    found = latest_image(db(), backfill["bucket"], "astronaut.jpg")
    assert found["generation"] == generations[-1]
    assert found == docs[document_id(backfill["bucket"], "astronaut.jpg", generations[-1])].to_dict()


def _row(i: int, **over) -> dict:
    t = (dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc) + dt.timedelta(minutes=i)).isoformat()
    r = {"uri": f"gs://up/img{i}.jpg", "bucket": "up", "name": f"img{i}.jpg", "generation": 10 + i,
         "primary_category": "document", "labels": [{"name": "Text", "score": 0.9, "mid": None}],
         "is_safe": True, "backend": "local", "event_time": t, "classified_at": t}
    r.update(over)
    return r


def test_too_large_document_is_written_cut__text_shortened(firestore_host, tmp_path):
    text = "ü" * 1_500_000      # 3 MB of UTF-8: three times what a document may hold
    rows = [_row(1, text=text), _row(2, text="short")]
    target = FirestoreTarget(PROJECT, "large_documents")
    with beam.Pipeline(runner="FnApiRunner") as p:
        written = (StageOutput(p | "Rows" >> beam.Create(rows), p | "Errors" >> beam.Create([]))
                   | WriteResults(Sinks(duckdb=str(tmp_path / "r.duckdb"), firestore=target)))
        assert_that(written.ok | beam.Map(lambda r: r["name"]), equal_to(["img1.jpg", "img2.jpg"]))
    docs = {d.to_dict()["name"]: (d.id, d.to_dict()) for d in db().collection("large_documents").stream()}
    doc_id, big = docs["img1.jpg"]
    assert big["cut_fields"] == ["text"] and text.startswith(big["text"]) and len(big["text"]) > 400_000
    assert document_size("large_documents", doc_id, big) <= FIRESTORE_LIMIT
    assert docs["img2.jpg"][1]["text"] == "short" and docs["img2.jpg"][1]["cut_fields"] == []
    con = duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True)
    assert con.execute("SELECT length(text) FROM classifications WHERE name = 'img1.jpg'").fetchone() == (1_500_000,)
    con.close()


def test_documents_firestore_refuses_become_error_rows__reserved_collection(firestore_host, tmp_path):
    target = FirestoreTarget(PROJECT, "__reserved__")    # Firestore refuses ids of the form __.*__
    with beam.Pipeline(runner="FnApiRunner") as p:
        written = (StageOutput(p | "Rows" >> beam.Create([_row(1), _row(2)]), p | "Errors" >> beam.Create([]))
                   | WriteResults(Sinks(duckdb=str(tmp_path / "r.duckdb"), firestore=target)))
        assert_that(written.ok, equal_to([]), label="no rows")
        assert_that(written.errors | beam.Map(lambda e: (e["name"], e["stage"], e["code"])),
                    equal_to([("img1.jpg", "write", "firestore_refused"), ("img2.jpg", "write", "firestore_refused")]),
                    label="error rows")
    con = duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True)
    assert con.execute("SELECT count(*) FROM classifications").fetchone() == (0,)
    errors = con.execute("SELECT name, code, message FROM errors ORDER BY name").fetchall()
    con.close()
    assert [e[:2] for e in errors] == [("img1.jpg", "firestore_refused"), ("img2.jpg", "firestore_refused")]
    assert "INVALID_ARGUMENT" in errors[0][2] and "__reserved__/" in errors[0][2]


def test_request_refused_whole_is_split__neighbours_written(firestore_host):
    """A value over Firestore's per-field limit makes the emulator refuse the whole BatchWrite
    (the cut keeps rows from doing so; this is the safety net behind it)."""
    from transforms.sinks.firestore_sink import _WriteDocuments
    writer = _WriteDocuments(FirestoreTarget(PROJECT, "split_requests"), max_attempts=2)
    writer.setup()
    group = [({}, "fine-1", {"n": 1}), ({}, "too-big", {"blob": "x" * 1_100_000}), ({}, "fine-2", {"n": 2})]
    codes = [code for code, _ in writer._commit(group)]   # pylint: disable=protected-access
    assert codes == [0, 3, 0]   # OK, INVALID_ARGUMENT, OK
    assert sorted(documents("split_requests")) == ["fine-1", "fine-2"]
