"""The local Vision endpoint's control routes and connections under hostile clients, over real HTTP:
control routes exist only with --enable_control and only for this endpoint's own address, as JSON;
a bad fault switch changes nothing; half-sent requests are cut off and connections are bounded."""
import base64
import io
import json
import socket
import time
import urllib.parse

import pytest
from PIL import Image

from tools.vision_endpoint import ANNOTATE_PATH, control, running_endpoint


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (20, 140, 60)).save(buf, "JPEG")
    return buf.getvalue()


GOOD = json.dumps({"requests": [{"image": {"content": base64.b64encode(jpeg()).decode()},
                                 "features": [{"type": "LABEL_DETECTION"}]}]}).encode()


def raw(url: str, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, dict]:
    """One request written by hand (so Host and Origin can be anything); (status, JSON answer)."""
    parts = urllib.parse.urlsplit(url)
    head = {"Host": parts.netloc, "Content-Length": str(len(body)), "Connection": "close", **(headers or {})}
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\n".encode()
                  + "".join(f"{k}: {v}\r\n" for k, v in head.items()).encode() + b"\r\n" + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2] or b"{}")


def annotate_status(url: str) -> int:
    return raw(url, "POST", ANNOTATE_PATH, GOOD, {"Content-Type": "application/json"})[0]


@pytest.fixture(scope="module")
def endpoint():
    with running_endpoint("--fixed_labels", "--enable_control") as url:
        yield url


@pytest.fixture(scope="module")
def endpoint_without_control():
    with running_endpoint("--fixed_labels") as url:
        yield url


@pytest.mark.parametrize("method,path", [("GET", "/control/stats"), ("POST", "/control/faults"),
                                         ("POST", "/control/reset")])
def test_control_routes_do_not_exist__without_enable_control(endpoint_without_control, method, path):
    status, answer = raw(endpoint_without_control, method, path, b'{"drop_every": 1}',
                         {"Content-Type": "application/json"})
    assert status == 404 and "--enable_control" in answer["error"]["message"]
    assert annotate_status(endpoint_without_control) == 200


def test_plain_text_post_is_refused__cross_site_form(endpoint):
    status, answer = raw(endpoint, "POST", "/control/faults", b'{"drop_every": 1}',
                         {"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert status in (403, 415)
    status, _ = raw(endpoint, "POST", "/control/faults", b'{"drop_every": 1}', {"Content-Type": "text/plain"})
    assert status == 415
    assert control(endpoint, "stats")["faults"]["drop_every"] == 0 and annotate_status(endpoint) == 200


def test_other_web_origin_is_refused__json_from_evil_example(endpoint):
    status, answer = raw(endpoint, "POST", "/control/faults", b'{"drop_every": 1}',
                         {"Content-Type": "application/json", "Origin": "http://evil.example"})
    assert (status, answer["error"]["status"]) == (403, "PERMISSION_DENIED")
    assert control(endpoint, "stats")["faults"]["drop_every"] == 0


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}",
                                  "127.0.0.1:1", ""])
def test_forged_host_is_refused__dns_rebinding(endpoint, host):
    port = urllib.parse.urlsplit(endpoint).port
    headers = {"Host": host.format(port=port), "Content-Type": "application/json"}
    assert raw(endpoint, "POST", "/control/faults", b'{"drop_every": 1}', headers)[0] == 403
    assert raw(endpoint, "GET", "/control/stats", b"", headers)[0] == 403
    assert raw(endpoint, "POST", ANNOTATE_PATH, GOOD, headers)[0] == 403
    assert control(endpoint, "stats")["faults"]["drop_every"] == 0


@pytest.mark.parametrize("host", ["localhost:{port}", "127.0.0.1:{port}", "LOCALHOST:{port}"])
def test_loopback_names_are_answered__own_address(endpoint, host):
    port = urllib.parse.urlsplit(endpoint).port
    assert raw(endpoint, "GET", "/control/stats", b"", {"Host": host.format(port=port)})[0] == 200


@pytest.mark.parametrize("update", [{"drop_every": "x"}, {"drop_every": 0, "quota_per_sec": "abc"},
                                    {"delay_secs": 1e9}, {"image_errors": []}, {"error_5xx_every": 1, "x": 1}])
def test_bad_switch_changes_nothing__endpoint_keeps_answering(endpoint, update):
    before = control(endpoint, "stats")["faults"]
    status, answer = raw(endpoint, "POST", "/control/faults", json.dumps(update).encode(),
                         {"Content-Type": "application/json"})
    assert (status, answer["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert control(endpoint, "stats")["faults"] == before
    assert [annotate_status(endpoint) for _ in range(3)] == [200, 200, 200]


def test_reset_restores_the_starting_switches__after_a_fault(endpoint):
    control(endpoint, "faults", {"error_5xx_every": 1})
    assert annotate_status(endpoint) == 503
    control(endpoint, "reset", {})
    assert annotate_status(endpoint) == 200 and control(endpoint, "stats")["faults"]["error_5xx_every"] == 0


def _half_sent(url: str, body_part: bool) -> socket.socket:
    parts = urllib.parse.urlsplit(url)
    s = socket.create_connection((parts.hostname, parts.port), timeout=30)
    if body_part:   # whole headers, a tenth of the body
        s.sendall(f"POST {ANNOTATE_PATH} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: 100\r\n\r\n"
                  "{\"requests\"".encode())
    else:           # half the headers
        s.sendall(f"POST {ANNOTATE_PATH} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Le".encode())
    return s


@pytest.mark.parametrize("body_part", [False, True], ids=["headers", "body"])
def test_half_sent_request_is_cut_off__read_timeout(body_part):
    with running_endpoint("--fixed_labels", "--read_timeout_secs", "1") as url:
        s = _half_sent(url, body_part)
        try:
            answer = s.recv(65536)   # the server's answer (408) or its close; a hang ends in socket.timeout
            while chunk := s.recv(65536):
                answer += chunk
        finally:
            s.close()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408")


def test_connections_over_the_bound_are_refused_503__held_connections():
    with running_endpoint("--fixed_labels", "--max_connections", "4") as url:
        held = [_half_sent(url, body_part=i % 2 == 0) for i in range(4)]
        try:   # accepted in the order they connected: the four held ones first
            status, answer = raw(url, "POST", ANNOTATE_PATH, GOOD, {"Content-Type": "application/json"})
        finally:
            for s in held:
                s.close()
        assert (status, answer["error"]["status"]) == (503, "UNAVAILABLE")
        for _ in range(100):   # the slots come back as the server sees the held connections close
            if annotate_status(url) == 200:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("the endpoint never answered again after the held connections closed")
