"""Parse the command line, build the job, run it.

Locally the job runs to the end (or until Ctrl-C for streaming) and prints a
summary. On Dataflow the launch returns as soon as the job is submitted:
Flex Template launches time out if they wait.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.runner import PipelineResult

from pipeline import dataflow, local_streaming
from pipeline.graph import build_pipeline
from pipeline.options import ClassifyOptions, OptionsError
from pipeline.progress import show_progress
from pipeline.settings import resolve
from pipeline.summary import format_summary, listing_skips, printable, run_summary, tracker_summary
from transforms.beam_compat import BeamArgumentParser
from transforms.clients import anonymous_beam_credentials_for_emulators
from transforms.redact import RedactingFilter

STOPPED = ("Stopped by Ctrl-C. The summary below is what was written; run the same command again to finish "
           "(what is written again replaces its row, never adds one).")
LOCAL_RUNNERS = {"FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", "PrismRunner", "SwitchingDirectRunner"}


class CtrlC:
    """Notes a Ctrl-C (SIGINT) during a local run, then interrupts as Python does.

    Used for backfills; a local streaming run has its own handler (it drains).
    A second Ctrl-C gets Python's default behaviour.
    """

    def __init__(self, enabled: bool = True):
        self.enabled, self.pressed = enabled, False
        self._previous: Callable[[int, FrameType | None], Any] | int | None = None

    def _handle(self, _signum, _frame):
        self.pressed = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        raise KeyboardInterrupt

    def __enter__(self) -> "CtrlC":
        current = signal.getsignal(signal.SIGINT)
        if self.enabled and threading.current_thread() is threading.main_thread() \
                and current is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def quiet(self, record: logging.LogRecord) -> bool:
        """Logging filter: after Ctrl-C, Beam's log of the interrupted step (a traceback) says nothing new."""
        if not self.pressed:
            return True
        text = record.getMessage() + (str(record.exc_info[1]) if record.exc_info else "")
        return "KeyboardInterrupt" not in text and not (
            record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt))


def _drop_known_noise(record: logging.LogRecord) -> bool:
    """Beam 2.77's RunInference warns on every batch when torch is absent (its memory
    probe imports torch); we do not use torch, so the warning says nothing."""
    return not str(record.msg).startswith("Resource module is not available")


def print_help() -> None:
    parser = BeamArgumentParser(
        prog="python -m pipeline",
        description="Classify images in a folder or bucket (backfill) or from GCS notifications "
                    "(streaming). Beam and Dataflow options (--runner, --project, --region, "
                    "--temp_location, ...) are accepted as well.")
    ClassifyOptions._add_argparse_args(parser)  # pylint: disable=protected-access
    parser.print_help()


def _local_defaults(argv: list[str], streaming: bool) -> list[str]:
    """Offline-safe runner defaults: the default runner would try to download Prism first."""
    if not any(a.startswith("--runner") for a in argv):
        argv = [*argv, "--runner=" + ("BundleBasedDirectRunner" if streaming else "FnApiRunner")]
    return argv


def _uses_only_emulators_or_local(settings) -> bool:
    paths = [settings.input or "", settings.category_root]
    cloud = (any(p.startswith("gs://") for p in paths) or settings.bigquery_dataset or settings.subscription
             or settings.firestore)
    emulated = any(os.environ.get(v) for v in ("STORAGE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST",
                                               "BIGQUERY_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST"))
    return not cloud or emulated


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        print_help()
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_drop_known_noise)
        handler.addFilter(RedactingFilter())
    try:
        settings, options = resolve(argv)
    except OptionsError as e:
        print(f"error: {printable(e)}", file=sys.stderr)
        return 2
    if dataflow.is_dataflow(dataflow.runner_of(argv)):
        try:
            dataflow.check_options(options.view_as(ClassifyOptions))
        except OptionsError as e:
            print(f"error: {printable(e)}", file=sys.stderr)
            return 2
        argv = dataflow.with_worker_image(argv)   # workers run the launcher's image
    return _run(argv, settings, options)


def _run(argv: list[str], settings, options) -> int:
    """Build and run the job: submitted without waiting on a remote runner, watched locally."""
    if _uses_only_emulators_or_local(settings):
        os.environ.setdefault("NO_GCE_CHECK", "true")   # no 25 s metadata-server probe offline
        anonymous_beam_credentials_for_emulators()
    options = type(options)(_local_defaults(argv, settings.streaming))
    runner = options.view_as(StandardOptions).runner or ""
    if settings.streaming:
        options.view_as(StandardOptions).streaming = True

    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.monotonic()
    p = beam.Pipeline(options=options)
    build_pipeline(p, settings)
    if runner.split(".")[-1] not in LOCAL_RUNNERS:
        submitted = p.run()   # submits and returns: a Flex Template launch must not wait
        if dataflow.is_dataflow(runner):
            print(dataflow.submission_report(submitted, options))
        else:
            job_id = getattr(submitted, "job_id", lambda: None)()
            print(f"Submitted {runner} job {job_id or ''}".rstrip())
        return 0
    if settings.streaming:
        # prompt pulls, acks once written, and Ctrl-C / SIGTERM drain instead of dropping work
        local_streaming.install(settings.category_root)
    result: PipelineResult | None = None
    ctrl_c = CtrlC(enabled=not settings.streaming)   # streaming: local_streaming drains on SIGINT
    for handler in logging.getLogger().handlers:
        handler.addFilter(ctrl_c.quiet)
    with show_progress(settings.streaming) as tracker, ctrl_c:   # FnApiRunner runs the job inside p.run()
        try:
            result = p.run()
            if settings.streaming:
                local_streaming.wait_until_stopped(result)
            else:
                result.wait_until_finish()
        except BaseException as e:
            # Beam re-raises a KeyboardInterrupt from inside a step as RuntimeError: the handler tells.
            if ctrl_c.pressed:
                print(STOPPED, file=sys.stderr)
            elif isinstance(e, KeyboardInterrupt):
                print("Interrupted: stopping.", file=sys.stderr)
            else:
                raise
    figures = run_summary(settings.duckdb, started) if settings.duckdb else tracker_summary(tracker)
    print(format_summary(figures, seconds=time.monotonic() - t0, duckdb_path=settings.duckdb,
                         category_root=settings.category_root, bigquery_dataset=settings.bigquery_dataset,
                         skips=listing_skips(result) if result is not None else None,
                         firestore=settings.firestore.path if settings.firestore else None))
    return 130 if ctrl_c.pressed else 0
