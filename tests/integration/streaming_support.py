"""Helpers for the streaming tests (and the streaming benchmarks): the pipeline run
as a real `python -m pipeline --subscription=...` subprocess against the
stand-ins, reading DuckDB while it writes, draining a Pub/Sub subscription.

Kept out of the test modules so each scenario reads like its story."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

from tools.samples import jpeg_bytes, sample_photos
from transforms.sinks.duckdb_sink import connect

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FEATURES = "--features=LABEL_DETECTION,SAFE_SEARCH_DETECTION"
_PHOTOS = {}


def small_jpeg(name: str, side: int = 160, quality: int = 90) -> bytes:
    """One of scikit-image's sample photos, shrunk to `side` pixels: fast to classify."""
    import numpy as np
    from PIL import Image
    if not _PHOTOS:
        _PHOTOS.update(sample_photos())
    img = Image.fromarray(_PHOTOS[name]).convert("RGB")
    img.thumbnail((side, side))
    return jpeg_bytes(np.asarray(img), quality=quality)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def query(db: str, sql: str) -> list:
    """Read while the pipeline may be writing: the sink opens the file per batch."""
    if not os.path.exists(db):
        return []
    con = connect(db, read_only=True, wait_secs=30)
    try:
        return con.execute(sql).fetchall()
    except Exception as e:  # noqa: BLE001 - tables not created yet
        if "does not exist" in str(e):
            return []
        raise
    finally:
        con.close()


def pull_all(subscriber, subscription: str, settle: float = 1.5) -> list:
    """Every message waiting on `subscription` (acknowledged)."""
    out = []
    while True:
        resp = subscriber.pull(subscription=subscription, max_messages=100, timeout=settle)
        if not resp.received_messages:
            return out
        out += [m.message for m in resp.received_messages]
        subscriber.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in resp.received_messages])


def stream_env(pubsub_host: str, gcs_url: str) -> dict:
    return dict(os.environ, PUBSUB_EMULATOR_HOST=pubsub_host, STORAGE_EMULATOR_HOST=gcs_url,
                GOOGLE_CLOUD_PROJECT="test-project", NO_GCE_CHECK="true", PYTHONPATH=REPO)


def start_pipeline(workdir, env: dict, subscription: str, db: str, model_dir: str, category_root: str,
                   *extra: str, log_name: str = "pipeline.log") -> subprocess.Popen:
    """`python -m pipeline --subscription=...` in the background; its output goes to workdir/log_name."""
    log = open(os.path.join(str(workdir), log_name), "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline", f"--subscription={subscription}",
             f"--category_root={category_root}", f"--duckdb={db}", f"--model_dir={model_dir}", FEATURES, *extra],
            cwd=str(workdir), env=env, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()   # the child holds its own descriptor


def stop_pipeline(proc: subprocess.Popen, sig=signal.SIGINT, timeout: float = 60) -> int:
    """Send `sig` and wait; a pipeline that does not stop is killed and the wait fails."""
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"the pipeline did not stop within {timeout} s of {sig!r}") from None


def outcomes(db: str) -> tuple[list, list]:
    """(classification rows, error rows) as (name, generation, ...) tuples."""
    rows = query(db, "SELECT name, generation, primary_category, category_uri FROM classifications")
    errors = query(db, "SELECT name, generation, stage, code, uri FROM errors")
    return rows, errors


@contextmanager
def emulator_env(**values: str):
    """Set emulator host variables for this process's clients; restore them afterwards."""
    old = {k: os.environ.get(k) for k in ("PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST", *values)}
    os.environ.update(values)
    try:
        yield os.environ
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
