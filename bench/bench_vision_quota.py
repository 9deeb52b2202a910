"""Quota use of the Vision backend against the local endpoint, for every quota shape.

    python -m bench vision_quota          (or: make bench BENCH=vision_quota)

The endpoint (`python -m tools.vision_endpoint --fixed_labels`) answers without
models; its fault switches set the quota's shape. Each shape runs a short job
(30 calls' worth of 32-px images, 16 per call) and a long one (200 calls):

* token bucket 5 calls/s, burst 5, bare 429 (no Retry-After), 50 ms per call;
* the same bucket with Retry-After;
* a per-minute-style window scaled down: 60 calls per 12 s window, all available
  when the window opens, bare 429 / with Retry-After;
* the bucket at 2 s per call (16 calls in flight: 5 calls/s x 2 s needs 10);
* 2 and 4 workers sharing the bucket (4 also at 2 s latency) and 4 sharing the
  window: independent pipelines (each its own Backpressure, as separate Dataflow
  workers are), each with its share of images in whole batches (`_split`: the
  job leaves at most BATCH_KEYS partial calls);
* the same with a job-wide limit (`--vision_rate_limit_service`, every worker
  asks one rate limit service, tools/rate_limit_service.py, before each call,
  for the call's images): at the quota in images per second (80/s: 5 calls x 16
  images), and misconfigured 20 % above it (96/s), where the workers' own pacing
  still has to keep the job sane.

Figures, from the endpoint's log of every call:
* quota use = ideal span / actual span of the accepted calls, where ideal =
  N accepted / R (the quota's long-run rate: 5 calls/s for every shape) and the
  actual span runs from the first accepted call's arrival to the last one's,
  plus one call's share (1/R), so N calls at exactly R score 1.0. Nothing is
  subtracted for the bucket's burst. A window gives all its calls at once, so a
  job that fits in one window scores far above 1; the long job spans 3-4
  windows and is bounded by them. `use to t1` ends the span at the last accepted
  call's answer instead (adds one latency: below 1 for short jobs at 2 s).
* images per accepted call; share of calls answered 429; images lost (neither a
  row nor an error row); `limit wait s`: the workers' time spent waiting for the
  job-wide limit, summed (the `vision_rate_limit_msecs` counter).
Environment: VISION_BENCH_LENGTHS (default "30,200" calls); VISION_BENCH_SHAPES,
text that selects the shapes whose label contains it (e.g. "job-wide": only the
rows with a job-wide limit; default: every shape); VISION_BENCH_HANDLER=beam runs
the one-worker shapes through Beam's own `RemoteModelHandler` pattern instead
(bench/vision_beam_handler.py), the comparison row in docs/vision-pacing.md.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.settings import resolve
from tools.rate_limit_service import running_rate_limit_service
from tools.vision_endpoint import control, running_endpoint
from transforms.sources.list_images import ListImages

NS = "bench_vision"
RATE = 5.0
BUCKET = ["--quota_per_sec", "5", "--quota_burst", "5"]
WINDOW = ["--quota_window_calls", "60", "--quota_window_secs", "12"]
BARE_FAST = [*BUCKET, "--quota_retry_after", "false", "--delay_secs", "0.05"]
LIMIT_AT, LIMIT_120 = "quota=vision-images:80/second", "quota=vision-images:96/second"   # images: 80/s is the quota
SHAPES = [  # (label, endpoint flags, workers, --max_concurrent_requests, job-wide limit rule or None)
    ("bucket 5/s burst 5, bare 429", BARE_FAST, 1, 8, None),
    ("bucket 5/s burst 5, Retry-After", [*BUCKET, "--quota_retry_after", "true", "--delay_secs", "0.05"], 1, 8, None),
    ("window 60/12 s, bare 429", [*WINDOW, "--quota_retry_after", "false", "--delay_secs", "0.05"], 1, 8, None),
    ("window 60/12 s, Retry-After", [*WINDOW, "--quota_retry_after", "true", "--delay_secs", "0.05"], 1, 8, None),
    ("bucket 5/s, 2 s latency", [*BUCKET, "--quota_retry_after", "false", "--delay_secs", "2"], 1, 16, None),
    ("bucket 5/s, 2 workers", BARE_FAST, 2, 8, None),
    ("bucket 5/s, 4 workers", BARE_FAST, 4, 8, None),
    ("bucket 5/s, 4 workers, 2 s latency", [*BUCKET, "--quota_retry_after", "false", "--delay_secs", "2"], 4, 16,
     None),
    ("window 60/12 s, 4 workers, bare 429", [*WINDOW, "--quota_retry_after", "false", "--delay_secs", "0.05"], 4, 8,
     None),
    ("bucket 5/s, 2 workers, job-wide at quota", BARE_FAST, 2, 8, LIMIT_AT),
    ("bucket 5/s, 4 workers, job-wide at quota", BARE_FAST, 4, 8, LIMIT_AT),
    ("bucket 5/s, 4 workers, job-wide 120 %", BARE_FAST, 4, 8, LIMIT_120),
]
QUOTA_SWITCHES = ("quota_per_sec", "quota_burst", "quota_window_calls", "quota_window_secs", "quota_retry_after")


def _write_images(folder: str, count: int) -> None:
    import io

    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    base = Image.linear_gradient("L").resize((32, 32)).convert("RGB")
    for i in range(count):
        im = Image.merge("RGB", [b.point(lambda v, k=k, i=i: (v + 31 * i * k) % 256)
                                 for k, b in enumerate(base.split(), start=1)])
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=80)
        with open(os.path.join(folder, f"img_{i:05d}.jpg"), "wb") as f:
            f.write(buf.getvalue())


def _count(name):
    def inc(x):
        Metrics.counter(NS, name).inc()
        return x
    return inc


def _pipeline(images: str, url: str, concurrent: int, rls: str | None = None) -> dict:
    """One worker: list, annotate through its own Backpressure (and the job-wide limit at `rls`, if given),
    count rows and error rows."""
    if os.environ.get("VISION_BENCH_HANDLER") == "beam":
        from bench.vision_beam_handler import run_pipeline
        return run_pipeline(images, url, _count)
    from pipeline.graph import backend_options
    from transforms.stages.vision.annotate import AnnotateWithVision
    settings, _ = resolve([f"--input={images}", "--backend=vision", f"--vision_endpoint={url}",
                           "--features=LABEL_DETECTION", f"--duckdb={images}.duckdb",
                           f"--max_concurrent_requests={concurrent}",
                           *([f"--vision_rate_limit_service={rls}"] if rls else [])])
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    out = (p | "List" >> ListImages(settings.input, settings.category_root)).ok | AnnotateWithVision(
        backend_options(settings))
    out.ok | "CountOk" >> beam.Map(_count("annotated"))
    out.errors | "CountErrors" >> beam.Map(_count("errors"))
    result = p.run()
    result.wait_until_finish()
    return {c.key.metric.name: c.committed for c in result.metrics().query(MetricsFilter())["counters"]
            if c.key.metric.namespace in (NS, "image_classifier")}


def _run(folders: list[str], url: str, concurrent: int, rls: str | None = None) -> list[dict]:
    """The workers at once, each in a thread with its own pipeline (and so its own Backpressure)."""
    results: list[dict] = [{} for _ in folders]

    def work(i):
        results[i] = _pipeline(folders[i], url, concurrent, rls)
    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(folders))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def figures(log: list[dict], n_images: int, done: int, rate: float = RATE) -> dict:
    ok = [c for c in log if c["status"] == 200]
    if not ok:
        return {"use": 0.0, "use_t1": 0.0, "img_call": 0.0, "share_429": 1.0, "lost": n_images - done}
    ideal = len(ok) / rate
    first = min(c["t0"] for c in ok)
    return {"use": ideal / (max(c["t0"] for c in ok) - first + 1 / rate),
            "use_t1": ideal / (max(c["t1"] for c in ok) - first),
            "img_call": sum(c["images"] for c in ok) / len(ok), "calls": len(log),
            "share_429": sum(c["status"] == 429 for c in log) / len(log), "lost": n_images - done}


def _split(src: str, dst: str, count: int, workers: int) -> list[str]:
    """`count` of the images, one folder per worker, each worker's share in whole batches.

    In one Dataflow job the BATCH_KEYS keys are shared by every worker, so the whole job leaves
    at most BATCH_KEYS partial batches. Separate bench pipelines would each leave their own
    (4 workers: up to 16 partial calls in a 30-call job). So every worker but the last takes
    only images that fill whole batches under the keys its own pipeline will give them (the
    key hashes the path), and the last takes the rest: at most BATCH_KEYS partial batches."""
    from transforms.records import ImageRef
    from transforms.stages.vision.annotate import _batching_key
    from transforms.stages.vision.image_requests import MAX_IMAGES_PER_CALL
    pool = sorted(os.listdir(src))[:count]
    folders = [os.path.join(dst, f"w{w}") for w in range(workers)]
    share = count // workers
    for w, folder in enumerate(folders):
        os.makedirs(folder)
        if w == workers - 1:
            mine = pool
        else:
            groups: dict[int, list[str]] = {}
            mine = []
            for name in pool:
                if len(mine) >= share:
                    break
                key, _ = _batching_key(ImageRef(uri=os.path.join(folder, name), bucket=folder, name=name,
                                                generation=0, rel_path=name))
                groups.setdefault(key, []).append(name)
                if len(groups[key]) == MAX_IMAGES_PER_CALL:
                    mine += groups.pop(key)
        taken = set(mine)
        pool = [n for n in pool if n not in taken]
        for name in mine:
            os.link(os.path.join(src, name), os.path.join(folder, name))
    return folders


def main() -> None:
    os.environ.setdefault("NO_GCE_CHECK", "true")
    lengths = [int(x) for x in os.environ.get("VISION_BENCH_LENGTHS", "30,200").split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        pool = os.path.join(tmp, "pool")
        _write_images(pool, 16 * max(lengths))
        print(f"quota long-run rate {RATE:g} calls/s everywhere; 16 images per call; jobs of {lengths} calls")
        print(f"{'shape':<40}{'calls':>6}{'use':>7}{'use to t1':>10}{'img/call':>9}{'429':>7}{'lost':>6}"
              f"{'errors':>7}{'wall s':>8}{'limit wait s':>13}")
        worst = None
        chosen = os.environ.get("VISION_BENCH_SHAPES", "").lower()
        beam_handler = os.environ.get("VISION_BENCH_HANDLER") == "beam"
        for label, flags, workers, concurrent, limit in SHAPES:
            if chosen not in label.lower() or (beam_handler and (workers > 1 or limit)):
                continue
            with contextlib.ExitStack() as stack:
                url = stack.enter_context(running_endpoint("--fixed_labels", "--enable_control", *flags))
                rls = stack.enter_context(running_rate_limit_service(limit)) if limit else None
                switches = control(url, "faults", {})
                for calls in lengths:
                    run_dir = os.path.join(tmp, f"run-{calls}")
                    folders = _split(pool, run_dir, 16 * calls, workers)
                    control(url, "reset", {})
                    control(url, "faults", {k: switches[k] for k in QUOTA_SWITCHES})   # a fresh quota
                    t0 = time.monotonic()
                    counters = _run(folders, url, concurrent, rls)
                    done = sum(c.get("annotated", 0) + c.get("errors", 0) for c in counters)
                    f = figures(control(url, "stats")["log"], 16 * calls, done)
                    errors = sum(c.get("errors", 0) for c in counters)
                    held = sum(c.get("vision_rate_limit_msecs", 0) for c in counters) / 1000
                    print(f"{label:<40}{calls:>6}{f['use']:>7.2f}{f['use_t1']:>10.2f}{f['img_call']:>9.1f}"
                          f"{f['share_429']:>7.1%}{f['lost']:>6}{errors:>7}{time.monotonic() - t0:>8.0f}"
                          f"{held:>13.1f}", flush=True)
                    worst = f if worst is None or f["use"] < worst["use"] else worst
                    shutil.rmtree(run_dir)
        if worst:
            print(f"worst quota use: {worst['use']:.2f}")
