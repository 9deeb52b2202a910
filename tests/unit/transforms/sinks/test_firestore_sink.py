"""Batching and retrying Firestore writes: the limits, and which answers are sent again.
The emulator never answers ABORTED, 429 or 503 to a BatchWrite, so those answers are scripted here."""
from __future__ import annotations

import pytest

from transforms.sinks.firestore_sink import MAX_BATCH_WRITES, backoff_secs, batches, write_with_retries

ABORTED, RESOURCE_EXHAUSTED, UNAVAILABLE, INVALID_ARGUMENT = 10, 8, 14, 3


class Script:
    """A commit that answers each write from a list of codes, one per attempt (0 once the list is used up)."""

    def __init__(self, **codes):
        self.codes = {k: list(v) for k, v in codes.items()}
        self.sent: list[list[str]] = []

    def __call__(self, group):
        self.sent.append(list(group))
        return [(self.codes.get(w, []).pop(0) if self.codes.get(w) else 0, f"answer for {w}") for w in group]


def test_contention_429_and_503_are_sent_again__then_written():
    commit, slept = Script(a=[ABORTED], b=[RESOURCE_EXHAUSTED, UNAVAILABLE]), []
    written, failed, retries = write_with_retries(["a", "b", "c"], commit, sleep=slept.append)
    assert sorted(written) == ["a", "b", "c"] and failed == [] and retries == 3
    assert commit.sent == [["a", "b", "c"], ["a", "b"], ["b"]]   # only what failed is sent again
    assert len(slept) == 2 and slept[0] < slept[1]


def test_refusal_is_not_retried__one_failure_with_its_message():
    commit = Script(a=[INVALID_ARGUMENT])
    written, failed, retries = write_with_retries(["a", "b"], commit, sleep=lambda _: None)
    assert written == ["b"] and retries == 0
    assert failed == [("a", INVALID_ARGUMENT, "answer for a", 1)]


def test_transient_failure_gives_up__after_max_attempts():
    commit = Script(a=[UNAVAILABLE] * 10)
    written, failed, _ = write_with_retries(["a"], commit, max_attempts=3, sleep=lambda _: None)
    assert written == [] and failed == [("a", UNAVAILABLE, "answer for a", 3)] and len(commit.sent) == 3


@pytest.mark.parametrize("attempt,low,high", [(1, 0.5, 1), (3, 2, 4), (10, 15, 30)])
def test_backoff_grows_and_is_capped__jittered(attempt, low, high):
    assert low <= backoff_secs(attempt, rng=lambda: 0.0) <= backoff_secs(attempt, rng=lambda: 0.999) <= high


def test_batches_respect_500_writes_and_request_bytes__in_order():
    sized = [(i, 10) for i in range(1201)]
    assert [len(b) for b in batches(sized)] == [MAX_BATCH_WRITES, MAX_BATCH_WRITES, 201]
    big = [(i, 1_000_000) for i in range(20)]
    got = batches(big, max_bytes=9 * 1024 * 1024)
    assert [len(b) for b in got] == [9, 9, 2] and [w for b in got for w in b] == list(range(20))
