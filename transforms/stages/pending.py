"""Work handed to a thread pool from a DoFn, and its results re-emitted in input order.

A DoFn that overlaps slow calls (reads, decodes, Vision calls) submits each element's
work to a pool and keeps the futures here with the element's timestamp and window;
results leave on the bundle's thread (Beam ignores metrics updated elsewhere), in
the order the elements came, each in its element's window. `finish_bundle` waits
for the rest, so nothing outlives its bundle. Beam has no such helper for DoFns
(RunInference's is internal to it), hence this one.
"""
from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from concurrent.futures import Executor

import apache_beam as beam
from apache_beam.utils.windowed_value import WindowedValue


def windowed(value, timestamp, window, tag: str | None = None):
    """`value` in the element's window and timestamp, on output `tag` (None: the main output)."""
    wv = WindowedValue(value, timestamp, (window,))
    return beam.pvalue.TaggedOutput(tag, wv) if tag else wv


class PendingFutures:
    """A queue of pool futures, each with the timestamp and window of the element that started it."""

    def __init__(self):
        self._queue: collections.deque = collections.deque()

    def __len__(self) -> int:
        return len(self._queue)

    def submit(self, pool: Executor, fn: Callable, *args, timestamp, window) -> None:
        self._queue.append((pool.submit(fn, *args), timestamp, window))

    def done(self, keep: int) -> Iterator[tuple[object, object, object]]:
        """(result, timestamp, window) in submission order: the oldest while it has finished, or
        while more than `keep` are pending (then it is waited for). `keep=0` waits for all."""
        while self._queue and (len(self._queue) > keep or self._queue[0][0].done()):
            future, timestamp, window = self._queue.popleft()
            yield future.result(), timestamp, window
