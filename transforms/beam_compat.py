"""Every use of Beam's private parts, in one place, checked against the Beam version.

The project pins one Beam release (setup.py). Some things it needs are only in
Beam's internals: the argument parser Beam's own options use, the streaming
insert DoFn (to learn which rows were written), the wait for load jobs, the
credentials cache (anonymous access to local stand-ins), the apitools BigQuery
client, and the local runner's Pub/Sub read. A Beam upgrade may move any of
them; importing this module with another minor release fails at once with the
list of what to re-check, instead of failing later inside a running job.
"""
from __future__ import annotations

import itertools

import apache_beam as beam
from apache_beam.io.gcp.bigquery import BigQueryWriteFn
from apache_beam.io.gcp.bigquery_tools import BigQueryWrapper
from apache_beam.options.pipeline_options import _BeamArgumentParser

TESTED_BEAM = "2.77"
SHIMS = ("BeamArgumentParser", "InsertRowsReportingWritten", "WaitForLoadJobs", "forget_beam_credentials",
         "apitools_bigquery", "patch_direct_pubsub_read")


def check_beam_version(version: str = beam.__version__) -> None:
    if not (version == TESTED_BEAM or version.startswith(TESTED_BEAM + ".")):
        raise ImportError(f"this project uses private parts of Beam {TESTED_BEAM} ({', '.join(SHIMS)}); "
                          f"Beam {version} is installed: re-check them in transforms/beam_compat.py, "
                          "then change TESTED_BEAM and the pin in setup.py")


check_beam_version()

BeamArgumentParser = _BeamArgumentParser
LOAD_POLL_SECS = 1


class WaitForLoadJobs(beam.DoFn):
    """(destination, job reference) -> the same, once the load job has finished.

    WriteToBigQuery's FILE_LOADS outputs its load jobs when they start; the rows
    of a load job are written only when it ends (a failed load fails the job).
    """

    def __init__(self, client=None):
        self.client = client

    def setup(self):
        self.bq = BigQueryWrapper(client=self.client)

    def process(self, destination_and_job):
        self.bq.wait_for_bq_job(destination_and_job[1], sleep_duration_sec=LOAD_POLL_SECS)
        yield destination_and_job


class InsertRowsReportingWritten(BigQueryWriteFn):
    """Beam's streaming-insert DoFn that also outputs, on WRITTEN, each row BigQuery
    accepted: Beam outputs only the refused ones, and "done" must mean written."""

    WRITTEN = "written"

    def _flush_batch(self, destination):
        sent = [(row_and_id[0], window) for row_and_id, window in self._rows_buffer[destination]]
        outputs = list(super()._flush_batch(destination))
        refused = {id(out.value.value[1]) for out in outputs if out.tag == BigQueryWriteFn.FAILED_ROWS}
        written = [beam.pvalue.TaggedOutput(self.WRITTEN, window.with_value(row))
                   for row, window in sent if id(row) not in refused]
        return itertools.chain(outputs, written)


def forget_beam_credentials() -> None:
    """Make Beam's GCS client connect anonymously (no credential search) from now on."""
    from apache_beam.internal.gcp import auth
    with auth._Credentials._credentials_lock:
        auth._Credentials._credentials_init = True
        auth._Credentials._credentials = None


def apitools_bigquery(url: str):
    """Beam's own (apitools) BigQuery client, pointed at `url`."""
    from apache_beam.internal.http_client import get_new_http
    from apache_beam.io.gcp.internal.clients import bigquery as apitools_bq
    return apitools_bq.BigqueryV2(url=url + "/bigquery/v2/", credentials=None, get_credentials=False,
                                  http=get_new_http(), response_encoding="utf8")


def patch_direct_pubsub_read(wrap_client, stopped) -> None:
    """On the local (direct) runner: wrap the Pub/Sub read's subscriber client with
    `wrap_client`, and end the read, watermark at the end of time, once `stopped()`."""
    from apache_beam.runners.direct import transform_evaluator as te
    from apache_beam.runners.direct.util import TransformResult
    from apache_beam.utils.timestamp import MAX_TIMESTAMP

    evaluator = te._PubSubReadEvaluator
    # Beam's evaluator is patched in place, the only way into the local runner's read: mypy cannot follow that.
    get_client = evaluator._get_subscriber_client.__func__  # type: ignore[attr-defined]
    finish_bundle = evaluator.finish_bundle

    def _get_subscriber_client(cls, transform):
        return wrap_client(get_client(cls, transform))

    def _finish_bundle(self):
        if stopped():
            return TransformResult(self, [], [], None, {None: MAX_TIMESTAMP})
        return finish_bundle(self)

    evaluator._get_subscriber_client = classmethod(_get_subscriber_client)  # type: ignore[method-assign,assignment]
    evaluator.finish_bundle = _finish_bundle  # type: ignore[method-assign]
