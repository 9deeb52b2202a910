"""Turn a command line into validated, resolved settings.

Everything that can be wrong with a command line is found here, before a job
starts, and reported as one line. The result is a small frozen value that the
transforms take instead of PipelineOptions, so they stay easy to test and pickle.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from apache_beam.options.pipeline_options import GoogleCloudOptions, PipelineOptions, StandardOptions

from pipeline.categories_file import load_taxonomy
from pipeline.options import ClassifyOptions, OptionsError, matches_regex, parse_features, unknown_flags
from transforms.sinks.bigquery_client import parse_dataset
from transforms.sinks.firestore_sink import FirestoreTarget
from transforms.stages.backends import unsupported_features
from transforms.stages.vision.job_limit import JobLimit, parse_descriptor
from transforms.taxonomy import Taxonomy, TaxonomyError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclass(frozen=True)
class Settings:
    input: str | None
    input_manifest: str | None
    subscription: str | None
    streaming: bool
    backend: str
    vision_endpoint: str | None
    features: tuple[str, ...]
    min_confidence: float
    max_labels: int
    duckdb: str | None
    bigquery_dataset: str | None
    category_root: str
    quarantine_category: str
    taxonomy: Taxonomy                   # --categories, read and checked here
    model_dir: str
    inference_batch_size: int
    local_precision: str
    detector_model: str | None
    batch_max_wait_secs: float
    max_concurrent_requests: int
    vision_requests_per_minute: int
    vision_call_deadline_secs: float
    vision_rate_limit: JobLimit | None   # --vision_rate_limit_service/_domain/_descriptor; None = no job-wide limit
    output_topic: str | None
    firestore: FirestoreTarget | None = None   # --firestore_collection/_project/_database


def _is_gcs(path: str) -> bool:
    return path.startswith("gs://")


def _norm_local(path: str) -> str:
    return os.path.abspath(os.path.expanduser(path))


def default_category_root(input_path: str | None) -> str:
    """`classified` beside the input: a sibling folder, or the bucket's top level."""
    if not input_path:
        raise OptionsError("--category_root is required in streaming mode (e.g. gs://BUCKET/classified)")
    if _is_gcs(input_path):
        bucket = input_path[5:].split("/", 1)[0]
        return f"gs://{bucket}/classified"
    return os.path.join(os.path.dirname(_norm_local(input_path).rstrip(os.sep)), "classified")


def _inside(child: str, parent: str) -> bool:
    child, parent = child.rstrip("/") + "/", parent.rstrip("/") + "/"
    return child.startswith(parent)


def _check_source(o, std) -> bool:
    """Exactly one source; returns whether the job streams."""
    if o.input and o.input_manifest:
        raise OptionsError("--input and --input_manifest exclude each other: "
                           "list a folder or bucket, or read a manifest")
    if bool(o.input or o.input_manifest) == bool(o.subscription):
        raise OptionsError("give exactly one of --input or --input_manifest (backfill) or --subscription (streaming)")
    if o.input and std.streaming:
        raise OptionsError("--streaming contradicts --input: a backfill is a batch job; use --subscription to stream")
    return bool(o.subscription)


def _check_numbers(o) -> None:
    if not 0.0 <= o.min_confidence <= 1.0:
        raise OptionsError(f"--min_confidence must be between 0 and 1, got {o.min_confidence}")
    if o.max_labels < 1:
        raise OptionsError(f"--max_labels must be at least 1, got {o.max_labels}")
    if o.inference_batch_size < 1 or o.max_concurrent_requests < 1:
        raise OptionsError("--inference_batch_size and --max_concurrent_requests must be at least 1")
    if o.batch_max_wait_secs < 0 or o.vision_requests_per_minute < 0:
        raise OptionsError("--batch_max_wait_secs and --vision_requests_per_minute cannot be negative")
    if not 0 < o.vision_call_deadline_secs <= 3600:
        raise OptionsError(f"--vision_call_deadline_secs must be above 0 and at most 3600, got "
                           f"{o.vision_call_deadline_secs}")
    if o.vision_endpoint and not o.vision_endpoint.startswith(("http://", "https://")):
        raise OptionsError(f"--vision_endpoint must be an http(s) URL, got {o.vision_endpoint!r}")


def _rate_limit(o) -> JobLimit | None:
    """The job-wide Vision limit, checked here (its service is first contacted by the workers)."""
    if not o.vision_rate_limit_service:
        return None
    if o.backend != "vision":
        raise OptionsError("--vision_rate_limit_service limits Vision calls: it needs --backend=vision")
    service = o.vision_rate_limit_service.strip()
    if not matches_regex("vision_rate_limit_service", service) or not 0 < int(service.rsplit(":", 1)[1]) < 65536:
        raise OptionsError(f"--vision_rate_limit_service must be HOST:PORT of an Envoy Rate Limit Service "
                           f"(e.g. 10.128.0.5:8081), got {o.vision_rate_limit_service!r}")
    if not matches_regex("vision_rate_limit_domain", o.vision_rate_limit_domain or ""):
        raise OptionsError(f"--vision_rate_limit_domain must be a name (letters, digits, _ . -), "
                           f"got {o.vision_rate_limit_domain!r}")
    try:
        descriptor = parse_descriptor(o.vision_rate_limit_descriptor or "")
    except ValueError as e:
        raise OptionsError(f"--vision_rate_limit_descriptor must be key=value[,key=value...]: {e}") from None
    return JobLimit(service, o.vision_rate_limit_domain, descriptor)


