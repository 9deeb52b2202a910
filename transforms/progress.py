"""TrackProgress: the step after the sinks that counts every image once it is written.

Two audiences read these counts. On Dataflow they are Beam metrics (images done,
errors per stage, a latency distribution in streaming), which the Dataflow
console shows while the job runs. On a local runner, which executes the DoFns in
the launching process, the same step also feeds a process-level
`ProgressTracker`, so the launcher can show images done, the rate, errors and the
time left while the job is still running: Beam's local runners expose metrics
only once the job has finished. On a worker with no tracker activated the step
only updates metrics.
"""
from __future__ import annotations

import collections
import datetime as dt
import threading
import time

import apache_beam as beam

from transforms import metrics

FIRST_ERRORS_KEPT = 5


class ProgressTracker:
    """Thread-safe tallies of one local run (DoFns run on several threads)."""

    def __init__(self, clock=time.monotonic):
        self._lock = threading.Lock()
        self.clock = clock
        self.started = clock()
        self.listed = 0
        self.ranges_planned = 0      # key ranges of a bucket listing, and how many finished
        self.ranges_done = 0
        self.classified = 0
        self.errors = 0
        self.per_category: collections.Counter = collections.Counter()
        self.per_stage: collections.Counter = collections.Counter()
        self.first_errors: list[dict] = []

    def add_listed(self, n: int = 1) -> None:
        with self._lock:
            self.listed += n

    def add_ranges(self, n: int) -> None:
        with self._lock:
            self.ranges_planned += n

    def range_done(self) -> None:
        with self._lock:
            self.ranges_done += 1

    def add_row(self, row: dict) -> None:
        with self._lock:
            self.classified += 1
            self.per_category[row.get("primary_category") or "uncategorized"] += 1

    def add_error(self, row: dict) -> None:
        with self._lock:
            self.errors += 1
            self.per_stage[row.get("stage") or "unknown"] += 1
            if len(self.first_errors) < FIRST_ERRORS_KEPT:
                self.first_errors.append({k: row.get(k) for k in ("stage", "code", "uri", "name", "message")})

    @property
    def done(self) -> int:
        return self.classified + self.errors

    def counts(self) -> tuple[float, int, int, int]:
        """(clock time, done, errors, listed), read together."""
        with self._lock:
            return self.clock(), self.classified + self.errors, self.errors, self.listed


_current: ProgressTracker | None = None


def activate(tracker: ProgressTracker | None = None) -> ProgressTracker:
    """Make `tracker` the one this process's TrackProgress steps feed."""
    global _current  # noqa: PLW0603 - one tracker per launching process, by design
    _current = tracker or ProgressTracker()
    return _current


def deactivate() -> None:
    global _current  # noqa: PLW0603
    _current = None


def current() -> ProgressTracker | None:
    return _current


_written_listeners: list = []


def on_written(callback) -> None:
    """Call `callback((bucket, name, generation))` in this process for each image
    written (a local streaming run acknowledges its Pub/Sub message then)."""
    _written_listeners.append(callback)


def _seconds_between(start_iso: str | None, end_iso: str | None) -> float | None:
    if not start_iso or not end_iso:
        return None
    try:
        return (dt.datetime.fromisoformat(end_iso) - dt.datetime.fromisoformat(start_iso)).total_seconds()
    except (TypeError, ValueError):
        return None


class _Track(beam.DoFn):
    def __init__(self, kind: str, streaming: bool):
        self.kind, self.streaming = kind, streaming
        self.done = metrics.counter("images_done")
        self.latency = metrics.distribution("upload_to_result_ms")

    def process(self, element):
        tracker = _current
        self.done.inc()
        if _written_listeners and element.get("generation") is not None:
            key = (element.get("bucket"), element.get("name"), element.get("generation"))
            for callback in _written_listeners:
                callback(key)
        if self.kind == "errors":
            metrics.counter(f"errors_{element.get('stage') or 'unknown'}").inc()
            if tracker:
                tracker.add_error(element)
            return
        if self.streaming:  # a backfill's event_time is the upload time of old files: not a latency
            seconds = _seconds_between(element.get("event_time"), element.get("classified_at"))
            if seconds is not None and seconds >= 0:
                self.latency.update(int(seconds * 1000))
        if tracker:
            tracker.add_row(element)


class TrackProgress(beam.PTransform):
    """Takes StageOutput(rows written, error rows written); outputs nothing.

    The total comes from the listing itself (ListImages feeds the tracker before
    its Reshuffle), so it is known before the first image is done.
    """

    def __init__(self, streaming: bool = False):
        super().__init__()
        self.streaming = streaming

    def expand(self, written):
        written.ok | "CountRows" >> beam.ParDo(_Track("classifications", self.streaming))
        written.errors | "CountErrors" >> beam.ParDo(_Track("errors", self.streaming))
        return beam.pvalue.PDone(written.ok.pipeline)
