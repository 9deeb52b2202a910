"""How a worker slows down when the Vision API pushes back, and speeds up again.

Three mechanisms, shared by every call a worker process makes:

* Pacing (transforms/stages/vision/rate_control.py, where the rules and their reasons are):
  slow start, a decrease to what the worker was given, a step per paced call,
  jittered holds, a fast climb back after a spell of 429s, a window's cycle rate.
* Client-side adaptive throttling (the SRE book's formula, as in Beam's
  `AdaptiveThrottler`, over Beam's `MovingSum`): when most recent calls fail,
  calls are delayed before they are sent, so a failing backend is not hammered.
  Unlike Beam's throttler, a call is counted when its answer arrives, not when it
  is sent, so the first burst of calls in flight is not throttled.
* An optional hard cap (`--vision_requests_per_minute`).

Why not Beam's own throttlers: docs/vision-pacing.md.

Every wait is returned to the caller, which reports it as Beam's
`cumulativeThrottlingSeconds` counter (Dataflow's autoscaler reads it).
"""
from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable, Iterator

from apache_beam.io.components.util import MovingSum

from transforms.stages.vision.rate_control import RateControl

OVERLOAD_RATIO = 2.0      # the SRE formula's K: tolerate up to K sent per accepted call
THROTTLE_WINDOW_MS = 10_000


class Backpressure:
    """Per-process pacing (`self.pacing`) and throttling; thread-safe. `clock`/`sleep` are
    injectable for tests."""

    def __init__(self, requests_per_minute: int = 0, adaptive: bool = True,
                 clock=time.monotonic, sleep=time.sleep, seed: int | None = None, job_limited: bool = False):
        self.adaptive = adaptive
        self.clock, self.sleep = clock, sleep
        self.rng = random.Random(seed)
        cap = requests_per_minute / 60.0 if requests_per_minute else None
        self.pacing = RateControl(cap, adaptive, job_limited, clock, self.rng)
        self.lock = threading.Lock()
        self.all_calls = MovingSum(THROTTLE_WINDOW_MS, 1_000)
        self.ok_calls = MovingSum(THROTTLE_WINDOW_MS, 1_000)

    def rejection_probability(self) -> float:
        """max(0, (requests - K * accepts) / (requests + 1)) over the last 10 s of answers."""
        now = self.clock() * 1000
        with self.lock:
            if not self.all_calls.has_data(now):
                return 0.0
            total, ok = self.all_calls.sum(now), self.ok_calls.sum(now)
        return max(0.0, (total - OVERLOAD_RATIO * ok) / (total + 1))

    # -- before a call -------------------------------------------------------------
    def acquire(self) -> float:
        """Wait until a call may be sent; returns the seconds waited."""
        waited = 0.0
        for secs in self.waits():
            self.sleep(secs)
            waited += secs
        return waited

    def waits(self) -> Iterator[float]:
        """The sleeps before one call, as a generator (the simulated-clock tests drive it directly).

        Nothing is booked ahead: a waiting call re-reads the rate when it wakes, so a decrease
        holds back the calls already waiting and an increase lets them go sooner."""
        waited = admitted = False
        while True:
            with self.lock:
                now = self.clock()
                slot = self.pacing.next_slot()
                interval = 1.0 / self.pacing.rate if self.pacing.rate else 0.0
                if slot <= now and admitted:
                    self.pacing.claim(now, waited)
                    return
            if slot > now:
                waited = True
                yield slot - now
            elif not self.adaptive or self.rng.random() >= self.rejection_probability():
                admitted = True
            else:   # throttled by the failure ratio: wait one pacing interval and ask again
                yield interval or 0.25

    def on_success(self, sent_at: float | None = None) -> None:
        now = self.clock()
        with self.lock:
            self.all_calls.add(now * 1000, 1)
            self.ok_calls.add(now * 1000, 1)
            self.pacing.answered(now, sent_at)

    def on_overload(self, retry_after: float | None, sent_at: float | None = None) -> None:
        """A 429 (rules: RateControl.overloaded)."""
        now = self.clock()
        with self.lock:
            self.all_calls.add(now * 1000, 1)
            self.pacing.overloaded(now, now if sent_at is None else sent_at, retry_after)

    def on_failure(self) -> None:
        """A 5xx, dropped connection or deadline: no pacing change; the throttler counts a failure."""
        with self.lock:
            self.all_calls.add(self.clock() * 1000, 1)


