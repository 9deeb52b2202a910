"""One Firestore document per image: its id, its fields, and the cut that keeps
it under Firestore's 1 MiB.

Document id: the SHA-256 (hex) of the JSON array `[bucket, name, generation]`
(UTF-8, no spaces), so it cannot collide (the seed's `name.replace('/', '_')`
gave `a/b.jpg` and `a_b.jpg` one document), a re-run or a redelivered
notification overwrites the same document, and each generation of an object
keeps its own. The latest generation of an object is found by query
(`bucket == B and name == N order by generation desc limit 1`), not by id.

Fields: the seed's (`file_name`, `bucket`, `labels` as description/confidence,
`objects` with `bounds`, `primary_category`, `is_safe`, `classified_at`) plus
the table's others (`uri`, `name`, `generation`, `safe_search`, `category_uri`,
...), and `label_names` (the labels' names in lower case) so a label lookup is
an `array_contains` query. Timestamps are Firestore timestamps, so ordering by
`classified_at` is chronological.

The cut: a document is measured by Firestore's storage-size rules; one larger
than MAX_DOCUMENT_BYTES first loses the end of `text`, then the last items
(lowest scores) of `faces`, `landmarks`, `logos`, `dominant_colors`, `objects`
and `labels`, in that order, until it fits. `cut_fields` names what was cut (an
empty list for a whole document), so a reader knows to look in the tables for
the rest.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

FIRESTORE_LIMIT = 1_048_576                 # Firestore's maximum document size
MAX_DOCUMENT_BYTES = FIRESTORE_LIMIT - 1024  # a margin for the service's own accounting
CUT_ORDER = ("text", "faces", "landmarks", "logos", "dominant_colors", "objects", "labels")
_TIMESTAMPS = ("event_time", "classified_at")
_BOX_KEYS = ("x_min", "y_min", "x_max", "y_max")
# Table columns copied under the same name (labels, objects and faces are reshaped below).
_COPIED = ("uri", "bucket", "name", "generation", "content_type", "size_bytes", "width", "height",
           "primary_category", "safe_search", "is_safe", "text", "landmarks", "logos",
           "dominant_colors", "backend", "model_version", "category_uri")


def document_id(bucket: str, name: str, generation: int) -> str:
    """The image's document id: sha256 of JSON [bucket, name, generation]; stable and collision-free."""
    key = json.dumps([bucket, name, generation], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _timestamp(value) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    t = dt.datetime.fromisoformat(str(value))
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _bounds(box) -> dict | None:
    """[x_min, y_min, x_max, y_max] -> a map: Firestore arrays cannot hold arrays, and names read better."""
    return dict(zip(_BOX_KEYS, box, strict=True)) if box and len(box) == 4 else None


def to_document(row: dict) -> dict:
    """A validated `classifications` row -> the image's Firestore document (uncut)."""
    doc: dict[str, Any] = {k: row.get(k) for k in _COPIED}
    labels = [{"description": lab.get("name"), "confidence": lab.get("score"), "mid": lab.get("mid")}
              for lab in row.get("labels") or []]
    doc["file_name"] = row.get("name")
    doc["labels"] = labels
    doc["label_names"] = label_names(labels)
    doc["objects"] = [{"name": o.get("name"), "confidence": o.get("score"), "bounds": _bounds(o.get("box"))}
                      for o in row.get("objects") or []]
    doc["faces"] = [{**{k: v for k, v in f.items() if k != "box"}, "bounds": _bounds(f.get("box"))}
                    for f in row.get("faces") or []]
    for k in ("landmarks", "logos", "dominant_colors"):
        doc[k] = list(row.get(k) or [])
    for k in _TIMESTAMPS:
        doc[k] = _timestamp(row.get(k))
    doc["cut_fields"] = []
    return doc


def label_names(labels: list[dict]) -> list[str]:
    """The labels' names, lower case, once each: what `search_by_label` matches with array_contains."""
    return list(dict.fromkeys(str(lab["description"]).lower() for lab in labels if lab.get("description")))


def value_size(value) -> int:
    """Bytes a value takes in Firestore (cloud.google.com/firestore/docs/storage-size)."""
    if value is None or isinstance(value, bool):
        return 1
    if isinstance(value, (int, float, dt.datetime)):
        return 8
    if isinstance(value, str):
        return len(value.encode("utf-8")) + 1
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, (list, tuple)):
        return sum(value_size(v) for v in value)
    if isinstance(value, dict):
        return sum(value_size(str(k)) + value_size(v) for k, v in value.items())
    raise TypeError(f"no Firestore size for {type(value).__name__}")


def document_size(collection: str, doc_id: str, doc: dict) -> int:
    """The document's size: its name, its fields and 32 bytes."""
    name = sum(len(s.encode("utf-8")) + 1 for s in (collection, doc_id)) + 16
    return name + value_size(doc) + 32


def cut_to_fit(collection: str, doc_id: str, doc: dict, limit: int = MAX_DOCUMENT_BYTES) -> dict:
    """The document, cut by the rule above when it is larger than `limit`."""
    if document_size(collection, doc_id, doc) <= limit:
        return doc
    # Room for the longest `cut_fields` is kept from the start, so naming the cut cannot overflow.
    over = document_size(collection, doc_id, doc) - limit + value_size(list(CUT_ORDER))
    doc = dict(doc)
    cut: list[str] = []
    for field in CUT_ORDER:
        value = doc.get(field)
        if over <= 0 or not value:
            continue
        cut.append(field)
        if field == "text":
            raw = value.encode("utf-8")
            kept = raw[:max(0, len(raw) - over)].decode("utf-8", "ignore")
            over -= len(raw) - len(kept.encode("utf-8"))
            doc[field] = kept
            continue
        items = list(value)
        while items and over > 0:
            over -= value_size(items.pop())
        doc[field] = items
        if field == "labels":
            names = doc["label_names"]
            doc["label_names"] = label_names(items)
            over -= value_size(names) - value_size(doc["label_names"])
    doc["cut_fields"] = cut
    return doc
