"""Pacing, throttling and retry classification of the Vision backend (a fake clock; no sleeping)."""
import random

import pytest

from transforms.stages.vision.backpressure import FATAL, OVERLOAD, TRANSIENT, Backpressure, backoff_delay, classify
from transforms.stages.vision.rate_control import DECREASE, EXIT_DECREASE, START_RATE


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t

    def sleep(self, secs):
        self.t += secs


def _bp(**kw):
    clock = Clock()
    return Backpressure(clock=clock, sleep=clock.sleep, seed=1, **kw), clock


def _steady(bp, clock, rate, secs):
    """Calls at `rate`/s for `secs`, all accepted (the pacer lets them go: it has grown past `rate`)."""
    for _ in range(int(rate * secs)):
        clock.t += 1 / rate
        bp.acquire()
        bp.on_success(clock.t)


def test_calls_paced_from_the_start_rate_and_speeding_up__no_pushback_yet():
    # Changed on purpose (issue 12): calls used to go unpaced until the first 429, so every call
    # in flight met the first 429; now slow start paces them from START_RATE, x4 per second.
    bp, clock = _bp()
    first = [bp.acquire() for _ in range(3)]
    assert first[0] == 0.0 and first[1] == pytest.approx(1 / START_RATE)
    start = clock.t
    while bp.pacing.rate < 8 * START_RATE:
        bp.acquire()
        bp.on_success(clock.t)
    assert clock.t - start < 2.0                      # x8 in 1.5 s


def test_rate_drops_deeper_at_the_end_of_slow_start__first_429():
    # The first 429 ends slow start: what the worker was given then holds the quota's burst,
    # so the cut goes to EXIT_DECREASE of it (a cut to DECREASE left 2-4 workers above the quota).
    bp, clock = _bp()
    _steady(bp, clock, 10, 12)                        # 10 accepted calls per second for 12 s
    bp.on_overload(None, clock.t)
    assert bp.pacing.rate == pytest.approx(EXIT_DECREASE * 10, rel=0.06)
    assert bp.pacing.ceiling == pytest.approx(10, rel=0.06)


def test_rate_drops_below_the_accepted_rate__429_after_steady_successes():
    bp, clock = _bp()
    _steady(bp, clock, 10, 12)
    bp.on_overload(None, clock.t)                     # the end of slow start
    clock.t = bp.pacing.blocked_until
    _steady(bp, clock, 5, 12)                         # then 5 accepted calls per second for 12 s
    bp.on_overload(None, clock.t)
    assert bp.pacing.rate == pytest.approx(DECREASE * 5, rel=0.06)
    assert bp.pacing.ceiling == pytest.approx(5, rel=0.06)


def test_cut_ignores_a_burst_accepted_before_the_last_429__bucket_with_a_large_burst():
    # 20 calls at once (a bucket's burst), then 4 accepted calls per second: a second 429 cuts
    # to DECREASE x 4, what the quota gave since the first 429, not to the 10-s figure (burst in it).
    bp, clock = _bp()
    for _ in range(20):
        clock.t += 0.01
        bp.on_success(clock.t)
    bp.on_overload(None, clock.t)
    clock.t = bp.pacing.blocked_until
    for _ in range(16):
        clock.t += 0.25
        bp.acquire()
        bp.on_success(clock.t)
    bp.on_overload(None, clock.t)
    assert bp.pacing.rate < DECREASE * 4.5


def test_one_decrease_per_congestion_event__429s_of_calls_already_in_flight():
    bp, clock = _bp()
    _steady(bp, clock, 10, 12)
    in_flight_sent = clock.t - 0.05
    bp.on_overload(None, clock.t)
    once = bp.pacing.rate
    for _ in range(5):                                # answers to calls sent before the decrease
        bp.on_overload(None, in_flight_sent)
    assert bp.pacing.rate == once and bp.pacing.streak == 1


