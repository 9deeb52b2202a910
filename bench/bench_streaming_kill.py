"""What a hard kill (SIGKILL) of a local streaming run costs, against a drain (SIGTERM).

Uploads go on (one every 0.1 s) while the pipeline is stopped mid-stream and
started again on the same subscription and DuckDB file; afterwards each uploaded
object version is looked up in the results. Beam's local runner acknowledges a
Pub/Sub message as soon as it pulls it; `pipeline.local_streaming` defers those
acknowledgements until the rows are written, so after a hard kill Pub/Sub
redelivers what was in flight to the restarted job. (On Dataflow, acknowledgement
follows the checkpoint, so a crashed worker's messages are redelivered.)

Figures: versions sent, rows, errors, lost, duplicates, per stop signal.
"""
from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
from collections import Counter

UPLOADS = 60


def stop_and_restart(sig, work: str, pubsub_host: str, model_dir: str) -> dict:
    from google.cloud import pubsub_v1

    from tests import emulators
    from tests.integration.streaming_support import (
        outcomes,
        query,
        small_jpeg,
        start_pipeline,
        stop_pipeline,
        stream_env,
        wait_for,
    )
    from transforms.clients import storage_client
    topic_name = f"events-{sig.name.lower()}"
    os.environ["PUBSUB_EMULATOR_HOST"] = pubsub_host
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.create_topic(name=publisher.topic_path(emulators.PROJECT, topic_name)).name
    sub = subscriber.subscription_path(emulators.PROJECT, f"classifier-{sig.name.lower()}")
    subscriber.create_subscription(name=sub, topic=topic)
    with emulators.fake_gcs(work, pubsub_topic=topic_name, pubsub_host=pubsub_host, backend="memory") as (url, _):
        os.environ["STORAGE_EMULATOR_HOST"] = url
        bucket = storage_client().create_bucket("live")
        env, db = stream_env(pubsub_host, url), os.path.join(work, f"{sig.name}.duckdb")
        pictures = [small_jpeg(n, side=96) for n in ("chelsea", "coffee", "rocket", "astronaut", "motorcycle")]
        sent = []

        def upload():
            for i in range(UPLOADS):
                blob = bucket.blob(f"live/{i:03d}.jpg")
                blob.upload_from_string(pictures[i % len(pictures)], content_type="image/jpeg")
                sent.append((blob.name, blob.generation))
                time.sleep(0.1)

        uploader = threading.Thread(target=upload)
        proc = start_pipeline(work, env, sub, db, model_dir, "gs://live/classified", log_name=f"{sig.name}.log")
        uploader.start()
        wait_for(lambda: len(query(db, "SELECT 1 FROM classifications")) >= 5, 120, "the first rows", 0.05)
        proc.send_signal(sig)
        proc.wait(60)
        before = sum(map(len, outcomes(db)))
        proc = start_pipeline(work, env, sub, db, model_dir, "gs://live/classified", log_name=f"{sig.name}.log")
        uploader.join()
        try:
            # After a kill, what was pulled but not acknowledged comes back when its
            # ack deadline (pipeline.deferred_acks.ACK_DEADLINE_SECS) runs out.
            wait_for(lambda: sum(map(len, outcomes(db))) >= len(sent), 60, "every outcome")
        except AssertionError:
            pass   # lost images never arrive: measured below
        time.sleep(2)
        stop_pipeline(proc, signal.SIGINT)
        rows, errors = outcomes(db)
    got = Counter((n, g) for n, g, *_ in rows) + Counter((n, g) for n, g, *_ in errors)
    return {"sent": len(sent), "rows": len(rows), "errors": len(errors), "outcomes_at_stop": before,
            "lost": sum(1 for k in sent if k not in got), "duplicates": sum(c - 1 for c in got.values() if c > 1)}


def main() -> None:
    from tests import emulators
    from tests.conftest import MODEL_DIR
    from transforms.stages.local.build.__main__ import build
    os.environ.setdefault("NO_GCE_CHECK", "true")
    build(MODEL_DIR, log=lambda _: None)
    with tempfile.TemporaryDirectory() as work, emulators.pubsub_emulator(work) as host:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            os.makedirs(os.path.join(work, sig.name), exist_ok=True)
            f = stop_and_restart(sig, os.path.join(work, sig.name), host, MODEL_DIR)
            print(f"stop with {sig.name:7s} mid-stream, restart: sent {f['sent']} versions, rows {f['rows']}, "
                  f"errors {f['errors']}, lost {f['lost']}, duplicates {f['duplicates']} "
                  f"(outcomes written before the stop: {f['outcomes_at_stop']})", flush=True)
