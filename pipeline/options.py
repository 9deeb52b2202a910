"""The pipeline's options: one list from which the command line, the Flex
Template's metadata.json and the options table of docs/running.md all follow.

Parsing and validation are separate from running, so both can be tested
without starting a job.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from apache_beam.options.pipeline_options import PipelineOptions

from transforms.beam_compat import BeamArgumentParser

DEFAULT_FEATURES = "LABEL_DETECTION,OBJECT_LOCALIZATION,SAFE_SEARCH_DETECTION"
ALL_FEATURES = (
    "LABEL_DETECTION", "OBJECT_LOCALIZATION", "SAFE_SEARCH_DETECTION", "FACE_DETECTION",
    "TEXT_DETECTION", "DOCUMENT_TEXT_DETECTION", "LANDMARK_DETECTION", "LOGO_DETECTION",
    "IMAGE_PROPERTIES",
)


# HOST:PORT of a gRPC service: a name or IPv4 address, or an IPv6 address in brackets.
SERVICE_ADDRESS = r"^([A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$"


@dataclass(frozen=True)
class Opt:
    name: str
    help: str
    label: str
    default: object = None
    type: type = str
    choices: tuple | None = None
    regex: str | None = None  # validation for the template's metadata.json
    # What Dataflow asks of it, checked at launch and written into metadata.json and the docs:
    # "optional", "required", "gcs" (when given, a gs:// path: workers share no disk) or "refused".
    on_dataflow: str = "optional"
    dataflow_why: str = ""     # the reason, shown in the error and the docs
    picker: str | None = None  # the Dataflow console's input picker for a cloud resource (paramType)

    def __post_init__(self):
        if self.on_dataflow not in ("optional", "required", "gcs", "refused"):
            raise ValueError(f"--{self.name}: unknown on_dataflow rule {self.on_dataflow!r}")


OPTIONS: tuple[Opt, ...] = (
    Opt("input", "Backfill: a local folder or gs://bucket[/prefix]; every image under it is classified.",
        "Input folder or bucket", regex=r"^(gs://[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](/.*)?|[^\s].*)$",
        on_dataflow="gcs", picker="GCS_READ_FOLDER"),
    Opt("input_manifest", "Backfill from manifest files instead of a listing (local or gs://, glob "
        "allowed): Storage Insights inventory reports (CSV with header, or .parquet) or plain lists of "
        "gs:// URIs (optional generation as #N or a second column). Excludes --input.",
        "Input manifest", regex=r"^[^\s].*$"),
    Opt("subscription", "Streaming: Pub/Sub subscription receiving GCS notifications "
        "(projects/P/subscriptions/S). Implies streaming mode.", "Notification subscription",
        regex=r"^projects/[^/]+/subscriptions/[^/]+$", picker="PUBSUB_SUBSCRIPTION"),
    Opt("backend", "Where images are annotated: 'local' (offline models on the workers) or "
        "'vision' (Cloud Vision API).", "Annotation backend", default="local",
        choices=("local", "vision"), regex=r"^(local|vision)$"),
    Opt("vision_endpoint", "Vision-compatible endpoint URL (regional endpoint, or a local one over "
        "http, which is used with anonymous credentials).", "Vision API endpoint",
        regex=r"^https?://[^\s]+$"),
    Opt("features", "Comma-separated Vision feature names to request.", "Features",
        default=DEFAULT_FEATURES, regex=r"^[A-Z_]+(,[A-Z_]+)*$"),
    Opt("min_confidence", "Keep labels and objects scoring at or above this (0-1).",
        "Minimum confidence", default=0.7, type=float, regex=r"^(0(\.\d+)?|1(\.0+)?)$"),
    Opt("max_labels", "Keep at most this many labels per image.", "Maximum labels",
        default=15, type=int, regex=r"^[1-9]\d*$"),
    Opt("duckdb", "Embedded results database file (tables classifications, errors). "
        "Default out/results.duckdb when no BigQuery dataset is given.", "DuckDB file",
        on_dataflow="refused",
        dataflow_why="a file on one worker's disk would be lost; use --bigquery_dataset"),
    Opt("bigquery_dataset", "BigQuery dataset for results (PROJECT:DATASET); tables are created if missing.",
        "BigQuery dataset", regex=r"^[a-z][a-z0-9.:-]{4,61}[a-z0-9][:.][A-Za-z0-9_]{1,1024}$",
        on_dataflow="required",
        dataflow_why="results need a dataset there (a DuckDB file on a worker would be lost)"),
    # --- Firestore: one document per image, beside the tables (docs/firestore.md) ---
    Opt("firestore_collection", "Optional Firestore (native mode) collection for one document per image, "
        "with the fields and queries of the Cloud Function this project grew from (e.g. "
        "image_classifications). Written beside the tables, never instead of them.", "Firestore collection",
        regex=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}$"),
    Opt("firestore_project", "Project of the Firestore database. Default: the job's --project.",
        "Firestore project", regex=r"^([a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$"),
    Opt("firestore_database", "Firestore database id within that project.", "Firestore database",
        default="(default)", regex=r"^(\(default\)|[a-z][a-z0-9-]{2,61}[a-z0-9])$"),
    # --- end Firestore ---
    Opt("category_root", "Where category copies go: <root>/<category>/<path under the input>. "
        "Default: 'classified' beside the input (for a bucket, gs://bucket/classified).",
        "Category root", on_dataflow="gcs", picker="GCS_WRITE_FOLDER"),
    Opt("quarantine_category", "Category for images that safe search marks unsafe.",
        "Quarantine category", default="quarantine", regex=r"^[a-z0-9][a-z0-9_-]*$"),
    # ---- categories (taxonomy) ----
    Opt("categories", "How images are filed into category folders: 'builtin:everyday' (coarse everyday "
        "categories, the same on both backends), a YAML file of your own (local or gs://; "
        "docs/categories.md), or 'top_label' (the top label is the folder). Read and checked before the job starts.",
        "Categories", default="builtin:everyday", regex=r"^[^\s].*$"),
    Opt("model_dir", "Folder (or gs:// path) holding the local models built by `make setup`.",
        "Model folder", on_dataflow="gcs", picker="GCS_READ_FOLDER"),
    Opt("inference_batch_size", "Images per local model call.", "Inference batch size",
        default=16, type=int, regex=r"^[1-9]\d*$"),
    Opt("local_precision", "Precision of the local ONNX models: 'fp32' (the original weights) or 'int8' "
        "(the quantised copies `make models-int8` writes, calibrated on the quality photo set: about 0.6 of "
        "fp32's CPU time, but not yet the same answers, see docs/local-backend.md). int8 falls back to "
        "fp32 for a model without a copy.",
        "Local model precision", default="fp32", choices=("fp32", "int8"), regex=r"^(fp32|int8)$"),
    Opt("detector_model", "Optional YOLO-style object detector ONNX file for OBJECT_LOCALIZATION.",
        "Detector model", on_dataflow="gcs", picker="GCS_READ_FILE"),
    Opt("batch_max_wait_secs", "Longest time an image waits for its Vision batch to fill.",
        "Batch flush timeout (s)", default=2.0, type=float, regex=r"^\d+(\.\d+)?$"),
    Opt("max_concurrent_requests", "Cap on concurrent Vision API calls per worker.",
        "Concurrent Vision calls", default=8, type=int, regex=r"^[1-9]\d*$"),
    Opt("vision_call_deadline_secs", "Longest time one Vision call attempt may take, connecting to the last "
        "byte of the answer; then it is retried (6 attempts in all), then its images become error rows.",
        "Vision call deadline (s)", default=60.0, type=float, regex=r"^\d+(\.\d+)?$"),
    Opt("vision_requests_per_minute", "Optional hard cap on Vision API calls per minute per worker "
        "(0 = none).", "Vision calls per minute", default=0, type=int, regex=r"^\d+$"),
    Opt("vision_rate_limit_service", "Optional job-wide limit on Vision calls, shared by every worker: HOST:PORT "
        "of an Envoy Rate Limit Service (gRPC; e.g. envoyproxy/ratelimit) that every worker asks before each "
        "call, for as many hits as the call has images. On Dataflow it must be reachable from the workers. "
        "Empty = no job-wide limit.", "Vision rate limit service (HOST:PORT)", regex=SERVICE_ADDRESS),
    Opt("vision_rate_limit_domain", "The rate limit service's domain that holds the job-wide Vision limit.",
        "Vision rate limit domain", default="image-classifier", regex=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"),
    Opt("vision_rate_limit_descriptor", "The descriptor of that limit, as key=value (a nested descriptor: "
        "key=value,key=value, outermost first). It must match the service's rule exactly: Envoy allows, "
        "without counting, a descriptor it has no rule for.", "Vision rate limit descriptor",
        default="quota=vision-images", regex=r"^[A-Za-z0-9_.-]+=[^,=\s]+(,[A-Za-z0-9_.-]+=[^,=\s]+)*$"),
    Opt("output_topic", "Optional Pub/Sub topic (projects/P/topics/T) for one event per classified image.",
        "Output topic", regex=r"^projects/[^/]+/topics/[^/]+$", picker="PUBSUB_TOPIC"),
)


class ClassifyOptions(PipelineOptions):
    """The options of the contract in docs/design.md, plus the project's own."""

    @classmethod
    def _add_argparse_args(cls, parser):
        for o in OPTIONS:
            kwargs = {"help": o.help, "default": o.default, "type": o.type}
            if o.choices:
                kwargs["choices"] = o.choices
            parser.add_argument(f"--{o.name}", **kwargs)


