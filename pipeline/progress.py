"""Progress of a local run, shown while it runs.

A backfill of a million images that prints nothing for an hour looks broken.
The job's TrackProgress step (transforms/progress.py) feeds a tracker in this
process; a background thread reads it and shows images done, the current rate,
errors so far and, when the listing has given the total, the time left. On a
terminal the line is rewritten in place a few times a second; elsewhere (CI,
`nohup`, a log file) a plain log line is written every half minute.
"""
from __future__ import annotations

import collections
import logging
import sys
import threading
from dataclasses import dataclass

from transforms import progress
from transforms.progress import ProgressTracker

log = logging.getLogger("pipeline.progress")
WINDOW_SECS = 10.0     # the rate is taken over the last few seconds, so it follows changes
TTY_INTERVAL_SECS = 0.5
LOG_INTERVAL_SECS = 30.0


@dataclass(frozen=True)
class Progress:
    elapsed: float
    done: int
    errors: int
    total: int | None          # images listed so far; None when unknown (streaming)
    rate: float                # images per second, recent
    eta: float | None          # seconds left, when the total is known and the rate is not zero


class RateWindow:
    """Images per second over the last WINDOW_SECS of samples."""

    def __init__(self, window: float = WINDOW_SECS):
        self.window = window
        self.samples: collections.deque = collections.deque()

    def add(self, t: float, done: int) -> float:
        self.samples.append((t, done))
        while len(self.samples) > 2 and t - self.samples[1][0] >= self.window:
            self.samples.popleft()
        t0, d0 = self.samples[0]
        return (done - d0) / (t - t0) if t > t0 else 0.0


def measure(tracker: ProgressTracker, window: RateWindow, streaming: bool = False) -> Progress:
    t, done, errors, listed = tracker.counts()
    rate = window.add(t, done)
    total = None if streaming or not listed else max(listed, done)
    eta = (total - done) / rate if total is not None and rate > 0 else None
    return Progress(elapsed=t - tracker.started, done=done, errors=errors, total=total, rate=rate, eta=eta)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def format_progress(p: Progress) -> str:
    """One line, e.g. `412/1,000 images (41%) · 23.5/s · 3 errors · 0:25 left · 0:17 elapsed`."""
    if p.total:
        head = f"{p.done:,}/{p.total:,} images ({100 * p.done / p.total:.0f}%)"
    else:
        head = f"{p.done:,} images"
    parts = [head, f"{p.rate:.1f}/s", f"{p.errors:,} error{'' if p.errors == 1 else 's'}"]
    if p.eta is not None:
        parts.append(f"{format_duration(p.eta)} left")
    parts.append(f"{format_duration(p.elapsed)} elapsed")
    return " · ".join(parts)


class ProgressReporter:
    """Shows the tracker's figures until stopped: in place on a TTY, log lines otherwise."""

    def __init__(self, tracker: ProgressTracker, stream=None, streaming: bool = False,
                 interval: float | None = None, in_place: bool | None = None):
        self.tracker, self.streaming = tracker, streaming
        self.stream = stream or sys.stderr
        self.in_place = self.stream.isatty() if in_place is None else in_place
        self.interval = interval or (TTY_INTERVAL_SECS if self.in_place else LOG_INTERVAL_SECS)
        self.window = RateWindow()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._width = 0

    def start(self) -> "ProgressReporter":
        self._thread.start()
        return self

    def _show(self, final: bool = False) -> None:
        line = format_progress(measure(self.tracker, self.window, self.streaming))
        if self.in_place:
            pad = " " * max(0, self._width - len(line))
            self._width = len(line)
            self.stream.write("\r" + line + pad + ("\n" if final else ""))
            self.stream.flush()
        elif not final:
            self.stream.write(f"progress: {line}\n")
            self.stream.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            if self.tracker.done or self.in_place:
                self._show()

    def stop(self) -> None:
        """Stop the thread; on a TTY leave the last figures on their line."""
        self._stop.set()
        self._thread.join()
        if self.in_place:
            self._show(final=True)


class show_progress:  # noqa: N801 - used as a context manager, reads like one
    """`with show_progress(streaming) as tracker:` around a local run."""

    def __init__(self, streaming: bool = False, stream=None):
        self.streaming, self.stream = streaming, stream
        self.reporter: ProgressReporter | None = None

    def __enter__(self) -> ProgressTracker:
        tracker = progress.activate()
        self.reporter = ProgressReporter(tracker, stream=self.stream, streaming=self.streaming).start()
        return tracker

    def __exit__(self, *exc) -> None:
        if self.reporter is not None:
            self.reporter.stop()
        progress.deactivate()
