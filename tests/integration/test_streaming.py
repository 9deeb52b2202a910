"""Streaming end to end on the stand-ins: fake-gcs-server publishes real
OBJECT_FINALIZE notifications to the Pub/Sub emulator; `python -m pipeline
--subscription=...` runs in a subprocess on the local runner and is stopped with
SIGINT, the real Ctrl-C path. One run covers the whole story; each test checks
one part of what it left behind."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests import emulators
from tests.integration.streaming_support import FEATURES, REPO, emulator_env, pull_all, query, small_jpeg, wait_for
from transforms.clients import COPY_MARKER, storage_client
from transforms.sinks.duckdb_sink import connect

PROJECT = emulators.PROJECT
BUCKET = "uploads"


@pytest.fixture(scope="module")
def stream_run(pubsub_host, model_dir, tmp_path_factory):
    from google.cloud import pubsub_v1
    work = tmp_path_factory.mktemp("stream")
    with emulator_env(PUBSUB_EMULATOR_HOST=pubsub_host):
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        path = {n: publisher.topic_path(PROJECT, n) for n in ("gcs-events", "classified-events")}
        for topic in path.values():
            publisher.create_topic(name=topic)
        sub = {n: subscriber.subscription_path(PROJECT, n) for n in ("classifier", "tap", "events-watch")}
        subscriber.create_subscription(name=sub["classifier"], topic=path["gcs-events"])
        subscriber.create_subscription(name=sub["tap"], topic=path["gcs-events"])   # to replay a real message
        subscriber.create_subscription(name=sub["events-watch"], topic=path["classified-events"])
        with emulators.fake_gcs(str(work), pubsub_topic="gcs-events", pubsub_host=pubsub_host) as (url, _):
            os.environ["STORAGE_EMULATOR_HOST"] = url
            yield from _run_story(work, publisher, subscriber, path, sub, url, pubsub_host, model_dir)


def _run_story(work, publisher, subscriber, path, sub, gcs_url, pubsub_host, model_dir):
    client = storage_client()
    bucket = client.create_bucket(BUCKET)
    db = str(work / "results.duckdb")
    cat, coffee, rocket = small_jpeg("chelsea"), small_jpeg("coffee"), small_jpeg("rocket")

    # Announced before the job starts, deleted before it can read it.
    gone = bucket.blob("incoming/gone.jpg")
    gone.upload_from_string(cat)
    gone.delete()

    env = dict(os.environ, PUBSUB_EMULATOR_HOST=pubsub_host, STORAGE_EMULATOR_HOST=gcs_url,
               GOOGLE_CLOUD_PROJECT=PROJECT, NO_GCE_CHECK="true", PYTHONPATH=REPO)
    log = open(work / "pipeline.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", f"--subscription={sub['classifier']}",
         f"--category_root=gs://{BUCKET}/classified", f"--duckdb={db}", f"--model_dir={model_dir}",
         FEATURES, f"--output_topic={path['classified-events']}"],
        cwd=str(work), env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        gen = {}
        for name, data in (("incoming/cat.jpg", cat), ("incoming/a/coffee.jpg", coffee),
                           ("incoming/b/coffee.jpg", coffee)):
            blob = bucket.blob(name)
            blob.upload_from_string(data, content_type="image/jpeg")
            gen[name] = blob.generation
        bucket.blob("incoming/notes.txt").upload_from_string(b"not an image", content_type="text/plain")
        malformed_id = publisher.publish(path["gcs-events"], b"{not json", eventType="OBJECT_FINALIZE",
                                         payloadFormat="JSON_API_V1").result()
        wait_for(lambda: len(query(db, "SELECT 1 FROM classifications")) >= 3
                 and len(query(db, "SELECT 1 FROM errors")) >= 2, 90, "the first rows")

        # Redeliver cat.jpg's real notification (a new message id, same object version).
        tapped = pull_all(subscriber, sub["tap"])
        original = next(m for m in tapped if m.attributes.get("objectId") == "incoming/cat.jpg"
                        and m.attributes.get("eventType") == "OBJECT_FINALIZE")
        publisher.publish(path["gcs-events"], original.data, **dict(original.attributes)).result()
        # Overwrite cat.jpg: a new generation, classified again.
        blob = bucket.blob("incoming/cat.jpg")
        blob.upload_from_string(small_jpeg("chelsea", quality=70), content_type="image/jpeg")
        gen["incoming/cat.jpg#2"] = blob.generation
        wait_for(lambda: query(db, f"SELECT 1 FROM classifications WHERE generation = {blob.generation}"),
                 60, "the overwrite's row")

        # Uploads right before Ctrl-C: each is either finished by the drain or still waiting
        # on the subscription for the next run, never acknowledged and dropped.
        late = [f"incoming/late/{i}.jpg" for i in range(3)]
        for name in late:
            bucket.blob(name).upload_from_string(rocket, content_type="image/jpeg")
        time.sleep(0.2)
        t_stop = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
        stop_secs = time.monotonic() - t_stop
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    output = (work / "pipeline.log").read_text(errors="replace")
    leftover = pull_all(subscriber, sub["classifier"])
    con = connect(db, read_only=True)
    rows = con.execute("SELECT name, generation, primary_category, category_uri FROM classifications").fetchall()
    errors = con.execute("SELECT uri, name, stage, code, message FROM errors").fetchall()
    con.close()
    yield {"rc": rc, "output": output, "rows": rows, "errors": errors, "gen": gen, "late": late,
           "leftover": leftover, "stop_secs": stop_secs, "client": client, "malformed_id": malformed_id,
           "events": pull_all(subscriber, sub["events-watch"])}


def test_stops_cleanly_and_promptly__sigint(stream_run):
    assert stream_run["rc"] == 0, stream_run["output"][-3000:]
    assert "Traceback" not in stream_run["output"], stream_run["output"][-3000:]
    assert stream_run["stop_secs"] < 20, stream_run["output"][-2000:]


def test_one_row_per_image_version__redelivery_overwrite_and_copies(stream_run):
    gen, late = stream_run["gen"], stream_run["late"]
    got = sorted((n, g) for n, g, *_ in stream_run["rows"])
    finished_late = [(n, g) for n, g in got if n in late]
    expected = sorted([("incoming/cat.jpg", gen["incoming/cat.jpg"]),
                       ("incoming/cat.jpg", gen["incoming/cat.jpg#2"]),
                       ("incoming/a/coffee.jpg", gen["incoming/a/coffee.jpg"]),
                       ("incoming/b/coffee.jpg", gen["incoming/b/coffee.jpg"]), *finished_late])
    assert got == expected
    assert not [n for n, *_ in stream_run["rows"] if n.startswith("classified/")]


def test_nothing_taken_in_is_lost__sigint_right_after_uploads(stream_run):
    finished = {n for n, *_ in stream_run["rows"]}
    waiting = {m.attributes.get("objectId") for m in stream_run["leftover"]
               if m.attributes.get("eventType") == "OBJECT_FINALIZE"}
    for name in stream_run["late"]:
        assert (name in finished) != (name in waiting), (name, finished, waiting)


def test_deleted_and_malformed_are_error_rows__not_found_and_message_id(stream_run):
    by_name = {(e[1] or e[0]): e for e in stream_run["errors"]}
    assert sorted(by_name) == sorted(["incoming/gone.jpg", f"pubsub://projects/{PROJECT}/subscriptions/"
                                      f"classifier/messages/{stream_run['malformed_id']}"])
    assert by_name["incoming/gone.jpg"][2:4] == ("read", "not_found")
    bad = next(e for e in stream_run["errors"] if e[1] is None)
    assert bad[2:4] == ("notification", "malformed_notification")
    assert stream_run["malformed_id"] in bad[4]


def test_one_marked_copy_per_row__copies_not_reclassified(stream_run):
    copies = list(stream_run["client"].list_blobs(BUCKET, prefix="classified/"))
    assert sorted(f"gs://{BUCKET}/{b.name}" for b in copies) == sorted({r[3] for r in stream_run["rows"]})
    assert all(b.metadata.get(COPY_MARKER, "").startswith(f"gs://{BUCKET}/incoming/") for b in copies)


def test_one_event_per_row__output_topic(stream_run):
    events = stream_run["events"]
    keys = sorted((json.loads(m.data)["name"], json.loads(m.data)["generation"]) for m in events)
    assert keys == sorted((n, g) for n, g, *_ in stream_run["rows"])
    by_key = {(r[0], r[1]): r for r in stream_run["rows"]}
    for m in events:
        body = json.loads(m.data)
        assert m.attributes["category"] == by_key[(body["name"], body["generation"])][2]
        assert m.attributes["is_safe"] in ("true", "false")
        assert m.attributes["is_safe"] == str(body["is_safe"]).lower()

