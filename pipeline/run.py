"""Parse the command line, build the job, run it.

Locally the job runs to the end (or until Ctrl-C for streaming) and prints a
summary. On Dataflow the launch returns as soon as the job is submitted:
Flex Template launches time out if they wait.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions, _BeamArgumentParser

from pipeline.graph import build_pipeline
from pipeline.options import ClassifyOptions, OptionsError
from pipeline.settings import resolve
from transforms.clients import anonymous_beam_credentials_for_emulators

LOCAL_RUNNERS = {"FnApiRunner", "DirectRunner", "BundleBasedDirectRunner", "PrismRunner", "SwitchingDirectRunner"}


def _drop_known_noise(record: logging.LogRecord) -> bool:
    """Beam 2.77's RunInference warns on every batch when torch is absent (its memory
    probe imports torch); we do not use torch, so the warning says nothing."""
    return not str(record.msg).startswith("Resource module is not available")


def print_help() -> None:
    parser = _BeamArgumentParser(
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
    cloud = any(p.startswith("gs://") for p in paths) or settings.bigquery_dataset or settings.subscription
    emulated = any(os.environ.get(v) for v in ("STORAGE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST",
                                               "BIGQUERY_EMULATOR_HOST"))
    return not cloud or emulated


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        print_help()
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_drop_known_noise)
    try:
        settings, options = resolve(argv)
    except OptionsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
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
    result = p.run()
    if runner.split(".")[-1] not in LOCAL_RUNNERS:
        job_id = getattr(result, "job_id", lambda: None)()
        print(f"Submitted {runner} job {job_id or ''}".rstrip())
        return 0
    try:
        result.wait_until_finish()
    except KeyboardInterrupt:
        print("Interrupted: stopping.", file=sys.stderr)
    if settings.duckdb:
        from pipeline.summary import format_summary, run_summary
        print(format_summary(run_summary(settings.duckdb, started), seconds=time.monotonic() - t0,
                             duckdb_path=settings.duckdb, category_root=settings.category_root))
    return 0
