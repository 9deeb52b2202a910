"""The Dataflow job is built offline, the way a Flex Template launch builds it.

The Flex Template launcher runs `main.py --runner=DataflowRunner ... --template_location=
gs://<staging>/template_launches/<id>/job_object <parameters>`: the pipeline writes the
complete job description there and returns, and the service starts the job from it.
Here Cloud Storage is fake-gcs-server, so the real DataflowRunner stages the pipeline
and writes the real job description without contacting Google (checked with a
Python audit hook on every socket connection and name lookup).
"""
from __future__ import annotations

import ipaddress
import json
import subprocess
import sys

import pytest

from tests import emulators
from tools import docs_gen

pytestmark = pytest.mark.slow

WORKER_IMAGE = "us-central1-docker.pkg.dev/test-project/image-classifier/image-classifier:test"
LAUNCH_BUCKET = "dataflow-launch"
# A value for each template parameter a user of the template sets in these runs.
PARAM_VALUES = {
    "input": "gs://photos-bucket/uploads",
    "subscription": f"projects/{emulators.PROJECT}/subscriptions/image-uploads",
    "bigquery_dataset": f"{emulators.PROJECT}:image_classifier",
    "category_root": "gs://photos-bucket/classified",
    "features": "LABEL_DETECTION,SAFE_SEARCH_DETECTION",
    "min_confidence": "0.6",
    "max_labels": "10",
    "firestore_collection": "image_classifications",   # allowed on Dataflow: a cloud service
}

_network: list | None = None   # socket events while recording, else None


def _audit(event, args):
    if _network is not None and event in ("socket.connect", "socket.getaddrinfo"):
        _network.append((event, args[1] if event == "socket.connect" else args[0]))


sys.addaudithook(_audit)


class recording_network:
    """Collects (event, address) for every connect and name lookup inside the block."""

    def __enter__(self):
        global _network
        _network = []
        return _network

    def __exit__(self, *exc):
        global _network
        _network = None


def _loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _parameter_names() -> set[str]:
    with open(docs_gen.METADATA_PATH, encoding="utf-8") as f:
        return {p["name"] for p in json.load(f)["parameters"]}


def _template_argv(mode: str, backend: str) -> list[str]:
    names = _parameter_names()
    values = dict(PARAM_VALUES, backend=backend)
    if backend == "vision":   # an address no test machine reaches: building the graph must not contact it
        values["vision_rate_limit_service"] = "10.128.0.5:8081"
    values.pop("subscription" if mode == "batch" else "input")
    missing = set(values) - names
    assert not missing, f"not template parameters: {missing}"
    return [f"--{k}={v}" for k, v in values.items()]


def _launcher_argv(job: str) -> list[str]:
    """The flags the Flex Template launcher adds to the user's parameters."""
    return ["--runner=DataflowRunner", f"--project={emulators.PROJECT}", "--region=us-central1",
            f"--job_name={job}", f"--staging_location=gs://{LAUNCH_BUCKET}/staging",
            f"--temp_location=gs://{LAUNCH_BUCKET}/temp",
            f"--template_location=gs://{LAUNCH_BUCKET}/template_launches/{job}/job_object"]


@pytest.fixture(scope="module")
def launch_bucket(gcs_server):
    from transforms.clients import storage_client
    client = storage_client()
    bucket = client.bucket(LAUNCH_BUCKET)
    if not bucket.exists():
        client.create_bucket(LAUNCH_BUCKET)
    return client.bucket(LAUNCH_BUCKET)


@pytest.mark.parametrize("mode,backend", [("batch", "local"), ("batch", "vision"),
                                          ("streaming", "local"), ("streaming", "vision")])
