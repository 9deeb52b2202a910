"""The Vision backend in streaming: a trickle of uploads is sent in shared calls
(not one image per call), by gs:// URI, through the real client and endpoint."""
import time

from tests import emulators
from tests.integration.streaming_support import (
    emulator_env,
    outcomes,
    small_jpeg,
    start_pipeline,
    stop_pipeline,
    stream_env,
    wait_for,
)
from tools.vision_endpoint import control, running_endpoint
from transforms.clients import storage_client

UPLOADS = 24


def test_trickle_is_batched_across_bundles__streaming_vision(pubsub_host, model_dir, tmp_path):
    from google.cloud import pubsub_v1
    with emulator_env(PUBSUB_EMULATOR_HOST=pubsub_host):
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(emulators.PROJECT, "vision-stream-events")
        publisher.create_topic(name=topic)
        sub = subscriber.subscription_path(emulators.PROJECT, "vision-stream")
        subscriber.create_subscription(name=sub, topic=topic)
        with emulators.fake_gcs(str(tmp_path), pubsub_topic="vision-stream-events",
                                pubsub_host=pubsub_host) as (gcs_url, _):
            env = stream_env(pubsub_host, gcs_url)
            with emulator_env(STORAGE_EMULATOR_HOST=gcs_url), \
                    running_endpoint("--fixed_labels", "--enable_control", env=env) as url:
                bucket = storage_client().create_bucket("vision-stream")
                db = str(tmp_path / "r.duckdb")
                proc = start_pipeline(tmp_path, env, sub, db, model_dir, "gs://vision-stream/classified",
                                      "--backend=vision", f"--vision_endpoint={url}", "--batch_max_wait_secs=1.5")
                try:
                    time.sleep(4)   # let the job start pulling
                    photo = small_jpeg("chelsea", side=128)
                    for i in range(UPLOADS):   # about 12 uploads a second: a trickle, not a batch
                        bucket.blob(f"up/{i:02d}.jpg").upload_from_string(photo, content_type="image/jpeg")
                        time.sleep(0.08)
                    wait_for(lambda: len(outcomes(db)[0]) >= UPLOADS, 120, "a row per upload")
                finally:
                    rc = stop_pipeline(proc)
                log = control(url, "stats")["log"]
    rows, errors = outcomes(db)
    assert rc == 0 and errors == [] and len(rows) == UPLOADS
    sizes = [c["images"] for c in log if c["status"] == 200]
    assert sum(sizes) == UPLOADS
    assert len(sizes) <= UPLOADS // 4, sizes          # shared calls, not one image per call
    assert max(sizes) >= 8, sizes
    assert sum(c["by_uri"] for c in log) == UPLOADS    # objects in a bucket go by gs:// URI, not bytes
