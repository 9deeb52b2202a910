"""BigQuery clients and names, shared by the sink and the analytics runner.

Production uses Google's default credentials. When BIGQUERY_EMULATOR_HOST is set
(tests, the demo) every client talks to that host with anonymous credentials, so
nothing waits for a metadata server that is not there. Beam's BigQuery sink takes
one `test_client` for two jobs (its apitools client for tables and load jobs, and
`insert_rows_json` for streaming inserts); `BeamEmulatorClient` is that client,
picklable because Beam ships it to the workers inside the DoFn.
"""
from __future__ import annotations

import os
import re

from transforms.beam_compat import apitools_bigquery

EMULATOR_ENV = "BIGQUERY_EMULATOR_HOST"
# PROJECT:DATASET or PROJECT.DATASET; project ids may carry a domain prefix
# (example.com:project); datasets are letters, digits and _.
_DATASET_SPEC = re.compile(r"^(?P<project>(?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9])"
                           r"[:.](?P<dataset>[A-Za-z0-9_]{1,1024})$")


def parse_dataset(spec: str) -> tuple[str, str]:
    """'PROJECT:DATASET' -> (project, dataset), validated, because both end up as
    identifiers in SQL text."""
    m = _DATASET_SPEC.match(spec or "")
    if not m:
        raise ValueError(f"not a PROJECT:DATASET name: {spec!r}")
    return m["project"], m["dataset"]


def table_spec(dataset_spec: str, table: str) -> str:
    project, dataset = parse_dataset(dataset_spec)
    return f"{project}:{dataset}.{table}"


def emulator_url() -> str | None:
    url = os.environ.get(EMULATOR_ENV)
    if url and not url.startswith(("http://", "https://")):
        url = "http://" + url
    return url.rstrip("/") if url else None


def bigquery_client(project: str):
    """google-cloud-bigquery client; anonymous and pointed at the emulator when one is set."""
    from google.cloud import bigquery
    url = emulator_url()
    if url:
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        return bigquery.Client(project=project, credentials=AnonymousCredentials(),
                               client_options=ClientOptions(api_endpoint=url))
    return bigquery.Client(project=project)


class BeamEmulatorClient:
    """Beam's apitools BigQuery client plus `insert_rows_json`, both on the emulator.

    Holds only the URL and project when pickled; the real clients are built on
    first use on the worker.
    """

    def __init__(self, url: str, project: str):
        self.url, self.project = url, project
        self._apitools = self._gcp = None

    def __getstate__(self):
        return {"url": self.url, "project": self.project}

    def __setstate__(self, state):
        self.__init__(state["url"], state["project"])

    def insert_rows_json(self, *args, **kwargs):
        if self._gcp is None:
            self._gcp = bigquery_client(self.project)
        return self._gcp.insert_rows_json(*args, **kwargs)

    def __getattr__(self, name):
        if name.startswith("_") or name in ("url", "project"):
            raise AttributeError(name)
        if self._apitools is None:
            self._apitools = apitools_bigquery(self.url)
        return getattr(self._apitools, name)


def beam_test_client(project: str) -> BeamEmulatorClient | None:
    """The client Beam's sink should use: the emulator's, or None for Google's default."""
    url = emulator_url()
    return BeamEmulatorClient(url, project) if url else None
