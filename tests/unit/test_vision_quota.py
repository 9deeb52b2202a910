"""The endpoint's quota shapes (tools/vision_quota.py) on a fake clock, and their fault switches."""
import pytest

from tests.unit.quota_sim import SimClock
from tools.vision_endpoint import _flag
from tools.vision_quota import TokenBucket, WindowQuota, make_quota
from tools.vision_service import VisionService


def test_bucket_allows_its_burst_then_one_call_per_token__rate_5_burst_5():
    clock = SimClock()
    q = TokenBucket(5, 5, clock=clock)
    assert [q.take() for _ in range(5)] == [0.0] * 5
    assert q.take() == pytest.approx(0.2)     # the next token, 1/rate away
    clock.t += 0.2
    assert q.take() == 0.0 and q.take() > 0


def test_bucket_burst_defaults_to_one_seconds_worth__no_burst_given():
    q = TokenBucket(3, clock=SimClock())
    assert [q.take() == 0.0 for _ in range(4)] == [True, True, True, False]


def test_window_gives_all_its_calls_at_once_then_refuses_until_it_turns__60_per_12_s():
    clock = SimClock()
    q = WindowQuota(60, 12.0, clock=clock)
    assert all(q.take() == 0.0 for _ in range(60))
    clock.t += 4.0
    assert q.take() == pytest.approx(8.0)     # seconds until the window turns
    clock.t += 8.0
    assert all(q.take() == 0.0 for _ in range(60)) and q.take() == pytest.approx(12.0)


def test_window_tokens_do_not_carry_over__an_idle_window():
    clock = SimClock()
    q = WindowQuota(10, 6.0, clock=clock)
    clock.t += 13.0                           # two windows unused
    assert sum(q.take() == 0.0 for _ in range(30)) == 10


def test_switches_pick_the_shape_and_the_hint__window_wins_over_bucket():
    w = make_quota({"quota_per_sec": 5, "quota_window_calls": 60, "quota_window_secs": 12,
                    "quota_retry_after": False}, clock=SimClock())
    assert isinstance(w, WindowQuota) and w.long_run_rate == 5.0 and w.retry_after is False
    b = make_quota({"quota_per_sec": 5, "quota_burst": 2}, clock=SimClock())
    assert isinstance(b, TokenBucket) and b.capacity == 2 and b.retry_after is True
    assert make_quota({"quota_per_sec": 0}) is None


def test_service_rebuilds_its_quota_only_when_a_quota_switch_changes__other_faults():
    svc = VisionService(None, (), 1, fixed_labels=True, faults={"quota_per_sec": 2.0})
    first = svc.quota
    svc.set_faults({"error_5xx_every": 3})
    assert svc.quota is first                 # the bucket's state survives unrelated switches
    svc.set_faults({"quota_per_sec": 0.0})
    assert svc.quota is None


@pytest.mark.parametrize("text,value", [("true", True), ("False", False), ("0", False), ("yes", True)])
def test_boolean_flag_reads_words__quota_retry_after(text, value):
    assert _flag(text) is value


def test_boolean_flag_refuses_other_text__typo():
    import argparse
    with pytest.raises(argparse.ArgumentTypeError):
        _flag("flase")


@pytest.mark.parametrize("hint", [True, False])
def test_429_carries_the_wait_only_when_switched_on__quota_retry_after(hint):
    import json
    import threading
    import urllib.error
    import urllib.request

    from tools.vision_endpoint import make_server
    svc = VisionService(None, (), 1, fixed_labels=True,
                        faults={"quota_per_sec": 0.5, "quota_burst": 1, "quota_retry_after": hint})
    server = make_server("127.0.0.1", 0, svc)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1/images:annotate"
    try:
        def post():
            req = urllib.request.Request(url, data=b'{"requests": []}', method="POST")
            return urllib.request.urlopen(req, timeout=5)
        assert post().status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            post()
    finally:
        server.shutdown()
        server.server_close()
    err = refused.value
    body = json.loads(err.read())["error"]
    assert err.code == 429 and body["status"] == "RESOURCE_EXHAUSTED"
    assert ("Retry-After" in err.headers) is hint and ("details" in body) is hint
