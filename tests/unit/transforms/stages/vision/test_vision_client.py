"""One Vision call with retries: the real google-cloud-vision client over real HTTP
to the project's endpoint (in-process, fixed answers, no models)."""
import io

import pytest
from PIL import Image

from transforms.records import ImageRef
from transforms.stages.vision.backpressure import Backpressure
from transforms.stages.vision.client import VisionCaller
from transforms.stages.vision.image_requests import ImageRequest, by_bytes, split_for_calls


@pytest.fixture
def service(endpoint):
    service, _ = endpoint
    yield service
    service.set_faults({"error_5xx_every": 0, "drop_every": 0, "slow_every": 0, "slow_secs": 0.0,
                        "invalid_json_every": 0, "quota_per_sec": 0.0, "image_errors": {}})
    service.reset()


def _jpeg(shade: int, size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (shade, 80, 160)).save(buf, "JPEG")
    return buf.getvalue()


def _items(n):
    return [{"content": _jpeg(i * 10), "uri": None, "features": (("LABEL_DETECTION", 5),)} for i in range(n)]


def _caller(url, **kw):
    kw.setdefault("timeout", 60.0)
    return VisionCaller(url, Backpressure(adaptive=False), sleep=lambda _: None, **kw)


@pytest.mark.parametrize("fault", ["error_5xx_every", "drop_every", "invalid_json_every"])
def test_transient_fault_is_retried_once__every_other_call(endpoint, service, fault):
    service.set_faults({fault: 2})
    service.next_call()      # the next call is number 2: it fails, the retry (3) succeeds
    out = _caller(endpoint[1]).annotate(_items(3))
    assert out.attempts == 2 and out.transient_failures == 1
    assert [r["labelAnnotations"][0]["description"] for r in out.responses] == ["Fixture"] * 3


def test_deadline_is_retried__slow_answer(endpoint, service):
    service.set_faults({"slow_every": 1, "slow_secs": 1.0})
    out = _caller(endpoint[1], timeout=0.3, max_attempts=2).annotate(_items(1))
    assert out.responses is None and out.transient_failures == 2 and out.error_code == "DEADLINE_EXCEEDED"


def test_answers_keep_their_images_order__per_image_error_in_the_middle(endpoint, service):
    import hashlib
    items = _items(5)
    service.set_faults({"image_errors": {hashlib.sha256(items[2]["content"]).hexdigest():
                                         {"code": 3, "message": "Bad image data."}}})
    out = _caller(endpoint[1]).annotate(items)
    assert [("error" in r) for r in out.responses] == [False, False, True, False, False]
    assert out.responses[2]["error"] == {"code": 3, "message": "Bad image data."}


def test_429_honours_the_hint_and_succeeds__quota_of_one_per_second(endpoint, service):
    service.set_faults({"quota_per_sec": 1.0})
    caller = VisionCaller(endpoint[1], Backpressure(adaptive=False), timeout=60.0)
    first, second = caller.annotate(_items(1)), caller.annotate(_items(1))
    assert first.attempts == 1 and second.overloaded >= 1 and second.responses
    assert 0.3 < second.throttled_secs < 2.0     # waited about what the RetryInfo said, not a blind backoff


def test_whole_call_refused_is_not_retried__17_images(endpoint, service):
    out = _caller(endpoint[1]).annotate(_items(17))
    assert out.responses is None and out.attempts == 1 and out.error_code == "INVALID_ARGUMENT"


def test_calls_hold_16_images_and_stay_under_the_size_limit__mixed_sizes():
    ref = ImageRef("gs://b/x.jpg", "b", "x.jpg", 1, "x.jpg", 10, "image/jpeg")
    small = [ImageRequest(ref=ref, content=b"x" * 1000) for _ in range(40)]
    assert [len(c) for c in split_for_calls(small)] == [16, 16, 8]
    big = [ImageRequest(ref=ref, content=b"x" * 3_000_000) for _ in range(5)]
    calls = split_for_calls(big)
    assert [len(c) for c in calls] == [2, 2, 1]
    assert all(sum(i.wire_bytes for i in c) <= 9 * 1024 * 1024 for c in calls)


def test_small_images_go_as_stored_big_ones_shrunk__bytes_path(tmp_path):
    small, big = tmp_path / "small.jpg", tmp_path / "big.png"
    small.write_bytes(_jpeg(10))
    Image.new("RGB", (3000, 2000), (10, 200, 30)).save(big, "PNG")
    refs = [ImageRef(str(p), str(tmp_path), p.name, 1, p.name) for p in (small, big)]
    a, b = by_bytes(refs[0], 1024), by_bytes(refs[1], 1024)
    assert a.content == small.read_bytes() and a.analysed_size == (40, 30)
    assert b.content[:2] == b"\xff\xd8" and b.analysed_size == (1024, 683) and b.original_size == (3000, 2000)


def test_deadline_bounds_the_whole_attempt__answer_dripping_one_byte_at_a_time():
    """Each byte comes well within the per-read timeout; only a total deadline per attempt ends the call."""
    import threading

    from tests.drip_server import drip_server
    with drip_server(interval=0.2) as server:
        caller = _caller(server.url, timeout=1.0, max_attempts=2)
        outcome = []
        call = threading.Thread(target=lambda: outcome.append(caller.annotate(_items(2))), daemon=True)
        call.start()
        call.join(60)   # a guard against a hang, not a timing measure: each attempt may take 1 s
        hung = call.is_alive()
        attempts_seen = server.requests
    assert not hung, "the call was still waiting for the dripping answer"
    out = outcome[0]
    assert out.responses is None and out.error_code == "DEADLINE_EXCEEDED"
    assert out.attempts == 2 and out.transient_failures == 2 and attempts_seen == 2
    assert "call deadline of 1 s" in out.error_message
