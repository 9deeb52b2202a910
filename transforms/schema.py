"""The one definition of the result tables.

DuckDB DDL, the BigQuery schema and row validation are all generated from the
field lists below, so a column is added in exactly one place.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # STRING, INT64, FLOAT64, BOOL, TIMESTAMP, RECORD
    mode: str = "NULLABLE"  # NULLABLE, REQUIRED, REPEATED
    description: str = ""
    fields: tuple["Field", ...] = field(default=())


def _f(name, type_, mode="NULLABLE", description="", fields=()):
    return Field(name, type_, mode, description, tuple(fields))


LIKELIHOODS = ("UNKNOWN", "VERY_UNLIKELY", "UNLIKELY", "POSSIBLE", "LIKELY", "VERY_LIKELY")
SAFE_SEARCH_KEYS = ("adult", "spoof", "medical", "violence", "racy")

_BOX = _f("box", "FLOAT64", "REPEATED", "normalised x_min, y_min, x_max, y_max")

CLASSIFICATIONS = (
    _f("uri", "STRING", "REQUIRED", "gs://bucket/name or local file path"),
    _f("bucket", "STRING", "REQUIRED", "bucket, or the input folder for local files"),
    _f("name", "STRING", "REQUIRED", "object name, or path relative to the input folder"),
    _f("generation", "INT64", "REQUIRED", "GCS generation; modification time in ns for local files"),
    _f("content_type", "STRING", description="format decided from the bytes"),
    _f("size_bytes", "INT64"),
    _f("width", "INT64", description="pixel width of the original image, when decoded"),
    _f("height", "INT64", description="pixel height of the original image, when decoded"),
    _f("primary_category", "STRING", "REQUIRED", "the category folder: the first category of --categories "
       "whose rules match, the fallback, or the quarantine"),
    _f("top_label", "STRING", description="the top kept label, whatever the category"),
    _f("category_rule", "STRING", description="why the row has its category, e.g. 'label:Cat (0.93)', "
       "'object:Person (0.90)', 'faces:2', 'text:120 chars', 'fallback', 'unsafe', 'top_label'"),
    _f("labels", "RECORD", "REPEATED", fields=(
        _f("name", "STRING"), _f("score", "FLOAT64"), _f("mid", "STRING"))),
    _f("objects", "RECORD", "REPEATED", fields=(
        _f("name", "STRING"), _f("score", "FLOAT64"), _BOX)),
    _f("safe_search", "RECORD", fields=tuple(_f(k, "STRING") for k in SAFE_SEARCH_KEYS)),
    _f("is_safe", "BOOL", description="false when adult, violence or racy is LIKELY or VERY_LIKELY"),
    _f("faces", "RECORD", "REPEATED", fields=(
        _BOX, _f("confidence", "FLOAT64"), _f("joy", "STRING"), _f("sorrow", "STRING"),
        _f("anger", "STRING"), _f("surprise", "STRING"), _f("headwear", "STRING"))),
    _f("text", "STRING", description="full text found (TEXT/DOCUMENT_TEXT_DETECTION)"),
    _f("landmarks", "RECORD", "REPEATED", fields=(
        _f("name", "STRING"), _f("score", "FLOAT64"), _f("mid", "STRING"),
        _f("latitude", "FLOAT64"), _f("longitude", "FLOAT64"))),
    _f("logos", "RECORD", "REPEATED", fields=(
        _f("name", "STRING"), _f("score", "FLOAT64"), _f("mid", "STRING"))),
    _f("dominant_colors", "RECORD", "REPEATED", fields=(
        _f("red", "INT64"), _f("green", "INT64"), _f("blue", "INT64"),
        _f("score", "FLOAT64"), _f("pixel_fraction", "FLOAT64"))),
    _f("backend", "STRING", "REQUIRED", "local or vision"),
    _f("model_version", "STRING"),
    _f("event_time", "TIMESTAMP", "REQUIRED", "upload / modification time of the object"),
    _f("classified_at", "TIMESTAMP", "REQUIRED"),
    _f("category_uri", "STRING", description="where the category copy was written"),
)

STAGES = ("read", "decode", "annotate", "parse", "write", "copy", "notification")

ERRORS = (
    _f("uri", "STRING", "REQUIRED"),
    _f("bucket", "STRING"),
    _f("name", "STRING"),
    _f("generation", "INT64"),
    _f("stage", "STRING", "REQUIRED", "one of " + ", ".join(STAGES)),
    _f("code", "STRING", "REQUIRED", "short machine-readable reason"),
    _f("message", "STRING", "REQUIRED", "what went wrong, for a person"),
    _f("attempts", "INT64"),
    _f("failed_at", "TIMESTAMP", "REQUIRED"),
)

TABLES = {"classifications": CLASSIFICATIONS, "errors": ERRORS}

# The taxonomy as rows, written by `tools.refile` (not by the pipeline) for the
# `taxonomy_categories` analysis: one row per name a rule matches (synonyms included).
CATEGORY_RULES = (
    _f("position", "INT64", "REQUIRED", "the category's place in the list: the smallest match wins"),
    _f("category", "STRING", "REQUIRED"),
    _f("kind", "STRING", "REQUIRED", "label, object, faces, text or fallback"),
    _f("name", "STRING", description="label or object name, lower-case"),
    _f("min_score", "FLOAT64", description="a label or object counts at this score or more"),
    _f("min_count", "INT64", description="faces, or characters of text (spaces aside), at least this many"),
)
ALL_TABLES = {**TABLES, "category_rules": CATEGORY_RULES}
KEY = ("bucket", "name", "generation")

# BigQuery layout: day partitions keep date-bounded queries cheap; clustering
# serves the filters the shipped analyses use most.
PARTITION_FIELD = {"classifications": "event_time", "errors": "failed_at"}
CLUSTER_FIELDS = {"classifications": ("primary_category",), "errors": ("stage",)}


def bigquery_layout(table: str) -> dict:
    """`timePartitioning` and `clustering` of the table, as BigQuery's JSON."""
    return {"timePartitioning": {"type": "DAY", "field": PARTITION_FIELD[table]},
            "clustering": {"fields": list(CLUSTER_FIELDS[table])}}