def _check_bigquery(o, options: PipelineOptions, streaming: bool) -> None:
    if not o.bigquery_dataset:
        return
    try:
        parse_dataset(o.bigquery_dataset)
    except ValueError:
        raise OptionsError(f"--bigquery_dataset must be PROJECT:DATASET, got {o.bigquery_dataset!r}") from None
    temp = options.get_all_options().get("temp_location") or ""
    if not streaming and not temp.startswith("gs://"):
        raise OptionsError("--bigquery_dataset in a backfill writes with load jobs: "
                           "give --temp_location=gs://BUCKET/tmp for their files")


def _firestore(o, options: PipelineOptions) -> FirestoreTarget | None:
    """Where documents go: the collection, in --firestore_project (default: the job's project)."""
    if not o.firestore_collection:
        if o.firestore_project:
            raise OptionsError("--firestore_project needs --firestore_collection")
        return None
    if not matches_regex("firestore_collection", o.firestore_collection):
        raise OptionsError(f"--firestore_collection must be a collection id (letters, digits, _ . -), "
                           f"got {o.firestore_collection!r}")
    project = o.firestore_project or options.view_as(GoogleCloudOptions).project
    if not project:
        raise OptionsError("--firestore_collection needs --firestore_project or the job's --project")
    if not matches_regex("firestore_project", project):
        raise OptionsError(f"--firestore_project must be a project id, got {project!r}")
    database = o.firestore_database or "(default)"
    if not matches_regex("firestore_database", database):
        raise OptionsError(f"--firestore_database must be (default) or a database id, got {database!r}")
    return FirestoreTarget(project, o.firestore_collection, database)


def _input_path(o) -> str | None:
    input_path = o.input
    if input_path and not _is_gcs(input_path):
        input_path = _norm_local(input_path)
        if not os.path.isdir(input_path):
            raise OptionsError(f"--input {o.input!r} is not a folder (or a gs:// path)")
    if input_path and _is_gcs(input_path) and len(input_path) <= 5:
        raise OptionsError("--input gs:// needs a bucket name")
    return input_path


def _category_root(o, input_path: str | None) -> str:
    if o.input_manifest and not o.category_root:
        raise OptionsError("--input_manifest needs --category_root (e.g. gs://BUCKET/classified)")
    category_root = o.category_root or default_category_root(input_path)
    if not _is_gcs(category_root):
        category_root = _norm_local(category_root)
    if input_path and _is_gcs(input_path) and not _is_gcs(category_root):
        raise OptionsError("--category_root must be a gs:// path when --input is a bucket")
    # Resolved as well: through a link, the two strings can differ and still be one folder.
    if input_path and (_inside(input_path, category_root) or not _is_gcs(input_path) and
                       _inside(os.path.realpath(input_path), os.path.realpath(category_root))):
        raise OptionsError(f"--input {input_path} is inside --category_root {category_root}: "
                           "every input image would look like a copy")
    return category_root


def _taxonomy(o) -> Taxonomy:
    """--categories read and checked now: a bad file stops the job before it starts."""
    try:
        taxonomy = load_taxonomy(o.categories)
    except TaxonomyError as e:
        raise OptionsError(f"--categories {e}") from None
    if o.quarantine_category in taxonomy.names:
        raise OptionsError(f"--categories names {o.quarantine_category!r}, the --quarantine_category: "
                           "unsafe images would mix with that category")
    return taxonomy


def _duckdb_path(o) -> str | None:
    duckdb = o.duckdb
    if not duckdb and not o.bigquery_dataset:
        duckdb = os.path.join("out", "results.duckdb")
    if duckdb and _is_gcs(duckdb):
        raise OptionsError("--duckdb must be a local file; use --bigquery_dataset for cloud results")
    return _norm_local(duckdb) if duckdb else duckdb


def resolve(argv: list[str]) -> tuple[Settings, PipelineOptions]:
    """Validate the command line; raise OptionsError with a one-line message."""
    unknown = unknown_flags(argv)
    if unknown:
        raise OptionsError(f"unknown option {unknown[0]} (see --help)")
    options = PipelineOptions(argv)
    o = options.view_as(ClassifyOptions)
    std = options.view_as(StandardOptions)
    streaming = _check_source(o, std)
    if streaming:
        std.streaming = True
    features = parse_features(o.features)
    refused = unsupported_features(o.backend, features)
    if refused:
        raise OptionsError(refused)
    _check_numbers(o)
    rate_limit = _rate_limit(o)
    _check_bigquery(o, options, streaming)
    input_path = _input_path(o)
    category_root = _category_root(o, input_path)
    duckdb = _duckdb_path(o)
    taxonomy = _taxonomy(o)
    model_dir = o.model_dir or os.environ.get("IMAGE_CLASSIFIER_MODEL_DIR") or os.path.join(REPO_ROOT, "models")

    return Settings(
        input=input_path, input_manifest=o.input_manifest, subscription=o.subscription,
        streaming=streaming, backend=o.backend,
        vision_endpoint=o.vision_endpoint, features=features, min_confidence=o.min_confidence,
        max_labels=o.max_labels, duckdb=duckdb, bigquery_dataset=o.bigquery_dataset,
        category_root=category_root.rstrip("/"), quarantine_category=o.quarantine_category,
        taxonomy=taxonomy, model_dir=model_dir, inference_batch_size=o.inference_batch_size,
        local_precision=o.local_precision,
        detector_model=o.detector_model, batch_max_wait_secs=o.batch_max_wait_secs,
        max_concurrent_requests=o.max_concurrent_requests,
        vision_requests_per_minute=o.vision_requests_per_minute, vision_rate_limit=rate_limit,
        vision_call_deadline_secs=o.vision_call_deadline_secs,
        output_topic=o.output_topic, firestore=_firestore(o, options),
    ), options
