"""The local Vision endpoint's HTTP side: routes, admission and connection limits.

The server (`make_server`) answers `POST /v1/images:annotate` from a VisionService
(tools/vision_service.py) and, when enabled, the /control/ routes. What a hostile
client can do is bounded here: the Host header must name the endpoint's own address
(no DNS rebinding), control routes need --enable_control, JSON and no other web
origin; each request must arrive whole within `read_timeout` (headers and body, so a
client sending a byte at a time cannot hold a thread); at most `max_connections` are
served at once; a body over 10 MB is refused before it is read; any malformed body is
a 400 in the API's error shape (tools/vision_requests.py).
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from tools.loopback import is_loopback
from tools.vision_requests import BadRequest, parse_annotate
from tools.vision_service import VisionService

ANNOTATE_PATH = "/v1/images:annotate"
MAX_BODY_BYTES = 10 * 1024 * 1024  # the real API's limit on a JSON request body
READ_TIMEOUT_SECS = 30.0           # to receive one whole request (and to wait idle for the next one)
MAX_CONNECTIONS = 64               # connections served at once; more are answered 503


def _status_body(code: int, status: str, message: str, retry_delay: float | None = None) -> bytes:
    error = {"code": code, "message": message, "status": status}
    if retry_delay is not None:
        error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                             "retryDelay": f"{retry_delay:.3f}s"}]
    return json.dumps({"error": error}).encode()




class _DeadlineReader(io.RawIOBase):
    """The connection's reads, each given only what is left of the handler's `read_deadline`.

    A per-read timeout alone lets a client that sends one byte every few seconds hold a
    thread for ever; this bounds the whole request (headers and body).
    """

    def __init__(self, sock: socket.socket, handler: Handler):
        self.sock, self.handler = sock, handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        left = self.handler.read_deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request was not received in time")
        self.sock.settimeout(left)
        return self.sock.recv_into(buffer)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    service: VisionService  # these four are set on the subclass made by make_server
    control_enabled = False
    hosts: frozenset[str] | None = frozenset()   # Host headers answered; None: any (a wildcard bind)
    read_timeout = READ_TIMEOUT_SECS
    read_deadline = 0.0

    def log_message(self, *args):  # quiet: one line per call is noise in tests
        pass

    def setup(self) -> None:
        super().setup()
        self.rfile.close()   # the plain socket file: its reads would not know the deadline
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self))

    def handle_one_request(self) -> None:
        """Each request (and the idle wait before it) must arrive whole within `read_timeout`."""
        self.read_deadline = time.monotonic() + self.read_timeout
        super().handle_one_request()

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.connection.settimeout(self.read_timeout)   # a client that does not read is bounded too
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status: int, code: str, message: str) -> None:
        """Answer without reading the body; the connection closes so the body is not taken for a request."""
        self.close_connection = True
        self._send(status, _status_body(status, code, message))

    def _body(self) -> bytes | None:
        """The request body, or None after answering 411/400/413/408: the size is checked before reading."""
        length = self.headers.get("Content-Length")
        if length is None and self.headers.get("Transfer-Encoding"):
            self._refuse(411, "INVALID_ARGUMENT", "A Content-Length header is required.")
            return None
        try:
            size = int(length or 0)
        except ValueError:
            size = -1
        if size < 0:
            self._refuse(400, "INVALID_ARGUMENT", "Invalid Content-Length header.")
            return None
        if size > MAX_BODY_BYTES:
            self._refuse(413, "INVALID_ARGUMENT", f"Request payload size exceeds the limit: {MAX_BODY_BYTES} bytes.")
            return None
        try:
            return self.rfile.read(size)
        except TimeoutError:
            self._refuse(408, "DEADLINE_EXCEEDED", f"The request was not received within {self.read_timeout:g} s.")
            return None

    def _admitted(self, path: str) -> bool:
        """Host is this endpoint's own address (no DNS rebinding); control routes only when switched on,
        from no other web origin, and posted as JSON (a plain cross-site form cannot send that)."""
        host = (self.headers.get("Host") or "").strip().lower()
        if self.hosts is not None and host not in self.hosts:
            self._refuse(403, "PERMISSION_DENIED", "The Host header does not name this endpoint's address.")
            return False
        if not path.startswith("/control/"):
            return True
        if not self.control_enabled:
            self._refuse(404, "NOT_FOUND", "The control routes are off (start the endpoint with --enable_control).")
            return False
        origin = self.headers.get("Origin")
        if origin is not None and (self.hosts is None or urlsplit(origin).netloc.lower() not in self.hosts):
            self._refuse(403, "PERMISSION_DENIED", "The control routes answer no other web origin.")
            return False
        if self.command == "POST" and self.headers.get_content_type() != "application/json":
            self._refuse(415, "INVALID_ARGUMENT", "The control routes take Content-Type: application/json.")
            return False
        return True

    def do_GET(self):
        path = self.path.split("?")[0]
        if not self._admitted(path):
            return None
        if path == "/control/stats":
            return self._send(200, json.dumps(self.service.stats()).encode())
        if path in ("/", "/healthz"):
            return self._send(200, b'{"ok": true}')
        return self._send(404, _status_body(404, "NOT_FOUND", "No such path."))

    def do_POST(self):
        path = self.path.split("?")[0]
        if not self._admitted(path):
            return None
        body = self._body()
        if body is None:
            return None
        if path == "/control/faults":
            try:
                self.service.set_faults(json.loads(body or b"{}"))
            except (ValueError, RecursionError) as e:
                message = str(e) if not isinstance(e, json.JSONDecodeError | RecursionError) else "Invalid JSON."
                return self._send(400, _status_body(400, "INVALID_ARGUMENT", message))
            return self._send(200, json.dumps(self.service.faults).encode())
        if path == "/control/reset":
            self.service.reset()
            return self._send(200, b"{}")
        if path != ANNOTATE_PATH:
            return self._send(404, _status_body(404, "NOT_FOUND", "No such method."))
        self._annotate(body)

    def _annotate(self, body: bytes) -> None:
        svc, t0 = self.service, time.time()
        n = svc.next_call()
        try:
            requests = parse_annotate(body)
        except BadRequest as e:
            svc.record(t0, 0, 400)
            return self._send(400, _status_body(400, "INVALID_ARGUMENT", str(e)))
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
        delay = float(svc.faults["delay_secs"]) + (float(svc.faults["slow_secs"]) if svc.every("slow_every", n)
                                                   else 0.0)
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
        svc.record(t0, len(requests), 200, sum(1 for r in requests if r.content is None))
        return self._send(200, json.dumps({"responses": answers}).encode())


class _Server(ThreadingHTTPServer):
    """One thread per connection, at most `max_connections` at once: beyond them a connection is
    answered 503 (with Retry-After) and closed at once, so held connections cannot take every thread."""
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address, handler, max_connections: int):
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(max_connections)

    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            body = _status_body(503, "UNAVAILABLE", "Too many connections to this endpoint; try again shortly.")
            with contextlib.suppress(OSError):
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=UTF-8"
                                b"\r\nRetry-After: 1\r\nConnection: close\r\n"
                                + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def host_headers(host: str, port: int) -> frozenset[str] | None:
    """The Host headers a server bound to host:port answers: its own address (for a loopback bind, any
    loopback name), so a web page that rebinds its own name to 127.0.0.1 is refused. A wildcard bind
    (0.0.0.0 or ::, only with --allow_remote) answers any name: it was asked to serve other machines."""
    if host in ("", "0.0.0.0", "::"):
        return None
    names = {host.lower()} | ({"localhost", "127.0.0.1", "::1"} if is_loopback(host) else set())
    names = {f"[{n}]" if ":" in n else n for n in names}
    return frozenset({f"{n}:{port}" for n in names} | (names if port == 80 else set()))


def make_server(host: str, port: int, service: VisionService, control: bool = False,
                read_timeout: float = READ_TIMEOUT_SECS,
                max_connections: int = MAX_CONNECTIONS) -> ThreadingHTTPServer:
    server = _Server((host, port), Handler, max_connections)
    server.RequestHandlerClass = type("BoundHandler", (Handler,), {
        "service": service, "control_enabled": control, "read_timeout": read_timeout,
        "hosts": host_headers(host, server.server_address[1])})   # the port a port 0 bind was given
    return server


