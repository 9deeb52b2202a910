"""A Vision-compatible endpoint on this machine: `POST /v1/images:annotate`.

It answers with the local backend's models, so curl, the google-cloud-vision
client and seed-style JSON requests work offline, and the pipeline's
`--backend=vision` can run end to end with no cloud account:

    python -m tools.vision_endpoint --port 8080
    python -m pipeline --input=DIR --backend=vision --vision_endpoint=http://127.0.0.1:8080

For tests and benchmarks it can misbehave the way the real API does: a request
quota (a token bucket or a per-minute-style window, see tools/vision_quota.py;
429 beyond it, with or without Retry-After), 5xx answers, slow answers, dropped
connections, invalid JSON and per-image errors. The switches are command-line
flags and can be changed while it runs (`POST /control/faults` with a JSON
object of the same names); `GET /control/stats` reports what it served and
`POST /control/reset` clears the counts.

It binds to 127.0.0.1 by default and refuses any address other machines could
reach (0.0.0.0, a LAN address, a host name that is not loopback) unless
`--allow_remote` is given: it has no authentication and its /control/ paths
let anyone switch faults on.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pipeline.settings import REPO_ROOT
from tools.child_process import stop
from tools.loopback import refuse_remote
from tools.vision_service import FAULT_DEFAULTS, VisionService
from transforms.stages.local.handler import default_threads

ANNOTATE_PATH = "/v1/images:annotate"
MAX_BODY_BYTES = 10 * 1024 * 1024  # the real API's limit on a JSON request body


def _status_body(code: int, status: str, message: str, retry_delay: float | None = None) -> bytes:
    error = {"code": code, "message": message, "status": status}
    if retry_delay is not None:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                             "retryDelay": f"{retry_delay:.3f}s"}]
    return json.dumps({"error": error}).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    service: VisionService  # set on the subclass made by make_server

    def log_message(self, *args):  # quiet: one line per call is noise in tests
        pass

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes | None:
        """The request body, or None after answering 411/400/413: the size is checked before reading."""
        length = self.headers.get("Content-Length")
        if length is None and self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._send(411, _status_body(411, "INVALID_ARGUMENT", "A Content-Length header is required."))
            return None
        try:
            size = int(length or 0)
        except ValueError:
            size = -1
        if size < 0:
            self.close_connection = True
            self._send(400, _status_body(400, "INVALID_ARGUMENT", "Invalid Content-Length header."))
            return None
        if size > MAX_BODY_BYTES:
            self.close_connection = True  # the unread body must not be taken for the next request
            self._send(413, _status_body(413, "INVALID_ARGUMENT",
                                         f"Request payload size exceeds the limit: {MAX_BODY_BYTES} bytes."))
            return None
        return self.rfile.read(size)

    def do_GET(self):
        if self.path.split("?")[0] == "/control/stats":
            return self._send(200, json.dumps(self.service.stats()).encode())
        if self.path.split("?")[0] in ("/", "/healthz"):
            return self._send(200, b'{"ok": true}')
        return self._send(404, _status_body(404, "NOT_FOUND", f"no such path {self.path}"))

    def do_POST(self):
        path = self.path.split("?")[0]
        body = self._body()
        if body is None:
            return None
        if path == "/control/faults":
            try:
                self.service.set_faults(json.loads(body or b"{}"))
            except ValueError as e:
                return self._send(400, _status_body(400, "INVALID_ARGUMENT", str(e)))
            return self._send(200, json.dumps(self.service.faults).encode())
        if path == "/control/reset":
            self.service.reset()
            return self._send(200, b"{}")
        if path != ANNOTATE_PATH:
            return self._send(404, _status_body(404, "NOT_FOUND", f"no such method {path}"))
        self._annotate(body)

    def _annotate(self, body: bytes) -> None:
        svc, t0 = self.service, time.time()
        n = svc.next_call()
        try:
            requests = json.loads(body).get("requests") or []
        except ValueError:
            svc.record(t0, 0, 400)
            return self._send(400, _status_body(400, "INVALID_ARGUMENT", "Invalid JSON payload received."))
        if len(requests) > 16:
            svc.record(t0, len(requests), 400)
            return self._send(400, _status_body(400, "INVALID_ARGUMENT",
                                                f"At most 16 images per request; got {len(requests)}."))
        quota = svc.quota
        wait = quota.take() if quota else 0.0
        if wait:
            svc.record(t0, len(requests), 429)
            hint = quota.retry_after if quota else False
            return self._send(429, _status_body(429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric "
                                                "'Requests' of service 'vision.googleapis.com'.",
                                                wait if hint else None),
                              {"Retry-After": str(max(1, math.ceil(wait)))} if hint else None)
        if svc.every("drop_every", n):
            svc.record(t0, len(requests), 0)
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return None
        delay = float(svc.faults["delay_secs"] or 0) + (float(svc.faults["slow_secs"] or 0)
                                                         if svc.every("slow_every", n) else 0.0)
        if svc.every("error_5xx_every", n):
            svc.record(t0, len(requests), 503)
            return self._send(503, _status_body(503, "UNAVAILABLE", "The service is currently unavailable."))
        if svc.every("invalid_json_every", n):
            svc.record(t0, len(requests), 200)
            return self._send(200, b'{"responses": [{"labelAnnotations": [')
        answers = svc.annotate(requests)
        spent = time.time() - t0
        if delay > spent:
            time.sleep(delay - spent)
        by_uri = sum(1 for r in requests if not (r.get("image") or {}).get("content"))
        svc.record(t0, len(requests), 200, by_uri)
        return self._send(200, json.dumps({"responses": answers}).encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def check_host(host: str, allow_remote: bool) -> None:
    """Refuse a non-loopback bind address unless the user asked for it explicitly."""
    refuse_remote(host, allow_remote, "this endpoint has no authentication (anyone could send images or "
                  "switch faults on)")


def make_server(host: str, port: int, service: VisionService) -> ThreadingHTTPServer:
    handler = type("BoundHandler", (Handler,), {"service": service})
    return _Server((host, port), handler)


@contextlib.contextmanager
def running_endpoint(*args: str, env: dict | None = None, timeout: float = 60.0):
    """Start `python -m tools.vision_endpoint ARGS` on a free loopback port; yields its URL.

    For tests and benchmarks: a real process speaking real HTTP. It fails (never
    skips) when the endpoint does not come up.
    """
    import subprocess
    import tempfile
    import urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.NamedTemporaryFile(prefix="vision-endpoint-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "tools.vision_endpoint", "--port", str(port), *args],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the Vision endpoint exited with {proc.returncode}: "
                                   f"{open(log.name).read()[-2000:]}")
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the Vision endpoint did not answer in {timeout} s") from None
                time.sleep(0.1)
        yield url
    finally:
        stop(proc)


def control(url: str, path: str, payload: dict | None = None) -> dict:
    """GET (payload None) or POST a JSON payload to one of the endpoint's /control/ paths."""
    import urllib.request
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(f"{url}/control/{path}", data=data, method="GET" if data is None else "POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _flag(text: str) -> bool:
    """argparse's type=bool takes any non-empty text for True; this reads true/false/1/0."""
    value = text.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value in ("true", "1", "yes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.vision_endpoint", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback only unless --allow_remote)")
    parser.add_argument("--allow_remote", action="store_true",
                        help="allow a --host other machines can reach (no authentication: use with care)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--model_dir", default=os.environ.get("IMAGE_CLASSIFIER_MODEL_DIR")
                        or os.path.join(REPO_ROOT, "models"))
    parser.add_argument("--features", default="LABEL_DETECTION,SAFE_SEARCH_DETECTION",
                        help="features the local models serve (others are answered empty)")
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0 = the CPUs)")
    parser.add_argument("--fixed_labels", action="store_true",
                        help="answer every image with one fixed label and no models (quota benchmarks)")
    for name, default in FAULT_DEFAULTS.items():
        if isinstance(default, bool):   # --quota_retry_after=false: a bare 429, as some quotas answer
            parser.add_argument(f"--{name}", type=_flag, default=default, metavar="true|false")
        elif not isinstance(default, dict):
            parser.add_argument(f"--{name}", type=type(default), default=default)
    parser.add_argument("--image_errors", type=json.loads, default={},
                        help='JSON {"<sha256 of the bytes or the URI>": {"code": 3, "message": "..."}}')
    parser.add_argument("--recorded_answers", type=json.loads, default={},
                        help='JSON {"<sha256 of the bytes>": <a recorded AnnotateImageResponse>}')
    args = parser.parse_args(argv)
    try:
        check_host(args.host, args.allow_remote)
    except ValueError as e:
        parser.error(str(e))
    service = VisionService(args.model_dir, [f for f in args.features.split(",") if f], args.threads or
                            default_threads(), args.fixed_labels, {k: getattr(args, k) for k in FAULT_DEFAULTS})
    server = make_server(args.host, args.port, service)
    print(f"Vision-compatible endpoint on http://{args.host}:{server.server_address[1]}{ANNOTATE_PATH}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
