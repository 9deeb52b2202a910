"""Hostile Pub/Sub messages on a real streaming job.

Anyone who may publish to the notification topic can send anything. One
`python -m pipeline --subscription=...` run on the Pub/Sub emulator and
fake-gcs-server receives, on the topic fake-gcs-server publishes its real
notifications to: a 9 MB message (over gRPC's 4 MB default receive limit),
JSON nested 100,000 deep, data that is not UTF-8, 100 attributes of 1 KB, a
10 KB object name, a generation that is not a number, JSON that is not an
object, and objects without a name or a bucket. Then a real upload. Each hostile
message must end as exactly one error row that names the broken rule and quotes
no payload, the job must keep running, and the upload after them must be classified.
"""
from __future__ import annotations

import json
import os
import re
import signal

import pytest

from tests import emulators
from tests.integration.streaming_support import (
    emulator_env,
    query,
    small_jpeg,
    start_pipeline,
    stop_pipeline,
    stream_env,
    wait_for,
)
from transforms.clients import storage_client

PROJECT = emulators.PROJECT
BUCKET = "hostile"
FINALIZE = {"eventType": "OBJECT_FINALIZE", "payloadFormat": "JSON_API_V1"}
MAX_MESSAGE_CHARS = 400   # an error row's message: the rule and a short quote, never the payload


def _obj(**fields) -> bytes:
    return json.dumps({"bucket": BUCKET, "name": "in/x.jpg", "generation": "1", "size": "10",
                       "contentType": "image/jpeg", **fields}).encode()


def _without(key: str) -> bytes:
    obj = json.loads(_obj())
    obj.pop(key)
    return json.dumps(obj).encode()


# kind -> (data, attributes, what the error row's message must say)
HOSTILE = {
    "huge_9mb": (_obj(generation="7" * 10 + "A" * (9 * 2**20)), FINALIZE,
                 r"generation is not an integer: '7777777777AAAA.*… \(9,437,194 characters\)"),
    "nested_100k_deep": (b"[" * 100_000, FINALIZE, r"JSON_API_V1 payload is not JSON we accept: nested too deeply"),
    "not_utf8": (b"\xff\xfe\x00\x81 not text", FINALIZE, r"is not JSON: not UTF-8 \(invalid start byte at byte 0\)"),
    "100_attributes": (b"", {f"attr{i:03d}": "v" * 1024 for i in range(100)},
                       r"not a Cloud Storage notification \(100 attributes: \['attr000', 'attr001'"),
    "name_10kb": (_obj(name="in/" + "n" * 10_240 + ".jpg"), FINALIZE,
                  r"the object name is 10,247 bytes, over Cloud Storage's 1024: 'in/nnnn"),
    "generation_not_a_number": (_obj(), {**FINALIZE, "objectGeneration": "12abc"},
                                r"generation is not an integer: '12abc'"),
    "json_not_an_object": (b'["bucket", "name"]', FINALIZE,
                           r"JSON_API_V1 payload is JSON but not an object \(a list\)"),
    "json_without_name": (_without("name"), FINALIZE, r"the object name is missing"),
    "json_without_bucket": (_without("bucket"), FINALIZE, r"the bucket name is missing"),
}


@pytest.fixture(scope="module")
def hostile_run(pubsub_host, model_dir, tmp_path_factory):
    """Every hostile message, then (once they are all error rows) one good upload."""
    from google.cloud import pubsub_v1
    work = tmp_path_factory.mktemp("hostile-notifications")
    db = str(work / "results.duckdb")
    with emulator_env(PUBSUB_EMULATOR_HOST=pubsub_host):
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(PROJECT, "hostile-gcs-events")
        publisher.create_topic(name=topic)
        sub = subscriber.subscription_path(PROJECT, "hostile-classifier")
        subscriber.create_subscription(name=sub, topic=topic)
        with emulators.fake_gcs(str(work), pubsub_topic="hostile-gcs-events", pubsub_host=pubsub_host) as (url, _):
            os.environ["STORAGE_EMULATOR_HOST"] = url
            bucket = storage_client().create_bucket(BUCKET)
            proc = start_pipeline(work, stream_env(pubsub_host, url), sub, db, model_dir,
                                  f"gs://{BUCKET}/classified")
            try:
                ids = {kind: publisher.publish(topic, data, **attrs).result(timeout=60)
                       for kind, (data, attrs, _) in HOSTILE.items()}
                wait_for(lambda: len(query(db, "SELECT 1 FROM errors")) >= len(HOSTILE) or proc.poll() is not None,
                         180, "an error row for every hostile message")
                running_after_hostile = proc.poll() is None
                good = bucket.blob("in/after/cat.jpg")
                good.upload_from_string(small_jpeg("chelsea"), content_type="image/jpeg")
                wait_for(lambda: query(db, "SELECT 1 FROM classifications") or proc.poll() is not None,
                         120, "the good upload's row")
                rc = stop_pipeline(proc, signal.SIGINT)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    yield {"ids": ids, "sub": sub, "rc": rc, "running": running_after_hostile, "good": good,
           "errors": query(db, "SELECT uri, name, stage, code, message FROM errors"),
           "rows": query(db, "SELECT name, generation FROM classifications"),
           "log": (work / "pipeline.log").read_text(errors="replace")}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_each_hostile_message_is_one_error_row__naming_the_rule(hostile_run, kind):
    uri = f"pubsub://{hostile_run['sub']}/messages/{hostile_run['ids'][kind]}"
    rows = [e for e in hostile_run["errors"] if e[0] == uri]
    assert len(rows) == 1, (kind, hostile_run["errors"], hostile_run["log"][-2000:])
    _, name, stage, code, message = rows[0]
    assert (name, stage, code) == (None, "notification", "malformed_notification")
    assert re.search(HOSTILE[kind][2], message), message
    assert len(message) < MAX_MESSAGE_CHARS, (kind, len(message))


def test_no_other_error_rows__hostile_messages_only(hostile_run):
    expected = {f"pubsub://{hostile_run['sub']}/messages/{i}" for i in hostile_run["ids"].values()}
    assert sorted(e[0] for e in hostile_run["errors"]) == sorted(expected), hostile_run["log"][-2000:]


def test_job_keeps_running_and_classifies_the_next_upload__after_hostile_messages(hostile_run):
    assert hostile_run["running"], hostile_run["log"][-3000:]
    assert hostile_run["rows"] == [("in/after/cat.jpg", hostile_run["good"].generation)]


def test_drains_cleanly__after_hostile_messages(hostile_run):
    assert hostile_run["rc"] == 0, hostile_run["log"][-3000:]
    assert "Traceback" not in hostile_run["log"], hostile_run["log"][-3000:]
