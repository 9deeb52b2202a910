"""A total deadline for one attempt of a Vision call: connection to last byte.

The client library's `timeout` reaches `requests`, which applies it to each socket
read: an answer that trickles in a byte at a time never trips it and holds the call
(and its images) for as long as the server likes. `requests` and urllib3 have no
total deadline, so this adds one: the client's session gets connections that
register with the attempt running on their thread, and when the attempt's time is
up their sockets are shut down, which ends any read at once. The caller then sees
`AttemptDeadline.expired` and treats the failure as DEADLINE_EXCEEDED (retried,
then an error row).
"""
from __future__ import annotations

import contextlib
import socket
import threading

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_running = threading.local()   # the AttemptDeadline of the call on this thread, if any


class AttemptDeadline:
    """`with AttemptDeadline(secs) as d:` one HTTP call; sockets it uses are cut at `secs`."""

    def __init__(self, secs: float):
        self.secs, self.expired = secs, False
        self.connections: list[HTTPConnection] = []
        self.lock = threading.Lock()
        self.timer = threading.Timer(secs, self.expire)
        self.timer.daemon = True

    def __enter__(self) -> AttemptDeadline:
        _running.attempt = self
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()
        _running.attempt = None

    def watch(self, conn) -> None:
        with self.lock:
            self.connections.append(conn)
            expired = self.expired
        if expired:
            _cut(conn)

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            connections = list(self.connections)
        for conn in connections:
            _cut(conn)


def _cut(conn: HTTPConnection) -> None:
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _watch(conn) -> None:
    attempt = getattr(_running, "attempt", None)
    if attempt is not None:
        attempt.watch(conn)


class _Watched:
    """Mixed into urllib3's connections: each request, and each new socket, is known to the attempt."""

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]  # a mixin: the connection class comes after it
        _watch(self)

    def request(self, *args, **kwargs):
        _watch(self)
        return super().request(*args, **kwargs)


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def bound_attempts(client) -> None:
    """Give a REST ImageAnnotatorClient's session connections that honour AttemptDeadline.

    The session is the transport's own (`_transport._session`): the library offers no
    other way to reach it. A session set up for mutual TLS keeps its adapter.
    """
    session = getattr(getattr(client, "_transport", None), "_session", None)
    if session is None or not hasattr(session, "adapters"):
        raise TypeError("the Vision client has no requests session (is the transport REST?)")
    for prefix in ("https://", "http://"):
        if type(session.adapters.get(prefix)) is HTTPAdapter:
            session.mount(prefix, _DeadlineAdapter())