class OptionsError(ValueError):
    """A bad command line: reported as one line before the job starts."""


def unknown_flags(argv: list[str]) -> list[str]:
    """Flags no PipelineOptions class knows (Beam itself only warns about them)."""
    parser = BeamArgumentParser(allow_abbrev=False)
    seen: dict = {}
    for cls in PipelineOptions.__subclasses__():
        seen.setdefault(str(cls), cls)
    for cls in seen.values():
        cls._add_argparse_args(parser)  # pylint: disable=protected-access
    _, unknown = parser.parse_known_args(argv)
    return [a for a in unknown if a.startswith("-")]


def matches_regex(name: str, value: str) -> bool:
    """Whether `value` is of the form the option's regex (the template's validation) asks for."""
    (opt,) = [o for o in OPTIONS if o.name == name]
    return bool(opt.regex and re.fullmatch(opt.regex, value))


def parse_features(value: str) -> tuple[str, ...]:
    feats = tuple(dict.fromkeys(f.strip().upper() for f in value.split(",") if f.strip()))
    bad = [f for f in feats if f not in ALL_FEATURES]
    if bad:
        raise OptionsError(f"unknown feature {bad[0]}; known: {', '.join(ALL_FEATURES)}")
    if not feats:
        raise OptionsError("--features is empty")
    return feats
