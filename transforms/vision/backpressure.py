"""How a worker slows down when the Vision API pushes back, and speeds up again.

Three mechanisms, shared by every call a worker process makes:

* Pacing, a rate controller measured against quotas of several shapes (token
  bucket, per-minute window, with and without Retry-After, 0.05-2 s latency,
  several workers on one quota; tests/unit/test_vision_quota_control.py):

  - *Slow start*: calls are paced from START_RATE, doubling every second
    until the first 429, so a job's first burst costs a few 429s, not one per
    call in flight.
  - *Decrease*: a 429 sets the rate to DECREASE x the rate the API actually
    accepted over the last RATE_WINDOW seconds (long enough to hold more than
    a handful of calls), and the ceiling to that accepted rate. Only a 429 for
    a call sent *after* the previous decrease counts: the calls already in
    flight answer the same congestion event. Calls waiting for a slot booked at
    the old rate are re-booked.
  - *Recovery*: the rate climbs back to the ceiling exponentially (time
    constant RECOVER_SECS), then probes beyond it by PROBE_PER_SEC, so the
    quota is regained within about two seconds, and a quota that grows (a
    worker leaving) is found.
  - *Hold*: 429s in a row with no success in between mean the quota is empty
    (a per-minute window): every call is held for 0.25 s, 0.5 s, ... up to
    HOLD_MAX_SECS; a Retry-After (or the RetryInfo in the error body) holds
    them until that moment instead.
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
import math
import random
import re
import threading
import time
from collections.abc import Iterator

from apache_beam.io.components.util import MovingSum

START_RATE = 4.0          # calls/s before the first 429 ...
SLOW_START = 2.0          # ... growing x2 per second until then
MIN_RATE = 0.2            # calls/s: never pace slower than one call in 5 s
DECREASE = 0.9            # after a 429: 90 % of the accepted rate
RATE_WINDOW = 5.0         # "the accepted rate": over the last RATE_SAMPLE accepted calls, 1 to 5 s
RATE_SAMPLE = 20
RECOVER_SECS = 0.7        # time constant of the climb back to the ceiling
PROBE_PER_SEC = 0.08      # above the ceiling: +8 % per second
HOLD_FIRST_SECS = 0.25    # 429s in a row: hold every call 0.25 s, 0.5 s, 1 s, ...
HOLD_MAX_SECS = 4.0
DEMAND_HEADROOM = 3.0     # never pace above 3x what was recently accepted: no credit for idle time
OVERLOAD_RATIO = 2.0      # the SRE formula's K: tolerate up to K sent per accepted call
THROTTLE_WINDOW_MS = 10_000


class Backpressure:
    """Per-process pacing and throttling; thread-safe. `clock`/`sleep` are injectable for tests."""

    def __init__(self, requests_per_minute: int = 0, adaptive: bool = True,
                 clock=time.monotonic, sleep=time.sleep, seed: int | None = None):
        self.cap = requests_per_minute / 60.0 if requests_per_minute else None
        self.adaptive = adaptive
        self.clock, self.sleep = clock, sleep
        now = clock()
        # calls/s allowed now; None = unpaced (adaptive off and no cap)
        self.rate: float | None = min(START_RATE, self.cap or START_RATE) if adaptive else self.cap
        self.ceiling: float | None = None       # the accepted rate at the last 429; None = slow start
        self.next_slot = 0.0                    # earliest time of the next call
        self.blocked_until = 0.0                # set by Retry-After and by holds
        self.epoch = 0                          # bumped on every decrease: booked slots are re-booked
        self.last_grow = now
        self.last_decrease = -1e9
        self.streak = 0                         # 429s since the last success
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
        for secs in self.waits():
            self.sleep(secs)
            waited += secs
        return waited

    def waits(self) -> Iterator[float]:
        """The sleeps before one call, as a generator (the simulated-clock tests drive it directly)."""
        while True:
            with self.lock:
                now = self.clock()
                slot = max(now, self.next_slot, self.blocked_until)
                if self.rate:
                    self.next_slot = slot + 1.0 / self.rate
                interval = 1.0 / self.rate if self.rate else 0.25
                epoch = self.epoch
            if slot > now:
                yield slot - now
                with self.lock:
                    rebook = self.epoch != epoch    # a 429 came meanwhile: book again at the new rate
                if rebook:
                    continue
            if not self.adaptive or self.rng.random() >= self.rejection_probability():
                return
            # Throttled by the failure ratio: wait one pacing interval and ask again.
            yield interval

    # -- after a call --------------------------------------------------------------
    def _accepted_rate(self, now: float, window: float = RATE_WINDOW) -> float:
        """Accepted calls per second over the span of the last RATE_SAMPLE accepted calls, at least
        1 s and at most `window` (and no longer than since the first acceptance): enough calls to be
        meaningful at 5 calls/s, recent enough not to average a ramp-up in at 30."""
        if self.first_accept is None:
            return 0.0
        recent = self.accepted[-RATE_SAMPLE] if len(self.accepted) >= RATE_SAMPLE else self.first_accept
        span = max(1.0, min(window, now - recent, now - self.first_accept))
        return sum(1 for t in self.accepted if t >= now - span) / span

    def on_success(self, sent_at: float | None = None) -> None:  # noqa: ARG002 - symmetric with on_overload
        now = self.clock()
        with self.lock:
            self.all_calls.add(now * 1000, 1)
            self.ok_calls.add(now * 1000, 1)
            self.accepted.append(now)
            self.first_accept = self.first_accept if self.first_accept is not None else now
            while self.accepted and self.accepted[0] < now - RATE_WINDOW:
                self.accepted.popleft()
            self.streak = 0
            dt, self.last_grow = max(0.0, now - self.last_grow), now
            if self.rate is None or not self.adaptive:
                return
            self.rate = self._grown(self.rate, dt, now)

    def _grown(self, rate: float, dt: float, now: float) -> float:
        if self.ceiling is None:
            rate *= SLOW_START ** dt
        elif rate < self.ceiling:   # approach a point just above the ceiling, so the probing takes over
            target = self.ceiling * (1.0 + PROBE_PER_SEC)
            rate = min(self.ceiling, target - (target - rate) * math.exp(-dt / RECOVER_SECS))
        else:
            rate *= (1.0 + PROBE_PER_SEC) ** dt
        rate = min(rate, max(START_RATE, DEMAND_HEADROOM * self._accepted_rate(now, 2.0)))
        return min(rate, self.cap) if self.cap else rate

    def on_overload(self, retry_after: float | None, sent_at: float | None = None) -> None:
        """A 429: hold, and slow down once per congestion event (calls sent before the last decrease
        were already in flight: their 429s are the same event)."""
        now = self.clock()
        sent_at = now if sent_at is None else sent_at
        with self.lock:
            self.all_calls.add(now * 1000, 1)
            if retry_after:
                self.blocked_until = max(self.blocked_until, now + retry_after)
            if not self.adaptive or sent_at < self.last_decrease:
                return
            self.streak += 1
            if not retry_after:
                hold = min(HOLD_MAX_SECS, HOLD_FIRST_SECS * 2 ** (self.streak - 1))
                self.blocked_until = max(self.blocked_until, now + hold * self.rng.uniform(0.9, 1.1))
            self.last_decrease, self.last_grow = now, now
            self.epoch += 1
            self.next_slot = now
            measured = self._accepted_rate(now)
            if self.streak > 1 and self.ceiling:
                return   # the quota is empty (a window): hold, keep the rate learnt while it was open
            base = measured if measured > 0 else (self.rate or START_RATE) * 0.5
            self.ceiling = base
            self.rate = max(MIN_RATE, DECREASE * min(base, self.rate or base))
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
