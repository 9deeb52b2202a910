"""Every Beam metric the job reports, by name, in namespace `image_classifier`.

One list, so the code, the end-of-run summary and the docs (the Dataflow
console shows these names) agree. `counter()` and `distribution()` refuse a
name that is not declared here; names of the form `<prefix><value>` (per
category, per stage, ...) are declared by their prefix.
"""
from __future__ import annotations

from apache_beam.metrics import Metrics

NAMESPACE = "image_classifier"

COUNTERS = {
    # sources
    "listed_images": "images found by a bucket or folder listing (or a manifest)",
    "listing_ranges": "key ranges a bucket listing was cut into",
    "listing_ranges_done": "key ranges listed to the end",
    "skipped_not_image": "listed objects skipped: not an image by name or type",
    "skipped_copies": "listed objects skipped: category copies",
    "skipped_links": "symbolic links in a local input without an image name, not followed",
    "manifest_bad_lines": "manifest lines that name no object",
    "notifications_received": "Pub/Sub messages read",
    "notified_images": "messages that announce an image version to classify",
    "notifications_malformed": "messages that are not a well-formed GCS event (one error row each)",
    "notifications_skipped_copy": "NONE-format notifications of a category copy, found by its metadata",
    "notified_images_not_found": "announced images deleted before they were read",
    # reading and annotating
    "images_decoded": "images read and decoded",
    "images_unreadable": "images that could not be read or decoded (one error row each)",
    "vision_calls": "Cloud Vision batch calls answered",
    "vision_attempts": "Cloud Vision batch calls sent, retries included",
    "vision_calls_429": "Cloud Vision calls answered 429 RESOURCE_EXHAUSTED",
    "vision_calls_retried_failures": "Cloud Vision calls that failed transiently and were retried",
    "vision_image_errors": "per-image errors in Cloud Vision answers",
    "vision_images_failed": "images Cloud Vision could not annotate after retries",
    "vision_images_unreadable": "images that could not be prepared for Cloud Vision",
    "vision_throttled_msecs": "time spent waiting for the Vision quota (also cumulativeThrottlingSeconds)",
    "vision_rate_limit_msecs": "time spent waiting for the job-wide limit (--vision_rate_limit_service); "
                               "part of vision_throttled_msecs",
    # rows
    "images_classified": "classification rows made",
    "unsafe_images": "images safe search marks unsafe",
    "copies_written": "category copies made",
    "copies_failed": "category copies that failed (one error row each)",
    "copies_kept_same_or_newer": "copies left alone: the destination holds the same or a newer version",
    "images_done": "images written, as a row or an error row",
    "events_published": "output events published",
    "bigquery_error_rows_lost": "error rows the BigQuery errors table refused (logged)",
    "duckdb_classifications_rows": "rows written to the DuckDB file",
    "duckdb_errors_rows": "error rows written to the DuckDB file",
    "invalid_classifications_rows": "rows refused before a sink (each becomes an error row)",
    "invalid_errors_rows": "error rows that could not be repaired before a sink",
    "firestore_documents_written": "documents written to the Firestore collection",
    "firestore_documents_cut": "documents cut to fit Firestore's 1 MiB (cut_fields names what)",
    "firestore_writes_retried": "Firestore writes sent again after contention, 429 or 503",
    "firestore_documents_failed": "documents Firestore did not take (one error row each)",
}
COUNTER_PREFIXES = {
    "category_": "images per primary category",
    "found_": "images with a non-empty feature column",
    "errors_": "error rows written, per stage",
    "notifications_skipped_": "messages skipped, per reason (ignored_event, copy, folder, not_image)",
}
DISTRIBUTIONS = {
    "image_bytes": "size of each image read",
    "upload_to_result_ms": "streaming: upload time to row written",
    "vision_images_per_call": "images per Cloud Vision call",
    "duckdb_classifications_batch_size": "rows per DuckDB write",
    "duckdb_errors_batch_size": "error rows per DuckDB write",
    "firestore_batch_size": "documents per Firestore BatchWrite",
}


def _declared(name: str, names: dict, prefixes: dict) -> str:
    if name in names or any(name.startswith(p) and len(name) > len(p) for p in prefixes):
        return name
    raise KeyError(f"metric {name!r} is not declared in transforms/metrics.py")


def counter(name: str):
    return Metrics.counter(NAMESPACE, _declared(name, COUNTERS, COUNTER_PREFIXES))


def distribution(name: str):
    return Metrics.distribution(NAMESPACE, _declared(name, DISTRIBUTIONS, {}))
