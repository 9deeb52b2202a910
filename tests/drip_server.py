"""A real HTTP server on 127.0.0.1 that answers one byte at a time, for ever (a slow-drip endpoint).

It reads each request whole, sends a 200 status line and headers promising a large
JSON body, then one byte of it every `interval` seconds until the client goes away
or the server is stopped. A per-read socket timeout longer than `interval` never
fires against it; only a total deadline ends the call.
"""
from __future__ import annotations

import contextlib
import socket
import threading


class DripServer:
    def __init__(self, interval: float = 0.2):
        self.interval = interval
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.stopped = threading.Event()
        self.requests = 0
        self.lock = threading.Lock()

    def serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                body += chunk
            with self.lock:
                self.requests += 1
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
            while not self.stopped.wait(self.interval):
                conn.sendall(b" ")   # JSON allows leading whitespace: the answer is never complete

    def stop(self) -> None:
        self.stopped.set()
        self.sock.close()


@contextlib.contextmanager
def drip_server(interval: float = 0.2):
    """Yields a running DripServer; stops it (ending every drip) on the way out."""
    server = DripServer(interval)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(5)
