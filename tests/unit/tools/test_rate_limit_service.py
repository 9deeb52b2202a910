"""The stand-in rate limit service (tools/rate_limit_service.py) decides as Envoy's ratelimit does:
fixed windows per unit aligned to the epoch, hits counted refused or not, whole-second resets,
and OK for what no rule names. The windows run on a set clock; one test goes over real gRPC
with Beam's own stub and messages."""
from __future__ import annotations

import subprocess
import sys

import grpc
import pytest
from apache_beam.io.components import rate_limit_pb2 as pb
from apache_beam.io.components.rate_limiter import EnvoyRateLimiter

from tools.rate_limit_service import OK, OVER_LIMIT, RateLimits, Rule, make_server, parse_rule

QUOTA = (("quota", "vision-images"),)


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


def _limits(*rules: str, t: float = 1_000_000.0, domain: str = "image-classifier"):
    clock = Clock(t)
    return RateLimits(domain, [parse_rule(r) for r in rules], clock=clock), clock


def _codes(limits, hits, times, descriptor=QUOTA, domain="image-classifier"):
    return [limits.check(domain, [descriptor], hits)[0][0] for _ in range(times)]


def test_hits_allowed_up_to_the_limit_then_over__one_second_window():
    limits, _ = _limits("quota=vision-images:48/second", t=100.2)
    assert _codes(limits, 16, 4) == [OK, OK, OK, OVER_LIMIT]


def test_count_starts_again__next_window():
    limits, clock = _limits("quota=vision-images:32/second", t=100.9)
    assert _codes(limits, 16, 3) == [OK, OK, OVER_LIMIT]
    clock.t = 101.0
    assert _codes(limits, 16, 3) == [OK, OK, OVER_LIMIT]


def test_refused_hits_still_count__as_envoys_redis_backend():
    limits, _ = _limits("quota=vision-images:40/second")
    assert _codes(limits, 16, 3) == [OK, OK, OVER_LIMIT]     # 48 > 40: refused, and counted
    assert _codes(limits, 1, 1) == [OVER_LIMIT]              # 49: even one more hit is over


def test_hits_addend_zero_counts_as_one__envoy_default():
    limits, _ = _limits("quota=vision-images:2/second")
    assert _codes(limits, 0, 3) == [OK, OK, OVER_LIMIT]


def test_windows_align_to_the_epoch_and_reset_in_whole_seconds__minute_and_hour():
    limits, clock = _limits("quota=vision-images:1/minute", "quota=other:1/hour", t=119.7)
    assert limits.check("image-classifier", [QUOTA], 1) == [(OK, 1)]   # 60 - 119 % 60, now in whole seconds
    assert limits.check("image-classifier", [QUOTA], 1) == [(OVER_LIMIT, 1)]
    clock.t = 120.0                                                       # a new minute, not 60 s after the first call
    assert limits.check("image-classifier", [QUOTA], 1) == [(OK, 60)]
    assert limits.check("image-classifier", [(("quota", "other"),)], 1) == [(OK, 3600 - 120)]


def test_second_window_resets_in_one_second__wherever_in_the_second():
    limits, clock = _limits("quota=vision-images:1/second", t=50.01)
    assert limits.check("image-classifier", [QUOTA], 5) == [(OVER_LIMIT, 1)]
    clock.t = 50.99
    assert limits.check("image-classifier", [QUOTA], 1) == [(OVER_LIMIT, 1)]


def test_unknown_descriptor_or_domain_is_ok_and_uncounted__no_rule():
    limits, _ = _limits("quota=vision-images:1/second")
    assert limits.check("image-classifier", [(("quota", "typo"),)], 1000) == [(OK, None)]
    assert limits.check("another-domain", [QUOTA], 1000) == [(OK, None)]
    assert _codes(limits, 1, 2) == [OK, OVER_LIMIT]          # the rule's count saw neither


def test_nested_descriptor_matches_only_in_full__not_its_first_entry():
    limits, _ = _limits("project=p1,quota=vision-images:1/second")
    assert limits.check("image-classifier", [(("project", "p1"),)], 5) == [(OK, None)]
    nested = (("project", "p1"), ("quota", "vision-images"))
    assert [limits.check("image-classifier", [nested], 1)[0][0] for _ in range(2)] == [OK, OVER_LIMIT]


def test_each_descriptor_answered__one_over_limit_of_two():
    limits, _ = _limits("quota=a:10/second", "quota=b:1/second")
    assert limits.check("image-classifier", [(("quota", "a"),), (("quota", "b"),)], 5) == [(OK, 1), (OVER_LIMIT, 1)]


@pytest.mark.parametrize("domain,descriptors,message", [
    ("", [QUOTA], "domain must not be empty"), ("image-classifier", [], "descriptor list must not be empty")])
def test_empty_request_is_an_error__as_envoy(domain, descriptors, message):
    limits, _ = _limits("quota=vision-images:1/second")
    with pytest.raises(ValueError, match=message):
        limits.check(domain, descriptors, 1)


@pytest.mark.parametrize("text,rule", [
    ("quota=vision-images:76/second", Rule(QUOTA, 76, "second")),
    ("project=p1,quota=vision-images:1696/minute", Rule((("project", "p1"), ("quota", "vision-images")), 1696,
                                                        "minute")),
])
def test_rule_parsed__descriptor_limit_unit(text, rule):
    assert parse_rule(text) == rule


@pytest.mark.parametrize("text", ["quota=vision-images:76", "quota=vision-images:76/fortnight",
                                  "quota:76/second", "quota=:76/second", "quota=v:-1/second"])
def test_rule_refused__malformed(text):
    with pytest.raises(ValueError):
        parse_rule(text)


@pytest.fixture
def served():
    limits, clock = _limits("quota=vision-images:32/second")
    server, port = make_server("127.0.0.1", 0, limits)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield EnvoyRateLimiter.RateLimitServiceStub(channel), clock
    channel.close()
    server.stop(grace=None)


def _request(domain="image-classifier", hits=16, descriptors=(QUOTA,)):
    return pb.RateLimitRequest(domain=domain, hits_addend=hits, descriptors=[
        pb.RateLimitDescriptor(entries=[pb.RateLimitDescriptor.Entry(key=k, value=v) for k, v in d])
        for d in descriptors])


def test_answers_over_grpc__beams_stub_and_messages(served):
    stub, _ = served
    answers = [stub.ShouldRateLimit(_request(), timeout=5) for _ in range(3)]
    assert [a.overall_code for a in answers] == [OK, OK, OVER_LIMIT]
    (status,) = answers[2].statuses
    assert status.code == OVER_LIMIT and status.duration_until_reset.ToTimedelta().total_seconds() == 1.0
    unknown = stub.ShouldRateLimit(_request(descriptors=((("quota", "typo"),),)), timeout=5)
    assert unknown.overall_code == OK and not unknown.statuses[0].HasField("duration_until_reset")


def test_empty_domain_is_a_grpc_error__over_grpc(served):
    stub, _ = served
    with pytest.raises(grpc.RpcError) as e:
        stub.ShouldRateLimit(_request(domain=""), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNKNOWN and "domain must not be empty" in e.value.details()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.10"])
def test_refuses_reachable_host__without_allow_remote(host):
    out = subprocess.run([sys.executable, "-m", "tools.rate_limit_service", "--host", host, "--port", "0",
                          "--limit", "quota=vision-images:1/second"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert f"--host={host} would accept connections from other machines" in out.stderr
