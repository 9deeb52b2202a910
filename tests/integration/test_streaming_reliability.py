"""Streaming reliability on the real stand-ins: nothing lost, nothing doubled.

fake-gcs-server (memory backend, so a bucket can keep old generations) publishes
real notifications to the Pub/Sub emulator, and `python -m pipeline
--subscription=...` runs as a subprocess, as a user runs it.

- Redelivery: every real notification is published three times more, in a
  shuffled order, with overwrites (new generations) among them.
- Stop and restart: uploads go on while the pipeline is drained with SIGTERM
  and started again on the same subscription and DuckDB file.
- The local Vision-compatible endpoint listens on loopback only.

One pipeline run per scenario; each test checks one part of what it left behind.
"""
from __future__ import annotations

import hashlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from tests import emulators
from tests.integration.streaming_support import (
    emulator_env,
    outcomes,
    pull_all,
    query,
    small_jpeg,
    start_pipeline,
    stop_pipeline,
    stream_env,
    wait_for,
)
from transforms.clients import COPY_MARKER, storage_client

PROJECT = emulators.PROJECT
SEED = 20240608   # the shuffle is reproducible; change it to try another order


@pytest.fixture(scope="module")
def stand_ins(pubsub_host, tmp_path_factory):
    """fake-gcs-server publishing every finalize/delete to topic `rel-gcs-events`, a `tap`
    subscription that records those real messages, and a `replay` topic we publish to."""
    from google.cloud import pubsub_v1
    work = tmp_path_factory.mktemp("reliability")
    with emulator_env(PUBSUB_EMULATOR_HOST=pubsub_host):
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topics = {n: publisher.topic_path(PROJECT, n) for n in ("rel-gcs-events", "rel-replay")}
        for topic in topics.values():
            publisher.create_topic(name=topic)
        tap = subscriber.subscription_path(PROJECT, "rel-tap")
        subscriber.create_subscription(name=tap, topic=topics["rel-gcs-events"])
        with emulators.fake_gcs(str(work), pubsub_topic="rel-gcs-events", pubsub_host=pubsub_host,
                                backend="memory") as (url, _):
            os.environ["STORAGE_EMULATOR_HOST"] = url
            yield {"work": work, "publisher": publisher, "subscriber": subscriber, "topics": topics,
                   "tap": tap, "env": stream_env(pubsub_host, url), "client": storage_client()}


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# ---------------------------------------------------------------- redelivery

