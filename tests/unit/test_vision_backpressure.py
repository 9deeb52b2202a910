"""Pacing, throttling and retry classification of the Vision backend (a fake clock; no sleeping)."""
import random

import pytest

from transforms.vision.backpressure import (FATAL, OVERLOAD, TRANSIENT, Backpressure, backoff_delay, classify)


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


def test_calls_go_at_once__no_pushback_yet():
    bp, clock = _bp()
    assert [bp.acquire() for _ in range(20)] == [0.0] * 20


def test_rate_drops_below_the_accepted_rate__429_after_steady_successes():
    bp, clock = _bp()
    for _ in range(40):            # 10 accepted calls per second for 4 s
        bp.acquire()
        bp.on_success()
        clock.t += 0.1
    bp.on_overload(None)
    assert bp.rate == pytest.approx(0.9 * 10, rel=0.06)
    waits = [bp.acquire() for _ in range(5)]
    assert sum(waits) == pytest.approx(4 / bp.rate, rel=0.01)   # calls now spaced 1/rate apart


def test_every_call_waits_for_the_hint__retry_after():
    bp, clock = _bp(adaptive=False)    # the hint holds even with client-side throttling off
    bp.on_overload(2.5)
    assert bp.acquire() == pytest.approx(2.5)
    assert bp.acquire() == 0.0


def test_rate_recovers_slowly__successes_after_a_decrease():
    bp, clock = _bp()
    for _ in range(40):
        bp.acquire()
        bp.on_success()
        clock.t += 0.1
    bp.on_overload(None)
    low = bp.rate
    for _ in range(100):
        clock.t += 0.1
        bp.on_success()
    assert low * 1.3 < bp.rate < low * 1.5     # +3.5 % per second for 10 s


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
    assert bp.rate is None and bp.acquire() == 0.0


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
