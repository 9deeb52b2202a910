"""Shared fixtures: real stand-ins on free loopback ports, started once per session."""
from __future__ import annotations

import os
from unittest import mock

import pytest

from tests import emulators

os.environ.setdefault("NO_GCE_CHECK", "true")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.environ.get("IMAGE_CLASSIFIER_MODEL_DIR", os.path.join(REPO, "models"))


@pytest.fixture(scope="session")
def model_dir() -> str:
    """The models `make setup` built; the suite fails (not skips) without them."""
    from transforms.stages.local.build.__main__ import build
    build(MODEL_DIR, log=lambda _: None)  # idempotent: rebuilds only what is missing or stale
    return MODEL_DIR


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory):
    """fake-gcs-server; sets STORAGE_EMULATOR_HOST for the clients in this process."""
    with emulators.fake_gcs(str(tmp_path_factory.mktemp("fakegcs"))) as (url, root):
        old = os.environ.get("STORAGE_EMULATOR_HOST")
        os.environ["STORAGE_EMULATOR_HOST"] = url
        os.environ.setdefault("GOOGLE_CLOUD_PROJECT", emulators.PROJECT)
        try:
            yield {"url": url, "root": root}
        finally:
            if old is None:
                os.environ.pop("STORAGE_EMULATOR_HOST", None)
            else:
                os.environ["STORAGE_EMULATOR_HOST"] = old


@pytest.fixture(scope="session")
def pubsub_host(tmp_path_factory):
    with emulators.pubsub_emulator(str(tmp_path_factory.mktemp("pubsub"))) as host:
        yield host


@pytest.fixture(scope="session")
def bq_url(tmp_path_factory):
    with emulators.bq_emulator(str(tmp_path_factory.mktemp("bq"))) as url:
        yield url


@pytest.fixture(scope="session")
def bq_gcs(gcs_server, tmp_path_factory):
    """bqemulator that reads load-job files from fake-gcs-server (Beam's FILE_LOADS);
    sets BIGQUERY_EMULATOR_HOST for the clients in this process while it runs."""
    with emulators.bq_emulator(str(tmp_path_factory.mktemp("bqgcs")), gcs_root=gcs_server["root"]) as url, \
            mock.patch.dict(os.environ, {"BIGQUERY_EMULATOR_HOST": url}):
        yield url


@pytest.fixture(scope="session")
def firestore_host(tmp_path_factory):
    """gcloud's Firestore emulator; sets FIRESTORE_EMULATOR_HOST for the clients in this process while it runs."""
    with emulators.firestore_emulator(str(tmp_path_factory.mktemp("firestore"))) as host, \
            mock.patch.dict(os.environ, {"FIRESTORE_EMULATOR_HOST": host}):
        yield host
