"""The Vision rate controller against simulated quotas of every shape (tests/unit/quota_sim.py).

Quota use is (accepted calls / the quota's long-run rate) over the accepted calls' span, no burst
subtracted: 1.0 means the quota's rate was used from the first accepted call to the last; a window
quota, whose tokens all come at once, can give more than 1 to a short job.
"""
import pytest

from pipeline.vision_quota import TokenBucket, WindowQuota
from tests.unit.quota_sim import simulate


def bucket(rate=5.0, burst=5.0, hint=False):
    return lambda clock: TokenBucket(rate, burst, hint, clock)


def window(calls=60, secs=12.0, hint=False):
    return lambda clock: WindowQuota(calls, secs, hint, clock)


SHAPES = {
    "bucket 5/s burst 5, bare 429": (bucket(), {}),
    "bucket 5/s burst 5, Retry-After": (bucket(hint=True), {}),
    "window 60 per 12 s, bare 429": (window(), {}),
    "window 60 per 12 s, Retry-After": (window(hint=True), {}),
    "bucket 5/s, 2 s latency, 16 calls in flight": (bucket(), {"latency": 2.0, "concurrency": 16}),
    "bucket 30/s burst 30 (the real API's 1,800/min)": (bucket(30.0, 30.0), {}),
}


@pytest.mark.parametrize("calls", [30, 200])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_quota_is_used__every_shape_short_and_long_job(shape, calls):
    make, kw = SHAPES[shape]
    scale = 6 if "30/s" in shape else 1          # as many seconds of quota as at 5/s
    r = simulate(make, calls * scale, **kw)
    assert r.quota_use >= 0.9, (shape, r.quota_use)
    assert r.share_429 <= (0.15 if calls == 30 else 0.10), (shape, r.share_429)


@pytest.mark.parametrize("workers", [2, 4])
@pytest.mark.parametrize("make", [bucket(), window()], ids=["bucket", "window"])
def test_quota_is_used_by_independent_workers__one_shared_quota(make, workers):
    r = simulate(make, 400, workers=workers)
    assert r.quota_use >= 0.9, r.quota_use
    assert r.share_429 <= 0.25, r.share_429     # more workers, more probing: see the README's table


@pytest.mark.parametrize("make,kw", [(bucket(), {}), (bucket(hint=True), {}), (bucket(), {"workers": 2}),
                                     (bucket(), {"latency": 2.0, "concurrency": 16})],
                         ids=["bare 429", "Retry-After", "2 workers", "2 s latency"])
def test_rate_recovers_within_6_s__burst_of_429s_from_another_client(make, kw):
    # From 10 s to 15 s someone else takes tokens at 4x the quota: every call meets a 429.
    r = simulate(make, 400, intruder=(10.0, 15.0, 20.0), **kw)
    assert r.accepted_between(12.0, 15.0) < 0.5 * 3 * r.rate      # the burst really pushed back
    recovered = next(t / 4 for t in range(60, 4 * 60) if r.accepted_between(t / 4, t / 4 + 1) >= 0.9 * r.rate)
    assert recovered - 15.0 <= 6.0, recovered


def test_window_is_spread_over_its_length__after_the_first_window():
    # Once a window has been seen empty, the worker paces at calls/window instead of
    # emptying each window in a burst and meeting 429s until it turns.
    r = simulate(window(), 600)
    first_refusals = {}
    for t in r.rejected:
        first_refusals.setdefault(int(t // 12), t % 12)
    later = [at for w, at in first_refusals.items() if w >= 2]
    assert later and all(at >= 6.0 for at in later), first_refusals
