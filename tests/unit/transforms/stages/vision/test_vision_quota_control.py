"""The Vision rate controller against simulated quotas of every shape (quota_sim.py beside this file).

Quota use is (accepted calls / the quota's long-run rate) over the accepted calls' span, no burst
subtracted: 1.0 means the quota's rate was used from the first accepted call to the last; a window
quota, whose tokens all come at once, can give more than 1 to a short job.
"""
import pytest

from tests.unit.transforms.stages.vision.quota_sim import simulate
from tools.vision_quota import TokenBucket, WindowQuota


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


@pytest.mark.parametrize("workers,least_use", [(2, 0.9), (4, 0.7)])
@pytest.mark.parametrize("make", [bucket(), window()], ids=["bucket", "window"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quota_is_used_by_independent_workers__one_shared_quota(make, workers, least_use, seed):
    # A looser bound than the (the strict-xfail test below holds that one): no 429 storm
    # and no collapse with 2-4 independent controllers on a long job (README, "Quota benchmark").
    r = simulate(make, 400, workers=workers, seed=seed)
    assert r.quota_use >= least_use, r.quota_use
    assert r.share_429 <= 0.25, r.share_429


@pytest.mark.parametrize("make,kw", [(bucket(), {}), (bucket(hint=True), {}), (bucket(), {"workers": 2}),
                                     (bucket(), {"latency": 2.0, "concurrency": 16})],
                         ids=["bare 429", "Retry-After", "2 workers", "2 s latency"])
def test_rate_recovers_within_6_s__burst_of_429s_from_another_client(make, kw):
    # From 10 s to 15 s someone else takes tokens at 4x the quota: every call meets a 429.
    r = simulate(make, 400, intruder=(10.0, 15.0, 20.0), **kw)
    assert r.accepted_between(12.0, 15.0) < 0.5 * 3 * r.rate      # the burst really pushed back
    recovered = next(t / 4 for t in range(60, 4 * 60) if r.accepted_between(t / 4, t / 4 + 1) >= 0.9 * r.rate)
    assert recovered - 15.0 <= 6.0, recovered


def test_worker_paces_at_the_cycles_rate__window_found_empty_then_open_again():
    # 60 calls accepted in the first 2 s, then refused until the 12-s window turns: the
    # long-run rate is 60 calls per 12 s, not the 30/s the burst went at.
    from tests.unit.transforms.stages.vision.quota_sim import SimClock
    from transforms.stages.vision.backpressure import Backpressure
    clock = SimClock()
    bp = Backpressure(clock=clock, sleep=clock.sleep, seed=1)
    for _ in range(60):
        bp.on_success(clock.t)
        clock.t += 2 / 60
    for _ in range(4):
        bp.on_overload(None, clock.t)
        clock.t = max(clock.t, bp.blocked_until)
    clock.t = 1012.0
    bp.on_success(clock.t)
    assert bp.rate == pytest.approx(60 / 12, rel=0.05)


MULTI = {"bucket bare 429": bucket(), "bucket Retry-After": bucket(hint=True), "window bare 429": window()}


NOT_MET = pytest.mark.xfail(strict=True, reason="issue 12, not met yet: short jobs (30 calls) on a bucket with 2-4 "
                            "workers meet 4-6 429s (12-17 %; 4 workers also use 0.71), 4 workers on a window 17-22 % "
                            "(README, Quota benchmark)")
MET = {(shape, workers, 200) for shape in ("bucket bare 429", "bucket Retry-After") for workers in (2, 4)} | {
    ("window bare 429", 2, 30), ("window bare 429", 2, 200), ("window bare 429", 4, 30)}
MULTI_CASES = [pytest.param(shape, workers, calls, marks=[] if (shape, workers, calls) in MET else [NOT_MET])
               for shape in MULTI for workers in (2, 4) for calls in (30, 200)]


@pytest.mark.parametrize("shape,workers,calls", MULTI_CASES)
def test_quota_is_used_without_429_storms__2_and_4_workers_on_one_quota(shape, workers, calls):
    # The targets for every row: quota use >= 0.9 and <= 10 % of calls 429, with
    # independent controllers (one per worker process) sharing one quota.
    r = simulate(MULTI[shape], calls, workers=workers)
    assert r.share_429 <= 0.10, (shape, workers, calls, r.share_429)
    assert r.quota_use >= 0.9, (shape, workers, calls, r.quota_use)
