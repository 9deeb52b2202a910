"""A stand-in Envoy Rate Limit Service on this machine, for the job-wide Vision limit's tests and bench.

Why it exists: `--vision_rate_limit_service` makes every worker ask an Envoy Rate
Limit Service before each Vision call (Beam's `EnvoyRateLimiter`). The real
service is envoyproxy/ratelimit, a Go program that keeps its counts in Redis;
neither can be installed here. This is a small grpcio server that speaks the
same protocol (`envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit`,
with the messages Beam ships in `apache_beam.io.components.rate_limit_pb2`,
wire-compatible with Envoy's for the fields they hold) with the reference
service's semantics, its counts in this process's memory:

    python -m tools.rate_limit_service --port 8081 --limit 'quota=vision-images:76/second'
    python -m pipeline --input=DIR --backend=vision --vision_rate_limit_service=127.0.0.1:8081

* Rules: `--limit DESCRIPTOR:N/UNIT` (repeatable) in `--domain` (default
  image-classifier): DESCRIPTOR is key=value[,key=value] outermost first, as
  the pipeline's --vision_rate_limit_descriptor; N hits (the pipeline sends a
  call's images) per UNIT, one of second, minute, hour, day.
* Fixed windows, aligned to the Unix epoch in whole seconds, as Envoy's cache
  keys are. Every request adds its hits_addend (0 counts as 1) to its window's
  count, refused or not (as the Redis backend does for a request of one
  descriptor), and is OVER_LIMIT once the count is past N.
* `duration_until_reset`: whole seconds until the window turns, as Envoy
  computes it (unit - now % unit, now in whole seconds): 1 s for a second.
* A descriptor that no rule matches exactly, or another domain: OK, uncounted.
  `overall_code` is OVER_LIMIT when any descriptor is. An empty domain or no
  descriptors is an error (gRPC UNKNOWN), as Envoy answers.
* Not done: current_limit and limit_remaining (Beam's messages lack them and
  its client reads neither), shadow mode, wildcards, replaces, statistics.

It binds to 127.0.0.1 unless `--allow_remote` is given: it has no authentication.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
from apache_beam.io.components import rate_limit_pb2

from tools.child_process import stop
from tools.loopback import refuse_remote

pb: Any = rate_limit_pb2   # its message classes are made when it is imported: mypy cannot see them

SERVICE = "envoy.service.ratelimit.v3.RateLimitService"
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
OK, OVER_LIMIT = pb.RateLimitResponse.OK, pb.RateLimitResponse.OVER_LIMIT
_RULE = re.compile(r"^(?P<descriptor>[^:]+):(?P<limit>\d+)/(?P<unit>[a-z]+)$")


@dataclass(frozen=True)
class Rule:
    """`limit` hits per `unit` for requests whose descriptor is exactly `descriptor`."""
    descriptor: tuple[tuple[str, str], ...]
    limit: int
    unit: str

    @property
    def seconds(self) -> int:
        return UNITS[self.unit]


def parse_rule(text: str) -> Rule:
    """'quota=vision-images:76/second' -> Rule; ValueError when malformed."""
    m = _RULE.match(text.strip())
    if not m or m["unit"] not in UNITS:
        raise ValueError(f"a limit is DESCRIPTOR:N/UNIT with UNIT one of {', '.join(UNITS)}; got {text!r}")
    entries = []
    for part in m["descriptor"].split(","):
        key, sep, value = part.strip().partition("=")
        if not (sep and key and value):
            raise ValueError(f"a descriptor is key=value[,key=value]; got {m['descriptor']!r}")
        entries.append((key, value))
    return Rule(tuple(entries), int(m["limit"]), m["unit"])


class RateLimits:
    """The service's rules and counts. `check` is the whole of ShouldRateLimit's decision; `clock`
    (Unix seconds) is injectable so the windows can be tested without waiting."""

    def __init__(self, domain: str, rules: list[Rule], clock=time.time):
        self.domain, self.clock = domain, clock
        self.rules = {r.descriptor: r for r in rules}
        self.counts: dict[tuple, int] = {}     # (descriptor, window start) -> hits so far
        self.lock = threading.Lock()

    def check(self, domain: str, descriptors: list[tuple[tuple[str, str], ...]],
              hits_addend: int) -> list[tuple[int, int | None]]:
        """[(code, whole seconds until the window turns, or None when no rule matched)] per descriptor."""
        if not domain:
            raise ValueError("rate limit domain must not be empty")
        if not descriptors:
            raise ValueError("rate limit descriptor list must not be empty")
        hits, now = max(1, hits_addend), int(self.clock())
        out: list[tuple[int, int | None]] = []
        with self.lock:
            self.counts = {k: n for k, n in self.counts.items() if k[1] + self.rules[k[0]].seconds > now}
            for descriptor in descriptors:
                rule = self.rules.get(descriptor) if domain == self.domain else None
                if rule is None:
                    out.append((OK, None))
                    continue
                key = (rule.descriptor, now - now % rule.seconds)
                self.counts[key] = self.counts.get(key, 0) + hits
                out.append((OVER_LIMIT if self.counts[key] > rule.limit else OK, rule.seconds - now % rule.seconds))
        return out


def _should_rate_limit(limits: RateLimits):
    def handle(request, context):
        descriptors = [tuple((e.key, e.value) for e in d.entries) for d in request.descriptors]
        try:
            answers = limits.check(request.domain, descriptors, request.hits_addend)
        except ValueError as e:
            context.abort(grpc.StatusCode.UNKNOWN, str(e))
        statuses = []
        for code, reset in answers:
            status = pb.RateLimitResponse.DescriptorStatus(code=code)
            if reset is not None:
                status.duration_until_reset.seconds = reset
            statuses.append(status)
        overall = OVER_LIMIT if any(code == OVER_LIMIT for code, _ in answers) else OK
        return pb.RateLimitResponse(overall_code=overall, statuses=statuses)
    return handle


def make_server(host: str, port: int, limits: RateLimits) -> tuple[grpc.Server, int]:
    """A gRPC server (not started yet) answering from `limits`, and the port it bound (`port` 0: any)."""
    handler = grpc.method_handlers_generic_handler(SERVICE, {"ShouldRateLimit": grpc.unary_unary_rpc_method_handler(
        _should_rate_limit(limits), request_deserializer=pb.RateLimitRequest.FromString,
        response_serializer=pb.RateLimitResponse.SerializeToString)})
    server = grpc.server(ThreadPoolExecutor(max_workers=32, thread_name_prefix="rls"))
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    return server, bound


@contextlib.contextmanager
def running_rate_limit_service(*limits: str, domain: str = "image-classifier", timeout: float = 30.0):
    """Start `python -m tools.rate_limit_service --limit L ...` on a free loopback port; yields HOST:PORT.

    For tests and benchmarks: a real process speaking real gRPC. It fails (never skips)
    when the service does not come up."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.NamedTemporaryFile(prefix="rate-limit-service-", suffix=".log", delete=False)
    args = [a for limit in limits for a in ("--limit", limit)]
    proc = subprocess.Popen([sys.executable, "-m", "tools.rate_limit_service", "--port", str(port),
                             "--domain", domain, *args], stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(address) as channel:
            ready = grpc.channel_ready_future(channel)
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the rate limit service exited with {proc.returncode}: "
                                       f"{open(log.name).read()[-2000:]}")
                try:
                    ready.result(timeout=0.2)
                    break
                except grpc.FutureTimeoutError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the rate limit service did not answer in {timeout} s") from None
        yield address
    finally:
        stop(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.rate_limit_service", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback only unless --allow_remote)")
    parser.add_argument("--allow_remote", action="store_true",
                        help="allow a --host other machines can reach (no authentication: use with care)")
    parser.add_argument("--port", type=int, default=8081, help="gRPC port (Envoy's ratelimit uses 8081)")
    parser.add_argument("--domain", default="image-classifier", help="the domain the rules belong to")
    parser.add_argument("--limit", action="append", required=True, metavar="DESCRIPTOR:N/UNIT",
                        help="a rule, e.g. 'quota=vision-images:76/second' (repeatable)")
    args = parser.parse_args(argv)
    try:
        refuse_remote(args.host, args.allow_remote, "this service has no authentication")
        rules = [parse_rule(text) for text in args.limit]
    except ValueError as e:
        parser.error(str(e))
    server, port = make_server(args.host, args.port, RateLimits(args.domain, rules))
    server.start()
    print(f"Envoy-compatible rate limit service on {args.host}:{port}, domain {args.domain}: "
          + "; ".join(",".join(f"{k}={v}" for k, v in r.descriptor) + f" {r.limit}/{r.unit}" for r in rules),
          flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(grace=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
