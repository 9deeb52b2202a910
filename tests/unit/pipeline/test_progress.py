"""Progress while a local run runs, and the summary at its end."""
import collections
import io
import time

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipeline.progress import Progress, ProgressReporter, RateWindow, format_progress, measure, show_progress
from pipeline.summary import format_summary, listing_skips, tracker_summary
from transforms import progress
from transforms.metrics import NAMESPACE
from transforms.progress import ProgressTracker, TrackProgress
from transforms.records import error_row
from transforms.sources.list_images import ListImages
from transforms.stage import StageOutput


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def rows(category, n):
    return [{"uri": f"/x/{category}{i}.jpg", "primary_category": category} for i in range(n)]


def fnapi():
    return beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))


@pytest.fixture
def tracker():
    t = progress.activate()
    yield t
    progress.deactivate()


def test_rate_and_time_left_follow_recent_work__known_total():
    clock = Clock()
    t, window = ProgressTracker(clock=clock), RateWindow(window=10)
    t.add_listed(100)
    measure(t, window)
    for _ in range(30):
        t.add_row({"primary_category": "cat"})
    clock.now += 10
    p = measure(t, window)
    assert (p.done, p.total, p.errors) == (30, 100, 0)
    assert p.rate == pytest.approx(3.0)
    assert p.eta == pytest.approx(70 / 3.0)


def test_rate_forgets_old_samples__slowdown():
    clock = Clock()
    t, window = ProgressTracker(clock=clock), RateWindow(window=10)
    for _ in range(100):
        t.add_row({})
    measure(t, window)
    for second in range(30):          # fast at first, then stalled for 20 s
        clock.now += 1
        if second < 10:
            for _ in range(50):
                t.add_row({})
        p = measure(t, window)
    assert p.rate < 6  # the window no longer holds the fast seconds


def test_no_time_left__streaming_has_no_total():
    clock = Clock()
    t = ProgressTracker(clock=clock)
    t.add_listed(5)
    t.add_row({})
    clock.now += 1
    p = measure(t, RateWindow(), streaming=True)
    assert p.total is None and p.eta is None


def test_line_names_done_total_rate_errors_and_time_left__backfill():
    line = format_progress(Progress(elapsed=75, done=412, errors=3, total=1000, rate=23.5, eta=25))
    assert line.startswith("412/1,000 images (41%)")
    for part in ("23.5/s", "3 errors", "0:25 left", "1:15 elapsed"):
        assert part in line
    assert "left" not in format_progress(Progress(elapsed=5, done=7, errors=1, total=None, rate=1.4, eta=None))


def _wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_line_rewritten_in_place__terminal():
    t = ProgressTracker()
    t.add_listed(4)
    out = io.StringIO()
    reporter = ProgressReporter(t, stream=out, in_place=True, interval=0.02).start()
    _wait_for(lambda: out.getvalue().count("\r") >= 2)
    t.add_row({})
    t.add_error({"stage": "decode"})
    reporter.stop()
    text = out.getvalue()
    assert text.count("\r") >= 2 and text.count("\n") == 1 and text.endswith("\n")
    assert text.rsplit("\r", 1)[1].startswith("2/4 images (50%)")
    assert "1 error" in text.rsplit("\r", 1)[1]


def test_log_lines_written__not_a_terminal():
    t = ProgressTracker()
    out = io.StringIO()
    reporter = ProgressReporter(t, stream=out, in_place=False, interval=0.02).start()
    time.sleep(0.1)
    assert out.getvalue() == ""          # nothing done yet: no noise in the log
    t.add_row({})
    _wait_for(lambda: "progress:" in out.getvalue())
    reporter.stop()
    assert "\r" not in out.getvalue()
    assert out.getvalue().splitlines()[0].startswith("progress: 1 images")


def test_sink_step_feeds_tracker_and_metrics__real_pipeline(tracker):
    errors = [error_row(None, "decode", "truncated", "cut short", uri="/x/a.jpg"),
              error_row(None, "read", "not_found", "gone", uri="/x/b.jpg"),
              error_row(None, "decode", "empty_file", "empty", uri="/x/c.jpg")]
    p = fnapi()
    tables = StageOutput(p | "Rows" >> beam.Create(rows("cat", 3) + rows("dog", 2)),
                         p | "Errors" >> beam.Create(errors))
    tables | TrackProgress()
    result = p.run()
    result.wait_until_finish()
    assert (tracker.classified, tracker.errors) == (5, 3)
    assert dict(tracker.per_category) == {"cat": 3, "dog": 2}
    assert dict(tracker.per_stage) == {"decode": 2, "read": 1}
    counters = collections.Counter()   # one entry per step: summed as the Dataflow console does
    for c in result.metrics().query()["counters"]:
        if c.key.metric.namespace == NAMESPACE:
            counters[c.key.metric.name] += c.committed
    assert counters["images_done"] == 8 and counters["errors_decode"] == 2 and counters["errors_read"] == 1


def test_listing_gives_the_total_before_images_are_done__local_folder(tracker, tmp_path):
    for name in ("a.jpg", "b.png", "sub/c.jpeg", "notes.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    p = fnapi()
    p | ListImages(str(tmp_path), str(tmp_path / "classified"))
    result = p.run()
    result.wait_until_finish()
    assert tracker.listed == 3
    assert listing_skips(result) == {"listed_images": 3, "listing_ranges": 0, "manifest_bad_lines": 0,
                                     "skipped_not_image": 1, "skipped_copies": 0, "skipped_links": 0}


def test_summary_names_categories_errors_throughput_and_places__tracker():
    t = ProgressTracker()
    for r in rows("cat", 3) + rows("dog", 1):
        t.add_row(r)
    t.add_error(error_row(None, "decode", "truncated", "the JPEG data is truncated", uri="/in/broken.jpg"))
    text = format_summary(tracker_summary(t), seconds=2.0, duckdb_path=None, category_root="/out/classified",
                          bigquery_dataset="proj:results", skips={"listed_images": 6, "listing_ranges": 3,
                                                                         "skipped_not_image": 2, "skipped_copies": 0})
    lines = text.splitlines()
    assert lines[0] == "Classified 4 images, 1 errors, in 2.0 s (2.5 images/s)."
    assert "Skipped 2 files that are not images" in text
    assert "Listed 6 images from 3 key ranges." in text
    assert lines.index("Images per category:") < next(i for i, line in enumerate(lines) if line.split() == ["cat", "3"])
    assert "Errors by stage: decode 1" in text
    assert "[decode/truncated] /in/broken.jpg: the JPEG data is truncated" in text
    assert "BigQuery proj:results" in text and "/out/classified/<category>/" in text


def test_tracker_only_while_shown__context(tmp_path):
    out = io.StringIO()
    with show_progress(stream=out) as t:
        assert progress.current() is t
    assert progress.current() is None
