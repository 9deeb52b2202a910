"""Firestore in a streaming run on the stand-ins: fake-gcs-server publishes real
notifications to the Pub/Sub emulator, `python -m pipeline --subscription=...
--firestore_collection=...` runs as a subprocess against gcloud's Firestore
emulator. The image's real notification is delivered twice more: while the
first run is up, and between runs. The second run has forgotten the image, so
the sink itself gets it again: one document is left, overwritten in place."""
from __future__ import annotations

import os

import pytest

from tests import emulators
from tests.integration.streaming_support import (
    emulator_env,
    outcomes,
    pull_all,
    small_jpeg,
    start_pipeline,
    stop_pipeline,
    stream_env,
    wait_for,
)
from transforms.clients import storage_client
from transforms.sinks.firestore_doc import document_id
from transforms.sinks.firestore_sink import firestore_client

PROJECT = emulators.PROJECT
BUCKET = "fs-uploads"
COLLECTION = "streamed_classifications"   # its own: test_firestore.py writes the seed's collection in the same emulator
NAME = "incoming/cat.jpg"


def _snapshots() -> list:
    return list(firestore_client(PROJECT, "(default)").collection(COLLECTION).stream())


@pytest.fixture(scope="module")
def redelivered(pubsub_host, firestore_host, model_dir, tmp_path_factory):
    from google.cloud import pubsub_v1
    work = tmp_path_factory.mktemp("fsstream")
    with emulator_env(PUBSUB_EMULATOR_HOST=pubsub_host):
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(PROJECT, "fs-gcs-events")
        publisher.create_topic(name=topic)
        sub, tap = (subscriber.subscription_path(PROJECT, n) for n in ("fs-classifier", "fs-tap"))
        subscriber.create_subscription(name=sub, topic=topic)
        subscriber.create_subscription(name=tap, topic=topic)     # keeps the real message to replay
        with emulators.fake_gcs(str(work), pubsub_topic="fs-gcs-events", pubsub_host=pubsub_host) as (url, _):
            os.environ["STORAGE_EMULATOR_HOST"] = url
            env = dict(stream_env(pubsub_host, url), FIRESTORE_EMULATOR_HOST=firestore_host)
            db = str(work / "results.duckdb")
            extra = (f"--firestore_collection={COLLECTION}", f"--firestore_project={PROJECT}")
            blob = storage_client().create_bucket(BUCKET).blob(NAME)

            proc = start_pipeline(work, env, sub, db, model_dir, f"gs://{BUCKET}/classified", *extra)
            try:
                blob.upload_from_string(small_jpeg("chelsea"), content_type="image/jpeg")
                first = wait_for(_snapshots, 120, "the image's document")
                original = next(m for m in pull_all(subscriber, tap) if m.attributes.get("objectId") == NAME)
                publisher.publish(topic, original.data, **dict(original.attributes)).result()  # while it runs
            finally:
                rc1 = stop_pipeline(proc)
            publisher.publish(topic, original.data, **dict(original.attributes)).result()  # after the run
            stopped = _snapshots()[0].update_time   # a redelivery within the first run may have written it too
            proc = start_pipeline(work, env, sub, db, model_dir, f"gs://{BUCKET}/classified", *extra)
            try:
                wait_for(lambda: [s for s in _snapshots() if s.update_time > stopped], 120,
                         "the document written again after the restart")
            finally:
                rc2 = stop_pipeline(proc)
            yield {"rc": (rc1, rc2), "first": first, "last": _snapshots(), "rows": outcomes(db)[0],
                   "generation": blob.generation, "log": (work / "pipeline.log").read_text(errors="replace")}


def test_redelivered_notification_leaves_one_document__within_and_across_runs(redelivered):
    assert redelivered["rc"] == (0, 0), redelivered["log"][-3000:]
    (first,), last = redelivered["first"], redelivered["last"]
    assert [s.id for s in last] == [first.id] == [document_id(BUCKET, NAME, redelivered["generation"])]
    assert last[0].create_time == first.create_time and last[0].update_time > first.update_time
    doc = last[0].to_dict()
    assert (doc["bucket"], doc["file_name"], doc["generation"]) == (BUCKET, NAME, redelivered["generation"])
    assert [(n, g) for n, g, *_ in redelivered["rows"]] == [(NAME, redelivered["generation"])]