def test_dataflow_job_description_written_offline__template_parameters(
        mode, backend, launch_bucket, monkeypatch, capsys):
    from apache_beam.portability.api import beam_runner_api_pb2

    from pipeline.run import main
    monkeypatch.setenv("IMAGE_CLASSIFIER_WORKER_IMAGE", WORKER_IMAGE)   # as the Dockerfile sets it
    job = f"classify-{mode}-{backend}"
    with recording_network() as network:
        rc = main(_template_argv(mode, backend) + _launcher_argv(job))
    out = capsys.readouterr()
    assert rc == 0, out.err[-3000:]
    assert [n for n in network if not _loopback(n[1])] == [], "contacted something beyond loopback"
    assert "https://console.cloud.google.com/dataflow/jobs?project=test-project" in out.out

    description = json.loads(launch_bucket.blob(f"template_launches/{job}/job_object").download_as_bytes())
    assert description["type"] == ("JOB_TYPE_STREAMING" if mode == "streaming" else "JOB_TYPE_BATCH")
    pool = description["environment"]["workerPools"][0]
    images = {c["containerImage"] for c in pool["sdkHarnessContainerImages"]}
    assert images == {WORKER_IMAGE}
    # Nothing for a worker to install: Beam stages only the pickled session and a
    # diagnostic list of the launcher's packages (never installed), no requirements,
    # sdist, wheel or SDK tarball.
    staged = {p["name"] for p in pool.get("packages", [])}
    assert staged <= {"pickled_main_session", "submission_environment_dependencies.txt"}, staged

    blobs = [b.name for b in launch_bucket.list_blobs(prefix="staging/")
             if b.name.endswith("pipeline.pb") and job in b.name]
    assert len(blobs) == 1, blobs
    proto = beam_runner_api_pb2.Pipeline.FromString(launch_bucket.blob(blobs[0]).download_as_bytes())
    names = {t.unique_name.split("/")[0] for t in proto.components.transforms.values()}
    source = "ReadGcsNotifications" if mode == "streaming" else "ListImages"
    assert {source, "AnnotateImages", "ParseAnnotations", "CopyToCategoryFolders", "WriteResults"} <= names
    transforms = " ".join(t.unique_name for t in proto.components.transforms.values())
    assert ("AnnotateWithVision" in transforms) == (backend == "vision")
    assert "WriteResults/Firestore/Write" in transforms


@pytest.mark.parametrize("mode", ["batch", "streaming"])
def test_graph_construction_does_no_io__dataflow_runner(mode, monkeypatch):
    import apache_beam as beam

    from pipeline.graph import build_pipeline
    from pipeline.settings import resolve
    monkeypatch.setenv("IMAGE_CLASSIFIER_WORKER_IMAGE", WORKER_IMAGE)
    settings, options = resolve(_template_argv(mode, "vision") + _launcher_argv(f"graph-{mode}"))
    p = beam.Pipeline(options=options)   # Beam's own option checks may look at the buckets
    with recording_network() as network:
        build_pipeline(p, settings)
    assert network == []


def test_dataflow_launch_refuses_local_results__duckdb(capsys):
    from pipeline.run import main
    argv = ["--input=gs://photos-bucket/uploads", "--duckdb=/tmp/results.duckdb"] + _launcher_argv("refused")
    assert main(argv) == 2
    assert "--bigquery_dataset" in capsys.readouterr().err


def test_gcloud_builds_template_spec__metadata_json(tmp_path):
    """`gcloud dataflow flex-template build --print-only` validates metadata.json offline
    and prints the spec it would store."""
    proc = subprocess.run(
        ["gcloud", "dataflow", "flex-template", "build", f"gs://{LAUNCH_BUCKET}/templates/spec.json",
         f"--image={WORKER_IMAGE}", "--sdk-language=PYTHON", f"--metadata-file={docs_gen.METADATA_PATH}",
         "--print-only", f"--project={emulators.PROJECT}"],
        capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
             "CLOUDSDK_CONFIG": str(tmp_path), "HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    spec = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert spec["image"] == WORKER_IMAGE
    assert spec["sdkInfo"]["language"] == "PYTHON"
    assert [p["name"] for p in spec["metadata"]["parameters"]] == \
        [o.name for o in docs_gen.template_options()]
