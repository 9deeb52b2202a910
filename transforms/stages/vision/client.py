"""One `images:annotate` call with retries, through google-cloud-vision.

The client speaks REST (`transport="rest"`) everywhere: the same path serves the
public endpoint, a regional one, and a local http endpoint (used with anonymous
credentials). The library's own retry is turned off so that every attempt goes
through this worker's `Backpressure` (pacing, Retry-After, adaptive throttling),
and the answer is checked to hold exactly one response per image before it is
trusted: responses are tied to images by position, nothing else.

Every second spent waiting for this call (pacing, the hold or Retry-After after a
429, the backoff after a 5xx) is added to `CallOutcome.throttled_secs`, which
the DoFn reports as Beam's `cumulativeThrottlingSeconds`: Beam's own throttler
counts only its pre-emptive waits, and Dataflow's autoscaler reads this counter.

With a job-wide limit (`--vision_rate_limit_service`, job_limit.py) every attempt,
once this worker's own pacing lets it go, also waits for the rate limit service to
allow its images; that wait is part of `throttled_secs` too (and of
`rate_limited_secs`). A service that cannot answer fails the call (error rows).
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from transforms.stages.vision.backpressure import (
    FATAL,
    OVERLOAD,
    Backpressure,
    SendGate,
    backoff_delay,
    classify,
    retry_after_seconds,
)
from transforms.stages.vision.deadline import AttemptDeadline, bound_attempts
from transforms.stages.vision.job_limit import JobLimiter, JobLimitUnavailable

if TYPE_CHECKING:
    from transforms.stages.vision.annotate import VisionOptions

MAX_ATTEMPTS = 6              # 5xx, dropped connections, deadlines: then the images become error rows
MAX_OVERLOAD_SECS = 900.0     # 429s are retried (paced) this long: throttling never drops an image early


@dataclass
class CallOutcome:
    """What one batch call came to: responses (REST JSON dicts) or the last error, plus its costs."""
    responses: list[dict] | None = None
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0
    overloaded: int = 0            # attempts answered 429
    transient_failures: int = 0    # attempts lost to 5xx, dropped connections, deadlines, bad answers
    throttled_secs: float = 0.0
    rate_limited_secs: float = 0.0  # the part of throttled_secs spent waiting for the job-wide limit
    codes: list[str] = field(default_factory=list)


def make_client(endpoint: str | None):
    """A REST client whose attempts AttemptDeadline can bound (deadline.py)."""
    from google.cloud import vision
    if not endpoint:
        client = vision.ImageAnnotatorClient(transport="rest")
    else:
        from google.api_core.client_options import ClientOptions
        options = ClientOptions(api_endpoint=endpoint.rstrip("/"))
        credentials = None
        if endpoint.startswith("http://"):
            from google.auth.credentials import AnonymousCredentials
            credentials = AnonymousCredentials()
        client = vision.ImageAnnotatorClient(transport="rest", client_options=options, credentials=credentials)
    bound_attempts(client)
    return client


def to_request(item: dict):
    """A request dict (`uri` or `content`, `features` [(name, max_results)]) -> AnnotateImageRequest."""
    from google.cloud import vision
    if item.get("content") is not None:
        image = vision.Image(content=item["content"])
    else:
        image = vision.Image(source=vision.ImageSource(image_uri=item["uri"]))
    return vision.AnnotateImageRequest(image=image, features=[
        vision.Feature(type_=getattr(vision.Feature.Type, name), max_results=n) for name, n in item["features"]])


def to_dict(response) -> dict:
    """AnnotateImageResponse -> the REST JSON shape (camelCase, enum names) the parser reads."""
    from google.protobuf.json_format import MessageToDict
    return MessageToDict(type(response).pb(response))


_HTTP_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 501: "UNIMPLEMENTED",
                502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def _error_name(exc: BaseException) -> str:
    """The google.rpc code name of a failed call, for the error row."""
    code = getattr(exc, "grpc_status_code", None)
    if code is not None:
        return code.name
    http_code = getattr(exc, "code", None)
    if isinstance(http_code, int) and http_code in _HTTP_STATUS:
        return _HTTP_STATUS[http_code]
    if type(exc).__name__ == "ParseError":
        return "BAD_RESPONSE"
    return {"ConnectionError": "CONNECTION_DROPPED", "ReadTimeout": "DEADLINE_EXCEEDED",
            "Timeout": "DEADLINE_EXCEEDED", "ConnectTimeout": "DEADLINE_EXCEEDED"}.get(
        type(exc).__name__, type(exc).__name__)


def _deadline_exceeded(secs: float) -> Exception:
    from google.api_core.exceptions import DeadlineExceeded
    return DeadlineExceeded(f"no whole answer within the call deadline of {secs:g} s")


class VisionCaller:
    """A client plus the process's Backpressure (and job-wide limit, if any): `annotate(items) -> CallOutcome`.
    `timeout` bounds one attempt, connection to last byte (--vision_call_deadline_secs)."""

    def __init__(self, endpoint: str | None, backpressure: Backpressure, timeout: float,
                 max_attempts: int = MAX_ATTEMPTS, max_overload_secs: float = MAX_OVERLOAD_SECS,
                 sleep=time.sleep, clock=time.monotonic, client=None, limiter: JobLimiter | None = None):
        self.client = client if client is not None else make_client(endpoint)
        self.bp, self.timeout, self.limiter = backpressure, timeout, limiter
        self.max_attempts, self.max_overload_secs = max_attempts, max_overload_secs
        self.sleep, self.clock = sleep, clock
        self.rng = random.Random()

    def annotate(self, items: list[dict], on_sent: Callable[[], None] | None = None) -> CallOutcome:
        """`on_sent` is called as each attempt is let go (SendGate's `leave`, which acts on the first only)."""
        out = CallOutcome()
        requests = [to_request(i) for i in items]
        started = self.clock()
        while True:
            out.throttled_secs += self.bp.acquire()
            if self.limiter is not None and not self._job_limit(self.limiter, out, len(requests)):
                return out
            if on_sent is not None:
                on_sent()
            out.attempts += 1
            sent = self.bp.clock()
            deadline = AttemptDeadline(self.timeout)
            try:
                with deadline:   # `timeout` alone bounds each socket read, not the attempt
                    answer = self.client.batch_annotate_images(requests=requests, retry=None, timeout=self.timeout)
                if len(answer.responses) != len(requests):
                    raise ValueError(f"the answer holds {len(answer.responses)} responses for "
                                     f"{len(requests)} images")
                out.responses = [to_dict(r) for r in answer.responses]
                self.bp.on_success(sent)
                return out
            except Exception as caught:  # noqa: BLE001 - classified below; unknown kinds are fatal
                e = _deadline_exceeded(self.timeout) if deadline.expired else caught
                kind = classify(e)
                out.codes.append(_error_name(e))
                out.error_code, out.error_message = _error_name(e), f"{type(e).__name__}: {e}"[:500]
                if kind == FATAL:
                    return out
                if kind == OVERLOAD:
                    out.overloaded += 1
                    hint = retry_after_seconds(e)
                    self.bp.on_overload(hint, sent)
                    if self.clock() - started > self.max_overload_secs:
                        return out
                    # The wait after a 429 is the Backpressure's hold (the hint, or its own hold
                    # when pacing is on), spent in acquire(); with pacing off, a blind backoff.
                    delay = 0.0 if hint or self.bp.adaptive else backoff_delay(min(out.overloaded, 6), self.rng)
                else:
                    out.transient_failures += 1
                    self.bp.on_failure()
                    if out.transient_failures >= self.max_attempts:
                        return out
                    delay = max(retry_after_seconds(e) or 0.0, backoff_delay(out.transient_failures, self.rng))
                if delay:
                    self.sleep(delay)
                    out.throttled_secs += delay

    @staticmethod
    def _job_limit(limiter: JobLimiter, out: CallOutcome, images: int) -> bool:
        """Wait until the job-wide limit allows `images` more; False, with the error on `out`, when its
        service cannot answer (the time spent failing is not throttling: it is not counted)."""
        try:
            waited = limiter.wait(images)
        except JobLimitUnavailable as e:
            out.codes.append(e.code)
            out.error_code, out.error_message = e.code, str(e)
            return False
        out.throttled_secs += waited
        out.rate_limited_secs += waited
        return True


class ProcessVision:
    """What every DoFn instance of a worker process shares for one job: one client and pacing state
    (VisionCaller with its Backpressure), one pool of --max_concurrent_requests calls, one gate on
    batches taken, and one client of the job-wide limit. Held per process through Beam's `Shared`
    (which keeps it by weak reference, so it is a class instance; each DoFn keeps a strong one)."""

    def __init__(self, options: VisionOptions, adaptive: bool):
        from concurrent.futures import ThreadPoolExecutor
        limiter = JobLimiter(options.job_limit) if options.job_limit else None
        pacing = Backpressure(options.requests_per_minute, adaptive, job_limited=limiter is not None)
        self.caller = VisionCaller(options.endpoint, pacing, timeout=options.call_deadline_secs, limiter=limiter)
        self.pool = ThreadPoolExecutor(options.max_concurrent_requests, thread_name_prefix="vision-call")
        self.gate = SendGate()