class SendGate:
    """How many batches a worker process takes on before its pacer lets their first call go.

    A batch handed to the call pool is bound to this worker: no other worker can take it. A
    worker paced at a small share of the quota that holds many batches finishes them long
    after the others are done, and the job's tail runs at one worker's share of the quota
    (docs/vision-pacing.md has the figures). So a bundle thread hands over a batch only
    while fewer than `limit` handed-over batches still wait for their first call; the rest of
    its bundle stays unprocessed, where the runner can give it to another worker (Dataflow's
    dynamic work rebalancing). Calls already sent, and their retries, do not count: only the
    wait for a first slot does."""

    def __init__(self, limit: int = 1):
        self.limit, self.waiting = limit, 0
        self.cond = threading.Condition()

    def enter(self) -> Callable[[], None]:
        """Block until there is room; returns `leave`, to call when the batch's first call is let
        go or the batch ends (whichever comes first: a second call does nothing)."""
        with self.cond:
            while self.waiting >= self.limit:
                self.cond.wait(timeout=1.0)
            self.waiting += 1
        done = threading.Event()

        def leave() -> None:
            if done.is_set():
                return
            done.set()
            with self.cond:
                self.waiting -= 1
                self.cond.notify()
        return leave


def backoff_delay(attempt: int, rng: random.Random, base: float = 0.5, cap: float = 30.0) -> float:
    """Exponential backoff with jitter: half of base*2^(attempt-1) fixed, half random."""
    d = min(cap, base * (2 ** max(0, attempt - 1)))
    return d / 2 + rng.uniform(0, d / 2)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def retry_after_seconds(exc: BaseException) -> float | None:
    """The server's hint: RetryInfo.retryDelay in the error body, else the Retry-After header (seconds)."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    try:
        details = (response.json().get("error") or {}).get("details") or []
        for d in details:
            if str(d.get("@type", "")).endswith("google.rpc.RetryInfo"):
                m = _DURATION.match(str(d.get("retryDelay", "")))
                if m:
                    return float(m.group(1))
    except Exception:  # noqa: BLE001 - a body that is not JSON has no hint
        pass
    header = (getattr(response, "headers", None) or {}).get("Retry-After")
    if header and header.strip().replace(".", "", 1).isdigit():
        return float(header)
    return None


OVERLOAD, TRANSIENT, FATAL = "overload", "transient", "fatal"


def classify(exc: BaseException) -> str:
    """overload (429), transient (5xx, dropped connection, deadline, unreadable answer) or fatal."""
    import requests
    from google.api_core import exceptions as gexc
    if isinstance(exc, (gexc.TooManyRequests, gexc.ResourceExhausted)):
        return OVERLOAD
    if isinstance(exc, (gexc.ServerError, gexc.DeadlineExceeded, gexc.ServiceUnavailable, gexc.Aborted,
                        gexc.RetryError)):
        return TRANSIENT
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                        requests.exceptions.ChunkedEncodingError, ConnectionError, TimeoutError)):
        return TRANSIENT
    if isinstance(exc, gexc.GoogleAPICallError):
        return FATAL   # 400, 401, 403, 404: the same call would fail again
    from google.protobuf.json_format import ParseError
    if isinstance(exc, (ValueError, KeyError, ParseError)):
        return TRANSIENT   # an answer that is not valid JSON, or the wrong number of answers
    return FATAL
