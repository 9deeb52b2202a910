"""A discrete-event simulation of Vision callers against one quota, on a simulated clock.

Each worker is one `Backpressure` (its own process in production) with
`concurrency` call threads; threads take calls from one shared job, drive the
controller's `waits()` generator, and meet the quota (tools/vision_quota.py)
when a call is sent. Accepted calls answer after `latency`, 429s after
`reject_latency`. Nothing sleeps: a run of minutes takes milliseconds, so the
controller can be measured shape by shape in unit tests.
"""
from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field

from transforms.stages.vision.backpressure import Backpressure


class SimClock:
    def __init__(self, t: float = 1000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, secs: float) -> None:   # only for code that sleeps outside the simulation
        self.t += secs


@dataclass
class SimResult:
    rate: float                                   # the quota's long-run rate (calls/s)
    sent: list[float] = field(default_factory=list)        # send times of accepted calls
    rejected: list[float] = field(default_factory=list)    # send times of 429s
    end: float = 0.0

    @property
    def quota_use(self) -> float:
        """(N accepted / rate) over the accepted calls' span (+ one call's share of the quota)."""
        if not self.sent:
            return 0.0
        return (len(self.sent) / self.rate) / (max(self.sent) - min(self.sent) + 1.0 / self.rate)

    @property
    def share_429(self) -> float:
        return len(self.rejected) / max(1, len(self.sent) + len(self.rejected))

    def accepted_between(self, t0: float, t1: float) -> int:
        return sum(1 for t in self.sent if t0 <= t < t1)


def simulate(make_quota, calls: int, workers: int = 1, concurrency: int = 8, latency: float = 0.05,
             reject_latency: float = 0.01, intruder: tuple[float, float, float] | None = None,
             seed: int = 7, horizon: float = 3600.0) -> SimResult:
    """Run `calls` calls through `workers` controllers; `make_quota(clock)` builds the shared quota.

    `intruder=(start, end, rate)`: between start and end (seconds from the beginning) someone
    else takes the quota's tokens at `rate` calls/s: the burst of 429s the controllers must
    recover from once it ends.
    """
    clock = SimClock()
    t_start = clock.t
    quota = make_quota(clock)
    result = SimResult(rate=quota.long_run_rate)
    remaining = [calls]
    events: list = []
    seq = itertools.count()

    def thread(bp: Backpressure):
        while remaining[0] > 0:
            remaining[0] -= 1
            while True:
                yield from bp.waits()
                sent = clock.t
                wait = quota.take()
                if wait == 0.0:
                    yield latency
                    bp.on_success(sent)
                    result.sent.append(sent - t_start)
                    break
                yield reject_latency
                bp.on_overload(wait if quota.retry_after else None, sent)
                result.rejected.append(sent - t_start)

    def intrude(start: float, end: float, rate: float):
        yield start
        while clock.t - t_start < end:
            quota.take()
            yield 1.0 / rate

    for w in range(workers):
        bp = Backpressure(clock=clock, sleep=clock.sleep, seed=seed + w)
        for _ in range(concurrency):
            heapq.heappush(events, (clock.t, next(seq), thread(bp)))
    if intruder:
        heapq.heappush(events, (clock.t, next(seq), intrude(*intruder)))
    _run(events, seq, clock, t_start + horizon)
    result.end = clock.t - t_start
    return result


def _run(events: list, seq, clock: SimClock, deadline: float) -> None:
    """Advance the clock from event to event; each generator yields the seconds until its next step."""
    while events:
        t, _, gen = heapq.heappop(events)
        if t > deadline:
            raise AssertionError("the simulated job did not finish before the horizon")
        clock.t = t
        try:
            delay = next(gen)
        except StopIteration:
            continue
        heapq.heappush(events, (clock.t + delay, next(seq), gen))
