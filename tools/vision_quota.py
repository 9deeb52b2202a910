"""Request quotas of the shapes the real Vision API (and its neighbours) enforce.

The local endpoint uses them as fault switches, and the controller's unit tests
run them on a simulated clock (`clock` is injectable), so one implementation is
both what the bench measures against and what the tests simulate:

* `TokenBucket(rate, burst)`: tokens refill continuously; a small burst is what
  most front ends allow, so a client that sends faster than `rate` is refused
  within a fraction of a second.
* `WindowQuota(calls, window_secs)`: "1,800 requests per minute" style; all of
  a window's tokens are available the moment it opens, then every call is
  refused until the window turns. Windows count from the quota's creation.

Both answer `take() -> 0.0` (accepted) or the seconds until a call could be
accepted; `retry_after` says whether the server passes that hint on (the real
API does not always).
"""
from __future__ import annotations

import math
import threading
import time


class TokenBucket:
    """`rate` calls per second, at most `burst` at once (default: one second's worth)."""

    def __init__(self, rate: float, burst: float = 0.0, retry_after: bool = True, clock=time.monotonic):
        if rate <= 0:
            raise ValueError("a token bucket needs a rate above 0")
        self.rate, self.capacity = rate, max(1.0, burst or rate)
        self.retry_after, self.clock = retry_after, clock
        self.tokens, self.updated = self.capacity, clock()
        self.lock = threading.Lock()

    @property
    def long_run_rate(self) -> float:
        return self.rate

    def take(self) -> float:
        """0 when the call may go ahead, else the seconds until it could."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0.0
            return (1.0 - self.tokens) / self.rate


class WindowQuota:
    """`calls` per window of `window_secs`, all available when the window opens."""

    def __init__(self, calls: int, window_secs: float = 60.0, retry_after: bool = True, clock=time.monotonic):
        if calls <= 0 or window_secs <= 0:
            raise ValueError("a window quota needs calls and a window length above 0")
        self.calls, self.window = int(calls), float(window_secs)
        self.retry_after, self.clock = retry_after, clock
        self.start = clock()
        self.current, self.used = 0, 0
        self.lock = threading.Lock()

    @property
    def long_run_rate(self) -> float:
        return self.calls / self.window

    def take(self) -> float:
        with self.lock:
            elapsed = self.clock() - self.start
            index = math.floor(elapsed / self.window)
            if index != self.current:
                self.current, self.used = index, 0
            if self.used < self.calls:
                self.used += 1
                return 0.0
            return max(1e-3, (index + 1) * self.window - elapsed)


def make_quota(faults: dict, clock=time.monotonic) -> TokenBucket | WindowQuota | None:
    """The quota the endpoint's fault switches describe, or None (a window quota wins over a bucket)."""
    hints = bool(faults.get("quota_retry_after", True))
    calls = int(faults.get("quota_window_calls") or 0)
    if calls > 0:
        return WindowQuota(calls, float(faults.get("quota_window_secs") or 60.0), hints, clock)
    rate = float(faults.get("quota_per_sec") or 0)
    if rate > 0:
        return TokenBucket(rate, float(faults.get("quota_burst") or 0), hints, clock)
    return None
