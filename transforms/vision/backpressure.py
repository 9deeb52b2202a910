"""How a worker slows down when the Vision API pushes back, and speeds up again.

Three mechanisms, shared by every call a worker process makes:

* Pacing (AIMD, as TCP does): after a 429 the allowed call rate drops to 90 % of
  the rate that was recently *accepted*, and grows again by 3.5 % per
  second while calls succeed. A worker therefore settles just under its quota
  instead of alternating between bursts and 429s; a `Retry-After` (or the
  RetryInfo in the error body) holds every call back until that moment.
* Client-side adaptive throttling (the SRE book's formula, as in Beam's
  `AdaptiveThrottler`, over Beam's `MovingSum`): when most recent calls fail,
  calls are delayed before they are sent, so a failing backend is not hammered.
  Unlike Beam's throttler, a call is counted when its answer arrives, not when it
  is sent: with many calls in flight at start-up, Beam's version throttles the
  first burst (no successes counted yet) and, asked again every wait, keeps
  raising its own rejection rate.
* An optional hard cap (`--vision_requests_per_minute`).

Beam's own `ReactiveThrottler` also sleeps a fixed 5 s whenever it decides to
throttle, and `RemoteModelHandler`'s retry decorator ignores Retry-After; both
cost quota use (bench/bench_vision_quota.py measures it).

Every wait is returned to the caller, which reports it as Beam's
`cumulativeThrottlingSeconds` counter (Dataflow's autoscaler reads it).
"""
from __future__ import annotations

import collections
import random
import re
import threading
import time

from apache_beam.io.components.util import MovingSum

MIN_RATE = 0.2            # calls/s: never pace slower than one call in 5 s
DECREASE = 0.9            # after a 429: 90 % of the accepted rate
INCREASE_PER_SEC = 0.035  # while calls succeed: +3.5 % per second
RATE_WINDOW = 2.0         # seconds of accepted calls that define "the accepted rate"
OVERLOAD_RATIO = 2.0      # the SRE formula's K: tolerate up to K sent per accepted call
THROTTLE_WINDOW_MS = 10_000


class Backpressure:
    """Per-process pacing and throttling; thread-safe. `clock`/`sleep` are injectable for tests."""

    def __init__(self, requests_per_minute: int = 0, adaptive: bool = True,
                 clock=time.monotonic, sleep=time.sleep, seed: int | None = None):
        self.cap = requests_per_minute / 60.0 if requests_per_minute else None
        self.adaptive = adaptive
        self.clock, self.sleep = clock, sleep
        self.rate: float | None = self.cap      # calls/s allowed now; None = unpaced
        self.next_slot = 0.0                    # earliest time of the next call
        self.blocked_until = 0.0                # set by Retry-After
        self.last_grow = clock()
        self.last_decrease = -1e9
        self.accepted: collections.deque[float] = collections.deque()
        self.first_accept: float | None = None
        self.lock = threading.Lock()
        self.all_calls = MovingSum(THROTTLE_WINDOW_MS, 1_000)
        self.ok_calls = MovingSum(THROTTLE_WINDOW_MS, 1_000)
        self.rng = random.Random(seed)

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
        while True:
            with self.lock:
                now = self.clock()
                slot = max(now, self.next_slot, self.blocked_until)
                if self.rate:
                    self.next_slot = slot + 1.0 / self.rate
                interval = 1.0 / self.rate if self.rate else 0.25
            if slot > now:
                self.sleep(slot - now)
                waited += slot - now
            if not self.adaptive or self.rng.random() >= self.rejection_probability():
                return waited
            # Throttled by the failure ratio: wait one pacing interval and ask again.
            self.sleep(interval)
            waited += interval

    # -- after a call --------------------------------------------------------------
    def on_success(self) -> None:
        now = self.clock()
        with self.lock:
            self.all_calls.add(now * 1000, 1)
            self.ok_calls.add(now * 1000, 1)
            self.accepted.append(now)
            self.first_accept = self.first_accept if self.first_accept is not None else now
            while self.accepted and self.accepted[0] < now - RATE_WINDOW:
                self.accepted.popleft()
            if self.rate is not None and self.adaptive:
                self.rate *= (1.0 + INCREASE_PER_SEC) ** max(0.0, now - self.last_grow)
                if self.cap:
                    self.rate = min(self.rate, self.cap)
            self.last_grow = now

    def on_overload(self, retry_after: float | None) -> None:
        """A 429: slow down (at most once per second: one congestion event, one decrease)."""
        now = self.clock()
        with self.lock:
            self.all_calls.add(now * 1000, 1)
            if retry_after:
                self.blocked_until = max(self.blocked_until, now + retry_after)
            if not self.adaptive or now - self.last_decrease < 1.0:
                return
            self.last_decrease = now
            self.last_grow = now
            recent = [t for t in self.accepted if t >= now - RATE_WINDOW]
            span = now - self.first_accept if self.first_accept is not None else 0.0
            # The accepted rate: measured over RATE_WINDOW once there is that much history;
            # before, what was accepted in the first second, or the server's hint (a token
            # bucket's Retry-After is one call's share of the quota).
            measured = len(recent) / max(1.0, min(RATE_WINDOW, span)) if recent else 0.0
            if span < RATE_WINDOW and retry_after:
                measured = min(measured, 1.0 / retry_after) if measured else 1.0 / retry_after
            if measured > 0:
                base = min(self.rate, measured) if self.rate else measured
            else:
                base = (self.rate or 2.0) * 0.5
            self.rate = max(MIN_RATE, DECREASE * base)
            if self.cap:
                self.rate = min(self.rate, self.cap)

    def on_failure(self) -> None:
        """A 5xx, dropped connection or deadline: no pacing change; the throttler counts a failure."""
        with self.lock:
            self.all_calls.add(self.clock() * 1000, 1)


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