def test_holds_double_for_429s_in_a_row__quota_empty():
    bp, clock = _bp()
    _steady(bp, clock, 10, 12)
    holds = []
    for _ in range(5):
        bp.on_overload(None, clock.t)
        holds.append(bp.pacing.blocked_until - clock.t)
        clock.t = bp.pacing.blocked_until
    # 0.5 s, 1 s, 2 s, 4 s, 4 s, each x 0.5-1.5 at random (workers must not come back in lock-step)
    for hold, base in zip(holds, [0.5, 1.0, 2.0, 4.0, 4.0], strict=True):
        assert 0.5 * base <= hold <= 1.5 * base, holds
    assert len({round(h / b, 3) for h, b in zip(holds, [0.5, 1, 2, 4, 4], strict=True)}) > 1   # jittered


def test_every_call_waits_for_the_hint__retry_after():
    bp, clock = _bp(adaptive=False)    # the hint holds even with client-side throttling off
    bp.on_overload(2.5)
    assert bp.acquire() == pytest.approx(2.5)
    assert bp.acquire() == 0.0


def test_rate_back_at_the_ceiling_within_25_calls__successes_after_a_decrease():
    # A step per paced call, not per second (rate_control.py): 0.85 -> 0.97 of the ceiling is
    # about 20 calls, however fast those come.
    bp, clock = _bp()
    _steady(bp, clock, 10, 12)
    bp.on_overload(None, clock.t)                     # the end of slow start
    clock.t = bp.pacing.blocked_until
    _steady(bp, clock, 5, 12)
    bp.on_overload(None, clock.t)                     # a decrease in congestion avoidance
    clock.t = bp.pacing.blocked_until
    low, calls = bp.pacing.rate, 0
    while bp.pacing.rate < 0.97 * bp.pacing.ceiling:
        bp.acquire()
        bp.on_success(clock.t)
        calls += 1
    assert low < 0.9 * bp.pacing.ceiling and calls <= 25


def test_rate_does_not_grow__job_sends_less_than_the_rate():
    bp, clock = _bp()
    _steady(bp, clock, 10, 12)
    bp.on_overload(None, clock.t)
    rate = bp.pacing.rate
    for _ in range(30):                   # one call every 2 s: the job, not the pacer, is the limit
        clock.t += 2.0
        bp.acquire()
        bp.on_success(clock.t)
    assert bp.pacing.rate == rate


def test_hard_cap_paces_from_the_first_call__requests_per_minute():
    bp, clock = _bp(requests_per_minute=120)
    waits = [bp.acquire() for _ in range(5)]
    assert sum(waits) == pytest.approx(4 * 0.5)


def test_failing_backend_delays_calls__all_calls_fail():
    bp, clock = _bp()
    for _ in range(30):
        bp.on_failure()
    assert bp.rejection_probability() > 0.9
    start = clock.t
    bp.acquire()
    assert clock.t > start     # throttled before sending


def test_no_client_throttling__adaptive_off():
    bp, clock = _bp(adaptive=False)
    for _ in range(30):
        bp.on_failure()
    bp.on_overload(None)
    assert bp.pacing.rate is None and bp.acquire() == 0.0


def test_backoff_grows_with_jitter__attempts():
    rng = random.Random(3)
    delays = [backoff_delay(a, rng) for a in range(1, 8)]
    for a, d in enumerate(delays, start=1):
        full = min(30.0, 0.5 * 2 ** (a - 1))
        assert full / 2 <= d <= full


@pytest.mark.parametrize("exc,kind", [
    ("TooManyRequests", OVERLOAD), ("ServiceUnavailable", TRANSIENT), ("InternalServerError", TRANSIENT),
    ("GatewayTimeout", TRANSIENT), ("BadRequest", FATAL), ("PermissionDenied", FATAL)])
def test_errors_sorted_by_what_a_retry_can_fix__api_errors(exc, kind):
    from google.api_core import exceptions
    assert classify(getattr(exceptions, exc)("x")) == kind


def test_dropped_connections_and_bad_json_are_retried__transport_errors():
    import requests
    from google.protobuf.json_format import ParseError
    assert classify(requests.exceptions.ConnectionError("reset")) == TRANSIENT
    assert classify(requests.exceptions.ReadTimeout("slow")) == TRANSIENT
    assert classify(ParseError("not json")) == TRANSIENT
    assert classify(RuntimeError("a bug")) == FATAL


