"""The job-wide limit in the call path: Beam's EnvoyRateLimiter over real gRPC to the stand-in
rate limit service (tools/rate_limit_service.py, in-process), the real google-cloud-vision client
over real HTTP to the project's endpoint (in-process, fixed answers)."""
import io
import socket

import apache_beam as beam
import pytest
from apache_beam.io.components import rate_limiter
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from PIL import Image

from tools.rate_limit_service import RateLimits, make_server, parse_rule
from transforms.stages.vision.backpressure import Backpressure
from transforms.stages.vision.client import VisionCaller
from transforms.stages.vision.job_limit import UNAVAILABLE, JobLimit, JobLimiter, parse_descriptor

QUOTA = (("quota", "vision-images"),)


@pytest.fixture
def rls():
    """A rate limit service allowing 16 images a second; yields (HOST:PORT, its RateLimits)."""
    limits = RateLimits("image-classifier", [parse_rule("quota=vision-images:16/second")])
    server, port = make_server("127.0.0.1", 0, limits)
    server.start()
    yield f"127.0.0.1:{port}", limits
    server.stop(grace=None)


def _items(n):
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 80, 160)).save(buf, "JPEG")
    return [{"content": buf.getvalue(), "uri": None, "features": (("LABEL_DETECTION", 5),)} for _ in range(n)]


def _caller(url, service_address):
    limiter = JobLimiter(JobLimit(service_address, "image-classifier", QUOTA))
    return VisionCaller(url, Backpressure(adaptive=False), timeout=60.0, limiter=limiter)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]    # nothing listens there once the socket is closed


def test_hits_are_the_calls_images__two_calls(endpoint, rls):
    address, limits = rls
    caller = _caller(endpoint[1], address)
    outcomes = [caller.annotate(_items(5)), caller.annotate(_items(7))]
    assert all(o.responses and len(o.responses) == n for o, n in zip(outcomes, (5, 7), strict=True))
    assert sum(limits.counts.values()) == 12          # both calls fit one window or not: 12 hits in all


def test_wait_is_part_of_the_throttled_time__calls_past_the_limit(endpoint, rls):
    caller = _caller(endpoint[1], rls[0])
    outcomes = [caller.annotate(_items(16)) for _ in range(3)]   # one a window: at least two of them wait
    assert all(o.responses for o in outcomes)
    assert sum(o.rate_limited_secs for o in outcomes) > 0
    assert all(o.rate_limited_secs <= o.throttled_secs for o in outcomes)


def test_call_not_sent_error_says_why__rate_limit_service_unreachable(endpoint, monkeypatch):
    # Beam's client tries 5 times, 10 s apart; only that wait is shortened here (the fault is real:
    # nothing listens on the port). tests/integration/test_vision_job_limit.py runs it at full length.
    monkeypatch.setattr(rate_limiter, "_RPC_RETRY_DELAY_SECONDS", 0.01)
    service, url = endpoint
    service.reset()
    address = f"127.0.0.1:{_closed_port()}"
    out = _caller(url, address).annotate(_items(3))
    assert out.responses is None and out.attempts == 0 and out.error_code == UNAVAILABLE
    assert address in out.error_message and "UNAVAILABLE" in out.error_message
    assert "--vision_rate_limit_service" in out.error_message and out.rate_limited_secs == 0
    assert service.stats()["log"] == []               # nothing went to Vision without the limit's leave


class _AskInTheBundle(beam.DoFn):
    """Asks the limit on the bundle thread, where Beam's metrics cells exist (the pipeline's calls run
    on a pool thread, where they do not): there the limiter's own signal would be recorded."""

    def __init__(self, address):
        self.address = address

    def setup(self):
        self.limiter = JobLimiter(JobLimit(self.address, "image-classifier", QUOTA))

    def process(self, n):
        Metrics.counter("test", "waited_msecs").inc(int(self.limiter.wait(n) * 1000))
        yield n


def test_limiters_own_throttling_signal_is_dropped__asked_inside_a_bundle(rls):
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    p | beam.Create([16, 16, 16]) | beam.ParDo(_AskInTheBundle(rls[0]))   # one a window: two of them wait
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(MetricsFilter())["counters"]}
    assert counters["waited_msecs"] > 0
    assert counters.get("cumulativeThrottlingSeconds", 0) == 0, \
        "Beam's client signalled its own wait too: job_limit.py reports it once, with the call's other waits"


@pytest.mark.parametrize("text,entries", [
    ("quota=vision-images", QUOTA),
    (" project=p1 , quota=vision-images ", (("project", "p1"), ("quota", "vision-images"))),
])
def test_descriptor_parsed__entries_in_order(text, entries):
    assert parse_descriptor(text) == entries


@pytest.mark.parametrize("text", ["", "quota", "quota=", "=x", "a=1,a=2", "a=1,,b=2", "a=b=c"])
def test_descriptor_refused__malformed(text):
    with pytest.raises(ValueError):
        parse_descriptor(text)
