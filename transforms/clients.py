"""Google Cloud clients, built on the worker, never at graph construction. When an
emulator host is configured the clients use anonymous credentials, so nothing waits
for a metadata server that is not there.

Per-process state (clients, pools) is held through Beam's `Shared`: a DoFn acquires
it in `setup` and keeps it (Shared itself holds it only by weak reference).
"""
from __future__ import annotations

import os
import threading

from apache_beam.utils.shared import Shared

from transforms.beam_compat import forget_beam_credentials

COPY_MARKER = "classified-copy-of"   # custom metadata key on every category copy


def emulated(service: str) -> bool:
    return bool(os.environ.get({"storage": "STORAGE_EMULATOR_HOST",
                                "pubsub": "PUBSUB_EMULATOR_HOST",
                                "bigquery": "BIGQUERY_EMULATOR_HOST"}[service]))


def storage_client():
    from google.cloud import storage
    if emulated("storage"):
        from google.auth.credentials import AnonymousCredentials
        return storage.Client(project=os.environ.get("GOOGLE_CLOUD_PROJECT", "test-project"),
                              credentials=AnonymousCredentials())
    return storage.Client()


class ProcessStorage:
    """The worker process's Cloud Storage client, shared by every DoFn and thread (it is thread-safe
    and pools connections). Built on first use: a job that touches no bucket never looks for credentials."""

    def __init__(self):
        self._client = None
        self._lock = threading.Lock()

    @property
    def client(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = storage_client()
        return self._client


_PROCESS_STORAGE = Shared()   # one handle, made at import: one key per process


def process_storage() -> ProcessStorage:
    """This process's ProcessStorage; acquire it in DoFn.setup and keep it."""
    return _PROCESS_STORAGE.acquire(ProcessStorage)


def split_gcs(uri: str) -> tuple[str, str]:
    """gs://bucket/some/name -> (bucket, some/name)."""
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// path: {uri}")
    bucket, _, name = uri[5:].partition("/")
    return bucket, name


def anonymous_beam_credentials_for_emulators() -> None:
    """Make Beam's own GCS client connect anonymously when an emulator is configured.

    Beam looks for Google credentials with four retries (about 22 s) before it
    falls back to anonymous access; against a local stand-in there are none to
    find. Called on the launcher and in worker setup; a no-op without emulators.
    """
    if not emulated("storage"):
        return
    forget_beam_credentials()