class _Answer:
    """A fake google-cloud-vision client: `refusals` 429s (with an optional Retry-After), then an answer."""

    def __init__(self, refusals, retry_after=None):
        self.refusals, self.retry_after = refusals, retry_after

    def batch_annotate_images(self, requests, retry, timeout):  # noqa: ARG002 - the client's signature
        from google.api_core import exceptions
        from google.cloud import vision
        if self.refusals:
            self.refusals -= 1
            response = None
            if self.retry_after:
                response = type("R", (), {"headers": {"Retry-After": str(self.retry_after)},
                                          "json": lambda _self: {}})()
            raise exceptions.TooManyRequests("Quota exceeded", response=response)
        return vision.BatchAnnotateImagesResponse(responses=[vision.AnnotateImageResponse() for _ in requests])


@pytest.mark.parametrize("retry_after", [None, 3], ids=["bare 429", "Retry-After 3 s"])
def test_wait_after_429s_counts_as_throttled_time__quota_refusals(retry_after):
    from transforms.stages.vision.client import VisionCaller
    bp, clock = _bp()
    caller = VisionCaller(None, bp, timeout=60.0, sleep=clock.sleep, clock=clock, client=_Answer(3, retry_after))
    start = clock.t
    out = caller.annotate([{"content": b"x", "features": (("LABEL_DETECTION", 5),)}])
    assert out.responses == [{}] and out.overloaded == 3
    # The fake clock moves only while the caller waits: every second of it is throttled time.
    assert out.throttled_secs == pytest.approx(clock.t - start)
    assert out.throttled_secs >= (3 * retry_after if retry_after else 0.5 + 1.0 + 2.0) * 0.9


def test_throttled_time_reaches_beams_counter__whole_seconds_carried_over():
    from transforms.stages.vision.annotate import VisionOptions, _CallVision
    options = VisionOptions(endpoint=None, features=(), max_labels=15, max_concurrent_requests=1,
                            requests_per_minute=0, batch_max_wait_secs=2.0, job_limit=None, call_deadline_secs=60.0)
    dofn = _CallVision(options, adaptive=True)
    assert dofn.signaler.throttling_metric.metric_name.name == "cumulativeThrottlingSeconds"
    seen = {"secs": [], "msecs": []}
    dofn.signaler.throttling_metric = type("C", (), {"inc": lambda _s, n: seen["secs"].append(n)})()
    dofn.throttled_ms = type("C", (), {"inc": lambda _s, n: seen["msecs"].append(n)})()
    for secs in (0.6, 0.6, 2.3):
        dofn._count({"throttled": secs})
    assert seen["secs"] == [1, 2] and sum(seen["msecs"]) == 3500     # 3.5 s: 3 whole seconds, 0.5 carried


def test_next_batch_taken_only_once_the_first_is_sent__send_gate():
    import threading

    from transforms.stages.vision.backpressure import SendGate
    gate = SendGate(limit=1)
    leave = gate.enter()                              # a batch waits for its first slot
    taken = threading.Event()
    threading.Thread(target=lambda: (gate.enter(), taken.set()), daemon=True).start()
    assert not taken.wait(0.3)                        # the next batch stays with the runner
    leave()
    leave()                                           # the end of the batch: counted once only
    assert taken.wait(2.0) and gate.waiting == 1


def test_rate_back_at_the_ceiling_within_2_s__job_wide_limit_and_a_stray_429():
    # Under a job-wide limit the limit keeps the workers under the quota: a worker cut by a stray
    # 429 climbs back by the second, not a step per call (it would hold the job's tail).
    for limited, most_secs in ((True, 2.0), (False, None)):
        bp, clock = _bp(job_limited=limited)
        _steady(bp, clock, 10, 12)
        bp.on_overload(None, clock.t)
        clock.t = bp.pacing.blocked_until
        start, target = clock.t, 0.97 * bp.pacing.ceiling
        while bp.pacing.rate < target and clock.t - start < 30:
            bp.acquire()
            bp.on_success(clock.t)
        if most_secs:
            assert clock.t - start < most_secs
        else:
            assert clock.t - start > 3.0              # the premise: a step per call is slower
