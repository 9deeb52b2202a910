"""How a worker slows down when the Vision API pushes back, and speeds up again.

Three mechanisms, shared by every call a worker process makes:

* Pacing, a rate controller measured on a simulated clock against quotas of
  several shapes (token bucket, per-minute window, with and without
  Retry-After, 0.05-2 s latency, several workers on one quota;
  tests/unit/transforms/stages/vision/test_vision_quota_control.py):

  - *Slow start*: calls are paced from START_RATE, x4 per second until the
    first 429, so a job's first burst costs a few 429s, not one per call in
    flight. The rate grows as calls are sent (a 429 comes back fast even when
    answers take 2 s), and only while the pacer, not the job, holds them.
  - *Decrease*: a 429 sets the ceiling to the rate the API accepted (calls sent
    minus calls refused, over the last RATE_SAMPLE calls: 1-5 s, not the first
    few calls) and the rate to DECREASE x that. Only a 429 for a call sent
    *after* the previous decrease counts: calls already in flight answer the
    same congestion event. Nothing is booked ahead, so waiting calls see the
    new rate at once.
  - *Recovery*: the rate climbs back to the ceiling with a time constant of
    RECOVER_SECS, stays there PLATEAU_SECS, then probes beyond it (+6 %/s,
    faster the longer no 429 comes), so the quota is regained within seconds
    and a quota that grows (a worker leaving) is found.
  - *Hold*: after a 429 without a hint every call waits HOLD_FIRST_SECS,
    doubling for 429s in a row (an empty per-minute window), up to
    HOLD_MAX_SECS; a Retry-After (or the RetryInfo in the error body) holds
    them until that moment instead. When the quota opens again after such an
    empty spell, what it accepted over the whole open-then-empty cycle is its
    long-run rate: the worker paces there instead of at the window's burst.
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
SLOW_START = 4.0          # ... growing x4 per second until then
MIN_RATE = 0.2            # calls/s: never pace slower than one call in 5 s
DECREASE = 0.85           # after a 429: 85 % of the accepted rate
RATE_WINDOW = 10.0        # "the accepted rate": over the last 10 s of calls sent ...
RATE_SAMPLE = 40          # ... at the end of slow start, over the last 40 (at least 1 s)
RECOVER_SECS = 0.7        # time constant of the climb back to the ceiling
PLATEAU_SECS = 2.0        # then this long at the ceiling ...
PROBE_PER_SEC = 0.06      # ... then +6 % per second, doubling every 4 s without a 429, at most x4
PROBE_DOUBLING_SECS = 4.0
PROBE_MAX_DOUBLINGS = 2.0
FLOOR_SHARE = 0.7         # a 429 never sets the ceiling below 70 % of the pace
BEST_MEMORY_SECS = 30.0   # after a plateau below the best ceiling of the last 30 s: straight back to it
HOLD_FIRST_SECS = 0.5     # after a 429 with no hint: hold every call 0.5 s, 1 s, 2 s, 4 s (in a row)
HOLD_MAX_SECS = 4.0
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
        self.last_slot = -1e9                   # when the last call was let go
        self.blocked_until = 0.0                # set by Retry-After and by holds
        self.last_grow = now
        self.last_decrease = -1e9
        self.streak = 0                         # 429s since the last success
        self.open_since, self.open_count = now, 0   # the current open-then-empty quota cycle
        self.probe_since: float | None = None   # when the rate last reached the ceiling
        self.best, self.best_at = 0.0, -1e9     # the highest ceiling of the last BEST_MEMORY_SECS
        self.sent: collections.deque[float] = collections.deque()      # when calls were let go ...
        self.refused: collections.deque[float] = collections.deque()   # ... and those answered 429
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
        """The sleeps before one call, as a generator (the simulated-clock tests drive it directly).

        Nothing is booked ahead: a waiting call re-reads the rate when it wakes, so a decrease
        holds back the calls already waiting and an increase lets them go sooner."""
        waited = admitted = False
        while True:
            with self.lock:
                now = self.clock()
                interval = 1.0 / self.rate if self.rate else 0.0
                slot = max(self.last_slot + interval, self.blocked_until)
                if slot <= now and admitted:
                    # Claim the slot: a wake-up up to half an interval late keeps the beat;
                    # later (the job sent nothing meanwhile) the beat starts again from now.
                    late = now - (self.last_slot + interval)
                    self.last_slot = self.last_slot + interval if late <= interval / 2 else now
                    self._grow(now, paced=waited)
                    self._remember(self.sent, now, now)
                    return
            if slot > now:
                waited = True
                yield slot - now
            elif not self.adaptive or self.rng.random() >= self.rejection_probability():
                admitted = True
            else:   # throttled by the failure ratio: wait one pacing interval and ask again
                yield interval or 0.25

    # -- after a call --------------------------------------------------------------
    def _accepted_rate(self, now: float, recent_only: bool = False) -> float:
        """Calls per second the API accepted: calls sent minus those refused, over the last
        RATE_WINDOW s (or since the first call, at least 1 s) -- long enough to span a window
        quota's burst and what follows it. `recent_only` (the end of slow start, when the rate
        has been climbing): over the last RATE_SAMPLE calls instead. Counting by send time keeps
        the figure right at 2 s of latency, when no answer is back yet."""
        if not self.sent:
            return 0.0
        span = min(RATE_WINDOW, max(0.25, now - self.sent[0]))
        if recent_only and len(self.sent) >= RATE_SAMPLE:
            span = min(span, max(1.0, now - self.sent[-RATE_SAMPLE]))
        since = now - span
        return max(0, sum(1 for t in self.sent if t >= since) - sum(1 for t in self.refused if t >= since)) / span

    def _remember(self, times: collections.deque, t: float, now: float) -> None:
        times.append(t)
        while times and times[0] < now - RATE_WINDOW:
            times.popleft()

    def on_success(self, sent_at: float | None = None) -> None:  # noqa: ARG002 - symmetric with on_overload
        now = self.clock()
        with self.lock:
            self.all_calls.add(now * 1000, 1)
            self.ok_calls.add(now * 1000, 1)
            if self.streak >= 2 and self.adaptive and self.open_count >= RATE_SAMPLE // 2:
                # The quota was empty until now (a window turned): what it gave over the whole
                # open-then-empty cycle is its long-run rate; pace there, not at the burst's rate.
                self.ceiling = max(MIN_RATE, self.open_count / (now - self.open_since))
                self.rate = min(self.ceiling, self.cap) if self.cap else self.ceiling
                self.open_since, self.open_count, self.probe_since = now, 0, now
            self.open_count += 1
            self.streak = 0

    def _grow(self, now: float, paced: bool) -> None:
        """Speed up as calls are let go, while no 429 is outstanding and the pacer is what holds
        them (a job that sends less than the rate earns no credit). Growing when a call is sent,
        not when it is answered, keeps slow start quick at 2 s of latency; a 429 comes back fast."""
        dt, self.last_grow = max(0.0, now - self.last_grow), now
        if self.rate is None or not self.adaptive or not paced or self.streak:
            return
        self.rate = self._grown(self.rate, min(dt, 1.0), now)

    def _grown(self, rate: float, dt: float, now: float) -> float:
        if self.ceiling is None:
            rate *= SLOW_START ** dt
        elif rate < self.ceiling:   # approach a point just above the ceiling, so the probing takes over
            target = self.ceiling * (1.0 + PROBE_PER_SEC)
            rate = min(self.ceiling, target - (target - rate) * math.exp(-dt / RECOVER_SECS))
        else:   # at the ceiling: stay PLATEAU_SECS, then probe at +PROBE_PER_SEC, doubling every
            # PROBE_DOUBLING_SECS without a 429 (a quota that grew is found in seconds)
            if self.probe_since is None:
                self.probe_since = now
            probing = now - self.probe_since - PLATEAU_SECS
            best = self.best if now - self.best_at < BEST_MEMORY_SECS else 0.0
            if probing > 0 and rate < best:   # the pressure ended: back to the last good rate, fast
                rate = min(best, best * 1.05 - (best * 1.05 - rate) * math.exp(-dt / RECOVER_SECS))
            elif probing > 0:
                growth = PROBE_PER_SEC * 2 ** min(PROBE_MAX_DOUBLINGS, probing / PROBE_DOUBLING_SECS)
                rate *= (1.0 + growth) ** dt
        return min(rate, self.cap) if self.cap else rate

    def on_overload(self, retry_after: float | None, sent_at: float | None = None) -> None:
        """A 429: hold, and slow down once per congestion event (calls sent before the last decrease
        were already in flight: their 429s are the same event)."""
        now = self.clock()
        sent_at = now if sent_at is None else sent_at
        with self.lock:
            self.all_calls.add(now * 1000, 1)
            self._remember(self.refused, sent_at, now)
            if retry_after:
                self.blocked_until = max(self.blocked_until, now + retry_after)
            if not self.adaptive or sent_at < self.last_decrease:
                return
            self.streak += 1
            # The hold applies with a hint too: a token bucket's hint is one token's wait (0.2 s at
            # 5/s), shorter than it takes the calls already let go to stop meeting 429s.
            hold = min(HOLD_MAX_SECS, HOLD_FIRST_SECS * 2 ** (self.streak - 1))
            self.blocked_until = max(self.blocked_until, now + hold * self.rng.uniform(0.9, 1.1))
            self.last_decrease, self.last_grow, self.probe_since = now, now, None
            measured = self._accepted_rate(now, recent_only=self.ceiling is None)
            if self.streak > 1 and self.ceiling:
                return   # the quota is empty (a window): hold, keep the rate learnt while it was open
            # A worker that was held or idle for part of the window accepted less than the quota
            # would give: one 429 never takes the ceiling below 70 % of the pace (no ratchet to the floor).
            base = max(measured, FLOOR_SHARE * (self.rate or START_RATE))
            slow_start, self.ceiling = self.ceiling is None, base
            # The rate at the end of slow start includes the quota's burst: not a "good rate".
            if not slow_start and (base >= self.best or now - self.best_at > BEST_MEMORY_SECS):
                self.best, self.best_at = base, now
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
