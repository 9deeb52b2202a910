"""The job-wide limit on Vision calls: one count for every worker, kept by an Envoy Rate Limit Service.

Why: each worker process paces its own calls (backpressure.py), and independent
controllers sharing one project quota each have to meet a 429 of their own to
learn that the quota is there: with 4 workers on a short job, a share of about
12 % of calls answered 429 cannot be avoided that way (docs/vision-backend.md, Quota benchmark).
A limit that every worker asks before each call, counted in one place, keeps the
job under the quota before any worker meets a 429.

The client is Beam's `EnvoyRateLimiter` (the Envoy Rate Limit Service gRPC
protocol, `ShouldRateLimit`), used as Beam's `RemoteModelHandler` uses it:
`allow(hits_added=<the batch's size>)`, blocking until the service allows the
call. Hits are the call's images: for batched calls Vision's binding quota is
per feature in images per minute (e.g. LABEL_DETECTION 1,800 images/min).

Throttling time counts once. `EnvoyRateLimiter` reports each of its sleeps to
Beam's `cumulativeThrottlingSeconds`, rounded up to a whole second; but it is
asked on the DoFn's pool threads, where Beam has no metrics container and the
update is dropped. So `wait()` measures the time spent in `allow()` itself and
the caller reports it with the call's other waits (`vision_throttled_msecs`,
`cumulativeThrottlingSeconds`), and the limiter's own signal is switched off,
so the wait counts once whichever thread asks.

When the service cannot answer: Beam's client tries 5 times, 10 s apart, then
raises; `wait()` turns that (and any other failure of the client) into
`JobLimitUnavailable`, and the call's images become error rows with code
RATE_LIMIT_SERVICE_UNAVAILABLE: the job goes on and says why. The call is not
sent without the limit: whoever set it shares the quota with the rest of the
job, or with other jobs, and a job that quietly went past it would take their
share (Envoy's HTTP filter fails open by default; this client does not).
"""
from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass

from apache_beam.io.components import rate_limiter
from apache_beam.io.components.adaptive_throttler import ThrottlingSignaler
from apache_beam.io.components.rate_limiter import EnvoyRateLimiter

_LOG = logging.getLogger(__name__)

UNAVAILABLE = "RATE_LIMIT_SERVICE_UNAVAILABLE"   # the error rows' code
_ENTRY = re.compile(r"^([A-Za-z0-9_.-]+)=([^,=\s]+)$")


@dataclass(frozen=True)
class JobLimit:
    """Where the job-wide limit is kept, and which of the service's rules it is (plain values: pickled)."""
    service: str                               # HOST:PORT of the Envoy Rate Limit Service
    domain: str
    descriptor: tuple[tuple[str, str], ...]    # its entries, outermost first


def parse_descriptor(text: str) -> tuple[tuple[str, str], ...]:
    """`key=value[,key=value...]` -> the descriptor's entries; ValueError when malformed."""
    entries = []
    for part in text.split(","):
        m = _ENTRY.match(part.strip())
        if not m:
            raise ValueError(f"{part.strip()!r} is not key=value")
        entries.append((m.group(1), m.group(2)))
    keys = [k for k, _ in entries]
    if len(set(keys)) != len(keys):
        raise ValueError("a key appears twice")
    return tuple(entries)


class JobLimitUnavailable(Exception):
    """The rate limit service did not allow the call (unreachable, or an answer that is neither OK nor
    OVER_LIMIT). The message says which service and why, for the error rows."""
    code = UNAVAILABLE


class _Unsignalled(ThrottlingSignaler):
    """Takes the limiter's own throttling signal and drops it: `wait()`'s measure is the one reported."""

    def __init__(self):  # no counter of its own
        pass

    def signal_throttled(self, seconds: int) -> None:
        pass


class _DropWaitNotices(logging.Filter):
    """Beam's client logs a warning for every wait; a wait is the limit doing its job, and at a few a
    second per worker those lines would bury the rest. Its lines about failed tries stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("[EnvoyRateLimiter] Throttled for")


_BEAM_LOG = logging.getLogger(rate_limiter.__name__)
_DROP_WAIT_NOTICES = _DropWaitNotices()


class JobLimiter:
    """One per worker process (built on the worker, in DoFn setup): `wait(images) -> seconds waited`."""

    def __init__(self, limit: JobLimit, clock=time.monotonic):
        self.limit, self.clock = limit, clock
        _BEAM_LOG.addFilter(_DROP_WAIT_NOTICES)   # once: a logger holds a filter object at most once
        # Nothing is contacted here: the gRPC channel opens on the first allow().
        self.limiter = EnvoyRateLimiter(limit.service, limit.domain, [dict(limit.descriptor)],
                                        namespace="vision_job_limit")
        self.limiter.throttling_signaler = _Unsignalled()
        self._logged = threading.Event()

    def wait(self, images: int) -> float:
        """Block until the service allows a call of `images` images; the seconds spent asking and waiting."""
        t0 = self.clock()
        try:
            allowed = self.limiter.allow(hits_added=max(1, images))
        except Exception as e:  # noqa: BLE001 - grpc.RpcError after Beam's 5 tries, or a bad address: error rows
            raise self._unavailable(f"did not answer after Beam's 5 tries 10 s apart ({_describe(e)})") from e
        if not allowed:
            raise self._unavailable("answered neither OK nor OVER_LIMIT")
        return self.clock() - t0

    def _unavailable(self, why: str) -> JobLimitUnavailable:
        message = (f"the job-wide rate limit service at {self.limit.service} (--vision_rate_limit_service) {why}; "
                   "the call was not sent to Vision")
        if not self._logged.is_set():   # once per worker: Beam's client logs every try itself
            self._logged.set()
            _LOG.error("%s. Calls it cannot allow become error rows (code %s) until it answers again.",
                       message, UNAVAILABLE)
        return JobLimitUnavailable(message)


def _describe(exc: BaseException) -> str:
    """A grpc.RpcError's code and details (its str() is a multi-line debug dump), else the exception."""
    code, details = getattr(exc, "code", None), getattr(exc, "details", None)
    if callable(code) and callable(details):
        try:
            return f"{getattr(code(), 'name', code())}: {details()}"[:300]
        except Exception:  # noqa: BLE001 - an error object that cannot describe itself: fall back to its type
            pass
    return f"{type(exc).__name__}: {exc}"[:300]