_DUCK_TYPES = {"STRING": "VARCHAR", "INT64": "BIGINT", "FLOAT64": "DOUBLE",
               "BOOL": "BOOLEAN", "TIMESTAMP": "TIMESTAMPTZ"}


def duckdb_type(f: Field) -> str:
    if f.type == "RECORD":
        inner = ", ".join(f'"{c.name}" {duckdb_type(c)}' for c in f.fields)
        base = f"STRUCT({inner})"
    else:
        base = _DUCK_TYPES[f.type]
    return base + "[]" if f.mode == "REPEATED" else base


def duckdb_ddl(table: str) -> str:
    """CREATE TABLE statement for DuckDB; the key makes re-runs upserts."""
    fields = ALL_TABLES[table]
    cols = ",\n  ".join(
        f'"{f.name}" {duckdb_type(f)}' + (" NOT NULL" if f.mode == "REQUIRED" else "") for f in fields)
    pk = ', PRIMARY KEY (bucket, name, generation)' if table == "classifications" else ""
    return f"CREATE TABLE IF NOT EXISTS {table} (\n  {cols}{pk}\n)"


def bigquery_schema(table: str) -> list[dict]:
    """The table's schema as BigQuery's JSON (`TableSchema.fields`)."""
    def conv(f: Field) -> dict[str, object]:
        d: dict[str, object]
        d = {"name": f.name, "type": f.type, "mode": f.mode}
        if f.description:
            d["description"] = f.description
        if f.fields:
            d["fields"] = [conv(c) for c in f.fields]
        return d
    return [conv(f) for f in ALL_TABLES[table]]


def column_names(table: str) -> list[str]:
    return [f.name for f in ALL_TABLES[table]]


def arrow_schema(table: str):
    """pyarrow schema for the table; timestamps travel as ISO strings and are
    cast by the database on insert."""
    import pyarrow as pa
    scalar = {"STRING": pa.string(), "INT64": pa.int64(), "FLOAT64": pa.float64(),
              "BOOL": pa.bool_(), "TIMESTAMP": pa.string()}

    def conv(f: Field):
        t = pa.struct([pa.field(c.name, conv(c)) for c in f.fields]) if f.type == "RECORD" else scalar[f.type]
        return pa.list_(t) if f.mode == "REPEATED" else t
    return pa.schema([pa.field(f.name, conv(f)) for f in ALL_TABLES[table]])
