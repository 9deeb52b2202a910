"""Quota use of the Vision backend against the local endpoint with a quota of R calls/s.

    python -m bench vision_quota          (or: make bench BENCH=vision_quota)

The endpoint answers without models (`--fixed_labels`) after a fixed latency,
and accepts R calls per second (token bucket, one second of burst); beyond it,
429 with Retry-After. The same backfill of N small images runs three ways:

* ours, with pacing and adaptive throttling (the default),
* ours with throttling turned off (retries and Retry-After only),
* Beam's `RemoteModelHandler` through `RunInference` (its retry decorator and
  `ReactiveThrottler`; batches of 16), the building block we measured first.

Figures: quota use = ideal time ((calls needed - the bucket's initial burst) / R) over the annotate phase
(first call sent to last answer, from the endpoint's log); images per accepted
call; share of calls answered 429; images lost (neither annotated nor an error).
Environment overrides: VISION_BENCH_IMAGES (default 3200), VISION_BENCH_QPS (10),
VISION_BENCH_LATENCY (0.1 s).
"""
from __future__ import annotations

import math
import os
import tempfile
import time

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import RemoteModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.settings import resolve
from pipeline.vision_endpoint import control, running_endpoint
from transforms.list_images import ListImages

NS = "bench_vision"


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


class _BeamRemoteVision(RemoteModelHandler):
    """The baseline: Beam's RemoteModelHandler around the same client call (bytes, 16 per call)."""

    def __init__(self, endpoint: str):
        super().__init__(namespace=NS, num_retries=8)
        self.endpoint = endpoint

    def create_client(self):
        from transforms.vision.client import make_client
        return make_client(self.endpoint)

    def request(self, batch, model, inference_args=None):  # noqa: ARG002 - RemoteModelHandler's signature
        from transforms.vision.client import to_dict, to_request
        reqs = [to_request({"content": open(r.uri, "rb").read(), "features": (("LABEL_DETECTION", 15),)})
                for r in batch]
        answer = model.batch_annotate_images(requests=reqs, retry=None, timeout=60)
        return [to_dict(a) for a in answer.responses]

    def batch_elements_kwargs(self):
        return {"min_batch_size": 16, "max_batch_size": 16}


def _run(mode: str, images: str, url: str, n: int, qps: float) -> dict:
    settings, _ = resolve([f"--input={images}", "--backend=vision", f"--vision_endpoint={url}",
                           "--features=LABEL_DETECTION", f"--duckdb={images}.duckdb"])
    control(url, "reset", {})
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    refs = p | "List" >> ListImages(settings.input, settings.category_root)
    if mode == "beam":
        inferred, dead = refs | RunInference(_BeamRemoteVision(url)).with_exception_handling()
        inferred | "CountOk" >> beam.Map(_count("annotated"))
        dead.failed_inferences | "CountFailedBatches" >> beam.FlatMap(lambda f: f[0]) | beam.Map(_count("errors"))
    else:
        from transforms.vision.annotate import AnnotateWithVision
        out = refs | AnnotateWithVision(settings, adaptive=(mode == "ours"))
        out["annotated"] | "CountOk" >> beam.Map(_count("annotated"))
        out["errors"] | "CountErrors" >> beam.Map(_count("errors"))
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(MetricsFilter())["counters"]
                if c.key.metric.namespace in (NS, "image_classifier")}
    log = control(url, "stats")["log"]
    ok = [c for c in log if c["status"] == 200]
    phase = max(c["t1"] for c in log) - min(c["t0"] for c in log)
    # The bucket starts full: its first max(1, R) calls need no wait.
    ideal = max(0.0, math.ceil(n / 16) - max(1.0, qps)) / qps
    done = counters.get("annotated", 0) + counters.get("errors", 0)
    return {"mode": mode, "calls": len(log), "accepted": len(ok), "phase_s": phase, "ideal_s": ideal,
            "quota_use": ideal / phase if phase else float("nan"),
            "images_per_call": sum(c["images"] for c in ok) / max(1, len(ok)),
            "share_429": sum(c["status"] == 429 for c in log) / max(1, len(log)),
            "lost": n - done, "errors": counters.get("errors", 0),
            "throttled_s": counters.get("vision_throttled_msecs", 0) / 1000,
            "cumulativeThrottlingSeconds": counters.get("cumulativeThrottlingSeconds", 0)}


def main() -> None:
    os.environ.setdefault("NO_GCE_CHECK", "true")
    n = int(os.environ.get("VISION_BENCH_IMAGES", "3200"))
    qps = float(os.environ.get("VISION_BENCH_QPS", "10"))
    latency = float(os.environ.get("VISION_BENCH_LATENCY", "0.1"))
    with tempfile.TemporaryDirectory() as tmp:
        images = os.path.join(tmp, "images")
        _write_images(images, n)
        print(f"{n} images, quota {qps:g} calls/s, endpoint latency {latency:g} s, "
              f"{math.ceil(n / 16)} calls needed")
        print(f"{'mode':<10}{'quota use':>10}{'img/call':>10}{'429 share':>11}{'calls':>7}{'lost':>6}"
              f"{'errors':>8}{'phase s':>9}{'throttled s':>13}")
        with running_endpoint("--fixed_labels", "--quota_per_sec", str(qps), "--delay_secs", str(latency)) as url:
            for mode in ("ours", "no-throttle", "beam"):
                t0 = time.monotonic()
                r = _run(mode, images, url, n, qps)
                print(f"{mode:<10}{r['quota_use']:>10.2f}{r['images_per_call']:>10.1f}{r['share_429']:>11.1%}"
                      f"{r['calls']:>7}{r['lost']:>6}{r['errors']:>8}{r['phase_s']:>9.1f}{r['throttled_s']:>13.1f}"
                      f"   (wall {time.monotonic() - t0:.0f} s)", flush=True)
