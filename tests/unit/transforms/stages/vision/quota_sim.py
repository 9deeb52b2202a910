"""A discrete-event simulation of Vision callers against one quota, on a simulated clock.

Each worker is one `Backpressure` (its own process in production) with
`concurrency` call threads; threads take calls from one shared job (one queue of
its calls: any free worker takes the next, as Dataflow's work rebalancing hands
them out, no worker owns a fixed share), drive the controller's `waits()`
generator, and meet the quota (tools/vision_quota.py) when a call is sent. As in
the pipeline (SendGate), a worker takes a call from the job only while fewer than
`gate` of its calls wait for their first slot; `gate=None` lets every thread hold
one (the pipeline before the gate). Accepted calls answer after `latency`, 429s
after `reject_latency`. Nothing sleeps: a run of minutes takes milliseconds, so the
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


@dataclass
class _Job:
    """What every simulated call thread shares: the quota, the calls left, what happened."""
    clock: SimClock
    quota: object
    result: SimResult
    remaining: int
    latency: float
    reject_latency: float
    gate: int | None
    t_start: float = 0.0


@dataclass
class _Worker:
    """One worker process: its controller and how many of its calls wait for a first slot."""
    bp: Backpressure
    waiting: int = 0


def _call_thread(job: _Job, worker: _Worker):
    """One call thread of a worker: take a call (past the gate), pace it, send it, retry 429s."""
    bp, clock = worker.bp, job.clock
    while True:
        while job.gate is not None and worker.waiting >= job.gate:
            yield 0.02
        if job.remaining <= 0:
            return
        job.remaining -= 1
        worker.waiting += 1
        first = True
        while True:
            yield from bp.waits()
            if first:
                worker.waiting, first = worker.waiting - 1, False
            sent = clock.t
            wait = job.quota.take()   # type: ignore[attr-defined]
            if wait == 0.0:
                yield job.latency
                bp.on_success(sent)
                job.result.sent.append(sent - job.t_start)
                break
            yield job.reject_latency
            bp.on_overload(wait if job.quota.retry_after else None, sent)   # type: ignore[attr-defined]
            job.result.rejected.append(sent - job.t_start)


def _intruder(job: _Job, start: float, end: float, rate: float):
    yield start
    while job.clock.t - job.t_start < end:
        job.quota.take()   # type: ignore[attr-defined]
        yield 1.0 / rate


def simulate(make_quota, calls: int, workers: int = 1, concurrency: int = 8, latency: float = 0.05,
             reject_latency: float = 0.01, intruder: tuple[float, float, float] | None = None,
             seed: int = 7, horizon: float = 3600.0, gate: int | None = 1) -> SimResult:
    """Run `calls` calls through `workers` controllers; `make_quota(clock)` builds the shared quota.

    `intruder=(start, end, rate)`: between start and end (seconds from the beginning) someone
    else takes the quota's tokens at `rate` calls/s: the burst of 429s the controllers must
    recover from once it ends.
    """
    clock = SimClock()
    quota = make_quota(clock)
    job = _Job(clock, quota, SimResult(rate=quota.long_run_rate), calls, latency, reject_latency, gate, clock.t)
    events: list = []
    seq = itertools.count()
    for w in range(workers):
        worker = _Worker(Backpressure(clock=clock, sleep=clock.sleep, seed=seed + w))
        for _ in range(concurrency):
            heapq.heappush(events, (clock.t, next(seq), _call_thread(job, worker)))
    if intruder:
        heapq.heappush(events, (clock.t, next(seq), _intruder(job, *intruder)))
    _run(events, seq, clock, job.t_start + horizon)
    job.result.end = clock.t - job.t_start
    return job.result


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
