"""The job-wide Vision limit (--vision_rate_limit_service) end to end: real pipelines, each with its own
Backpressure as separate Dataflow workers have, share one quota at the project's Vision-compatible
endpoint (tools/vision_endpoint.py, a token bucket) and ask one stand-in Envoy rate limit service
(tools/rate_limit_service.py, a real process over gRPC) through Beam's EnvoyRateLimiter."""
from __future__ import annotations

import io
import socket
import threading

import apache_beam as beam
import duckdb
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from PIL import Image

from pipeline.graph import build_pipeline
from pipeline.run import main
from pipeline.settings import resolve
from tools.rate_limit_service import running_rate_limit_service
from tools.vision_endpoint import control, running_endpoint
from transforms.records import ImageRef
from transforms.stages.vision.annotate import BATCH_KEYS, _batching_key
from transforms.stages.vision.job_limit import UNAVAILABLE

pytestmark = pytest.mark.slow

WORKERS = 4
IMAGES_PER_WORKER = 128       # 8 full calls each (2 per batching key): 32 calls in all
# The bench's bucket: 5 calls/s = 80 images/s, at most 5 calls at once; a bare 429, 50 ms a call.
BUCKET = ["--fixed_labels", "--quota_per_sec", "5", "--quota_burst", "5", "--quota_retry_after", "false",
          "--delay_secs", "0.05"]
LIMIT_95 = "quota=vision-images:76/second"   # the job-wide limit a little below the quota, in images


def _photos(folder, count, tint, whole_calls: bool = False):
    """`count` small JPEGs; with `whole_calls`, named so that each batching key gets whole calls of 16
    (as one Dataflow job, whose keys every worker shares, leaves at most BATCH_KEYS partial calls)."""
    folder.mkdir(parents=True)
    per_key = {k: 0 for k in range(BATCH_KEYS)}
    i = written = 0
    while written < count:
        name, i = f"img_{i:05d}.jpg", i + 1
        if whole_calls:
            key, _ = _batching_key(ImageRef(uri=str(folder / name), bucket=str(folder), name=name, generation=0,
                                            rel_path=name))
            if per_key[key] >= count // BATCH_KEYS:
                continue
            per_key[key] += 1
        im = Image.linear_gradient("L").resize((32, 32)).convert("RGB")
        im = Image.merge("RGB", [band.point(lambda v, k=k, i=i: (v + 37 * i * k + tint) % 256)
                                 for k, band in enumerate(im.split(), start=1)])
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
        (folder / name).write_bytes(buf.getvalue())
        written += 1


def _rows(db):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return ([r[0] for r in con.execute("SELECT name FROM classifications").fetchall()],
                con.execute("SELECT name, stage, code, message FROM errors").fetchall())
    finally:
        con.close()


def _worker(root, url: str, rls: str | None) -> dict:
    """One worker's pipeline, the whole graph (rows to its own DuckDB file); its counters."""
    argv = [f"--input={root / 'images'}", "--backend=vision", f"--vision_endpoint={url}",
            "--features=LABEL_DETECTION", f"--duckdb={root / 'r.duckdb'}", f"--category_root={root / 'classified'}"]
    settings, _ = resolve([*argv, *([f"--vision_rate_limit_service={rls}"] if rls else [])])
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    build_pipeline(p, settings)
    result = p.run()
    result.wait_until_finish()
    counters: dict = {}
    for c in result.metrics().query(MetricsFilter())["counters"]:
        counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + c.committed
    return counters


def _job(tmp_path, url: str, rls: str | None) -> list[dict]:
    """WORKERS pipelines at once, each on its own images (so its own share of the job)."""
    roots = [tmp_path / f"w{w}" for w in range(WORKERS)]
    for w, root in enumerate(roots):
        _photos(root / "images", IMAGES_PER_WORKER, tint=w * 61, whole_calls=True)
    counters: list[dict] = [{} for _ in roots]

    def work(w):
        counters[w] = _worker(roots[w], url, rls)
    threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for root in roots:
        names, errors = _rows(root / "r.duckdb")
        assert errors == [] and sorted(names) == sorted(p.name for p in (root / "images").iterdir())
    return counters


def test_fewer_429s_than_workers_and_every_image_one_row__4_workers_one_bucket_one_job_wide_limit(tmp_path):
    # Without the job-wide limit each worker meets a 429 of its own before it knows the quota is
    # there (at least 4 here, 15.8 % of a short job's calls in the quota bench (docs/vision-backend.md)).
    with running_endpoint("--enable_control", *BUCKET) as url, running_rate_limit_service(LIMIT_95) as rls:
        counters = _job(tmp_path, url, rls)
        log = control(url, "stats")["log"]
    refused = sum(c["status"] == 429 for c in log)
    assert sum(c["images"] for c in log if c["status"] == 200) == WORKERS * IMAGES_PER_WORKER
    assert refused < WORKERS, f"{refused} of {len(log)} calls answered 429"
    assert refused <= 0.1 * len(log)                            # the target: at most 10 % of calls
    assert sum(c.get("vision_rate_limit_msecs", 0) for c in counters) > 0   # the limit held calls back
    for c in counters:   # its wait is in the throttling seconds once, not again as Beam's rounded-up signal
        assert c.get("cumulativeThrottlingSeconds", 0) <= c["vision_throttled_msecs"] / 1000 + 0.5


def test_every_image_an_error_row_saying_why__rate_limit_service_unreachable(tmp_path, capsys):
    # At full length: Beam's client tries 5 times, 10 s apart (about 40 s), then the images become error rows.
    images = tmp_path / "images"
    _photos(images, 12, tint=0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"      # nothing listens there once it is closed
    with running_endpoint("--fixed_labels", "--enable_control") as url:
        rc = main([f"--input={images}", "--backend=vision", f"--vision_endpoint={url}", "--features=LABEL_DETECTION",
                   f"--duckdb={tmp_path / 'r.duckdb'}", f"--category_root={tmp_path / 'classified'}",
                   f"--vision_rate_limit_service={address}"])
        log = control(url, "stats")["log"]
    assert rc == 0                                          # the job finished: no crash, no hang
    names, errors = _rows(tmp_path / "r.duckdb")
    assert names == [] and sorted(e[0] for e in errors) == sorted(p.name for p in images.iterdir())
    assert {(e[1], e[2]) for e in errors} == {("annotate", UNAVAILABLE)}
    assert all(address in e[3] and "--vision_rate_limit_service" in e[3] for e in errors)
    assert log == []                                        # nothing was sent to Vision without the limit's leave
    assert UNAVAILABLE in capsys.readouterr().out          # the run's summary names it