@pytest.fixture(scope="module")
def redelivery_run(stand_ins, model_dir):
    """Uploads and overwrites in a versioned bucket; the pipeline reads a topic to which
    each captured real notification is published three times, shuffled, in small bursts."""
    s = stand_ins
    work, db = s["work"], str(s["work"] / "redelivery.duckdb")
    bucket = s["client"].bucket("photos")
    bucket.versioning_enabled = True   # older generations stay readable, so each one can be classified
    bucket = s["client"].create_bucket(bucket)
    sub = s["subscriber"].subscription_path(PROJECT, "replay-classifier")
    s["subscriber"].create_subscription(name=sub, topic=s["topics"]["rel-replay"])
    proc = start_pipeline(work, s["env"], sub, db, model_dir, "gs://photos/classified", log_name="redelivery.log")
    try:
        versions = {}   # (name, generation) -> md5 of the bytes
        plan = [("in/cat.jpg", small_jpeg("chelsea")), ("in/coffee.jpg", small_jpeg("coffee")),
                ("in/a b/rocket's.jpg", small_jpeg("rocket")), ("in/ünïcode/astronaut.jpg", small_jpeg("astronaut")),
                ("in/cat.jpg", small_jpeg("chelsea", quality=60)),      # overwrite, same picture
                ("in/coffee.jpg", small_jpeg("motorcycle")),            # overwrite, another picture
                ("in/cat.jpg", small_jpeg("chelsea", quality=40))]      # a third generation
        for name, data in plan:
            blob = bucket.blob(name)
            blob.upload_from_string(data, content_type="image/jpeg")
            versions[(name, blob.generation)] = _md5(data)
        captured = []
        wait_for(lambda: captured.extend(m for m in pull_all(s["subscriber"], s["tap"], settle=0.5)
                                         if m.attributes.get("bucketId") == "photos")
                 or sum(m.attributes.get("eventType") == "OBJECT_FINALIZE" for m in captured) >= len(plan),
                 30, "the real notifications of every upload")
        deliveries = [m for m in captured for _ in range(3)]
        random.Random(SEED).shuffle(deliveries)
        for i in range(0, len(deliveries), 4):   # bursts: duplicates land in different pulls and bundles
            for m in deliveries[i:i + 4]:
                s["publisher"].publish(s["topics"]["rel-replay"], m.data, **dict(m.attributes)).result()
            time.sleep(0.2)
        wait_for(lambda: len(query(db, "SELECT DISTINCT name, generation FROM classifications"))
                 + len(query(db, "SELECT DISTINCT name, generation FROM errors")) >= len(versions),
                 120, "an outcome for every generation")
        time.sleep(2)   # let any late duplicate reach the sink before stopping
        rc = stop_pipeline(proc, signal.SIGINT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rows, errors = outcomes(db)
    copies = {b.name: b for b in s["client"].list_blobs("photos", prefix="classified/")}
    yield {"rc": rc, "rows": rows, "errors": errors, "versions": versions, "copies": copies,
           "captured": captured, "deliveries": deliveries, "log": (work / "redelivery.log").read_text(errors="replace")}


def test_drains_cleanly__after_shuffled_redelivery(redelivery_run):
    assert redelivery_run["rc"] == 0, redelivery_run["log"][-3000:]
    assert "Traceback" not in redelivery_run["log"], redelivery_run["log"][-3000:]


def test_one_row_per_generation__each_notification_three_times_shuffled(redelivery_run):
    r = redelivery_run
    assert Counter(m.attributes["objectGeneration"] for m in r["deliveries"]
                   if m.attributes["eventType"] == "OBJECT_FINALIZE") == \
        Counter({str(g): 3 for _, g in r["versions"]})   # the scenario really redelivered each one
    assert Counter((n, g) for n, g, *_ in r["rows"]) == Counter({k: 1 for k in r["versions"]}), r["errors"]
    assert r["errors"] == []


def test_no_image_in_both_tables__redelivery(redelivery_run):
    assert not {(n, g) for n, g, *_ in redelivery_run["rows"]} & {(n, g) for n, g, *_ in redelivery_run["errors"]}


def test_copy_holds_newest_generation__older_generation_classified_after_newer(redelivery_run):
    """A user browsing a category folder expects the object as it is now: a copy path
    holds the newest generation classified into that category, never an older one that
    happened to be processed last. A category the new version left keeps the old copy."""
    r = redelivery_run
    assert sorted(f"gs://photos/{n}" for n in r["copies"]) == sorted({row[3] for row in r["rows"]})
    for path, blob in r["copies"].items():
        gens = [g for n, g, _, uri in r["rows"] if uri == f"gs://photos/{path}"]
        name = blob.metadata[COPY_MARKER].removeprefix("gs://photos/")
        newest = max(gens)
        assert _md5(blob.download_as_bytes()) == r["versions"][(name, newest)], (path, gens)


def test_copies_never_reclassified__redelivery(redelivery_run):
    assert not [n for n, *_ in redelivery_run["rows"] if n.startswith("classified/")]
    assert all(m.attributes["objectId"].startswith("in/") for m in redelivery_run["captured"])


# ---------------------------------------------------------------- stop and restart

@pytest.fixture(scope="module")
def restart_run(stand_ins, model_dir):
    """Uploads every 0.2 s, from before the first run is up until the second run is
    working, while the pipeline is drained with SIGTERM and started again on the same
    subscription and DuckDB file."""
    s = stand_ins
    work, db = s["work"], str(s["work"] / "restart.duckdb")
    bucket = s["client"].create_bucket("live")   # not versioned: GCS's default
    sub = s["subscriber"].subscription_path(PROJECT, "live-classifier")
    s["subscriber"].create_subscription(name=sub, topic=s["topics"]["rel-gcs-events"])
    pictures = [small_jpeg(n, side=96) for n in ("chelsea", "coffee", "rocket", "astronaut", "motorcycle")]
    uploaded, upload_error, enough = [], [], threading.Event()

    def upload():
        try:
            for i in range(150):   # about 30 s at most
                if enough.is_set():
                    return
                name = f"live/{i:02d}.jpg" if i % 6 != 5 else f"live/{i - 3:02d}.jpg"   # every 6th: an overwrite
                blob = bucket.blob(name)
                blob.upload_from_string(pictures[i % len(pictures)], content_type="image/jpeg")
                uploaded.append((name, blob.generation))
                time.sleep(0.2)
        except Exception as e:  # noqa: BLE001 - reported by the test
            upload_error.append(e)

    runs = []
    proc = start_pipeline(work, s["env"], sub, db, model_dir, "gs://live/classified", log_name="restart.log")
    uploader = threading.Thread(target=upload)
    try:
        uploader.start()
        wait_for(lambda: proc.poll() is None and query(db, "SELECT 1 FROM classifications"), 90,
                 "the first run to classify something", interval=0.1)
        t_stop = time.monotonic()
        runs.append({"rc": stop_pipeline(proc, signal.SIGTERM), "stop_secs": time.monotonic() - t_stop,
                     "uploaded_before_stop": len(uploaded), "outcomes": sum(map(len, outcomes(db)))})
        proc = start_pipeline(work, s["env"], sub, db, model_dir, "gs://live/classified", log_name="restart.log")
        runs[0]["uploaded_before_restart"] = len(uploaded)
        wait_for(lambda: sum(map(len, outcomes(db))) > runs[0]["outcomes"], 90, "the second run to write")
        time.sleep(1)
        enough.set()
        uploader.join(60)
        wait_for(lambda: sum(map(len, outcomes(db))) >= len(uploaded), 120, "an outcome for every upload")
        time.sleep(1.5)   # any duplicate would land now
        runs.append({"rc": stop_pipeline(proc, signal.SIGINT)})
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    rows, errors = outcomes(db)
    yield {"runs": runs, "rows": rows, "errors": errors, "uploaded": uploaded, "upload_error": upload_error,
           "leftover": pull_all(s["subscriber"], sub, settle=0.5),
           "log": (work / "restart.log").read_text(errors="replace")}


def test_drains_and_restarts_cleanly__sigterm_mid_stream(restart_run):
    r = restart_run
    assert not r["upload_error"], r["upload_error"]
    assert [run["rc"] for run in r["runs"]] == [0, 0], r["log"][-3000:]
    assert "Traceback" not in r["log"], r["log"][-3000:]
    assert r["runs"][0]["stop_secs"] < 20
    # Mid-stream for real: the first run classified some, uploads went on after its stop.
    assert 0 < r["runs"][0]["outcomes"] < len(r["uploaded"])
    assert r["runs"][0]["uploaded_before_restart"] < len(r["uploaded"])


def test_every_version_accounted_once__sigterm_and_restart(restart_run):
    r = restart_run
    got = Counter((n, g) for n, g, *_ in r["rows"]) + Counter((n, g) for n, g, *_ in r["errors"])
    assert got == Counter({k: 1 for k in r["uploaded"]}), r["errors"]
    assert r["leftover"] == []


def test_only_overwritten_versions_may_fail__sigterm_and_restart(restart_run):
    """In a bucket without versioning, a version overwritten before it was read (or copied) is gone:
    a not_found error row. Any other error is a bug."""
    latest = {}
    for name, gen in restart_run["uploaded"]:
        latest[name] = max(gen, latest.get(name, 0))
    for name, gen, stage, code, _ in restart_run["errors"]:
        assert stage in ("read", "copy") and code == "not_found" and gen < latest[name], (name, gen, stage, code)


# ---------------------------------------------------------------- the Vision-compatible endpoint

def _listening(port: int) -> set[str]:
    """Addresses with a socket listening on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not os.path.exists(table):
            continue
        for line in open(table).read().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, _, hex_port = local.partition(":")
            if state != "0A" or int(hex_port, 16) != port:   # 0A = LISTEN
                continue
            raw = bytes.fromhex(addr)
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))   # per-word little endian
            found.add(socket.inet_ntop(socket.AF_INET if width == 8 else socket.AF_INET6, raw))
    return found


def test_listens_on_loopback_only__default_host():
    from tools.vision_endpoint import running_endpoint
    with running_endpoint("--fixed_labels") as url:
        port = int(url.rsplit(":", 1)[1])
        assert _listening(port) == {"127.0.0.1"}


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_refuses_reachable_host__without_allow_remote(host):
    out = subprocess.run([sys.executable, "-m", "tools.vision_endpoint", "--host", host, "--port", "0",
                          "--fixed_labels"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert f"--host={host} would accept connections from other machines" in out.stderr
    assert "--allow_remote" in out.stderr


def test_allows_reachable_host__only_with_allow_remote():
    from tools.vision_endpoint import check_host
    check_host("0.0.0.0", allow_remote=True)
    check_host("localhost", allow_remote=False)
    with pytest.raises(ValueError, match="no authentication"):
        check_host("0.0.0.0", allow_remote=False)


def test_hard_kill_loses_nothing__sigkill_mid_stream_and_restart(pubsub_host, model_dir, tmp_path):
    """SIGKILL mid-stream, uploads going on, restart: what was pulled but not written
    comes back (acknowledgements are deferred) and the idempotent sinks absorb it."""
    import signal

    from bench.bench_streaming_kill import stop_and_restart
    figures = stop_and_restart(signal.SIGKILL, str(tmp_path), pubsub_host, model_dir)
    assert figures["outcomes_at_stop"] < figures["sent"], figures   # the kill did land mid-stream
    assert figures["lost"] == 0 and figures["duplicates"] == 0, figures
    assert figures["rows"] + figures["errors"] == figures["sent"], figures
