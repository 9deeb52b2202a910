"""The Firestore document of an image: an id that cannot collide, the seed's
fields, and the cut that keeps it within Firestore's 1 MiB."""
from __future__ import annotations

import datetime as dt
import hashlib

from transforms.sinks.firestore_doc import (
    FIRESTORE_LIMIT,
    MAX_DOCUMENT_BYTES,
    cut_to_fit,
    document_id,
    document_size,
    to_document,
    value_size,
)

ROW = {"uri": "gs://up/a/b.jpg", "bucket": "up", "name": "a/b.jpg", "generation": 17,
       "primary_category": "cat", "is_safe": True, "backend": "local",
       "labels": [{"name": "Tabby Cat", "score": 0.9, "mid": "/m/1"}, {"name": "cat", "score": 0.8, "mid": None},
                  {"name": "CAT", "score": 0.75, "mid": None}],
       "objects": [{"name": "cat", "score": 0.8, "box": [0.1, 0.2, 0.7, 0.9]}],
       "safe_search": {"adult": "VERY_UNLIKELY"}, "event_time": "2024-06-01T00:00:00+00:00",
       "classified_at": "2024-06-01T00:01:00+00:00", "category_uri": "gs://up/classified/cat/a/b.jpg"}


def test_id_is_sha256_of_the_json_key__documented_rule():
    assert document_id("up", "a/b.jpg", 17) == hashlib.sha256(b'["up","a/b.jpg",17]').hexdigest()


def test_ids_differ__names_the_seed_would_collide_and_generations():
    ids = {document_id("up", "a/b.jpg", 1), document_id("up", "a_b.jpg", 1), document_id("up", "a/b.jpg", 2),
           document_id("up2", "a/b.jpg", 1), document_id("up", "a/b.jpg\n", 1)}
    assert len(ids) == 5
    assert all(len(i) == 64 and "/" not in i for i in ids)


def test_document_has_the_seed_fields_and_ours__one_row():
    doc = to_document(ROW)
    assert doc["file_name"] == "a/b.jpg" and doc["bucket"] == "up" and doc["primary_category"] == "cat"
    assert doc["labels"][0] == {"description": "Tabby Cat", "confidence": 0.9, "mid": "/m/1"}
    assert doc["objects"] == [{"name": "cat", "confidence": 0.8,
                               "bounds": {"x_min": 0.1, "y_min": 0.2, "x_max": 0.7, "y_max": 0.9}}]
    assert doc["label_names"] == ["tabby cat", "cat"]        # lower case, once each
    assert doc["classified_at"] == dt.datetime(2024, 6, 1, 0, 1, tzinfo=dt.timezone.utc)
    assert (doc["generation"], doc["uri"], doc["category_uri"]) == (17, ROW["uri"], ROW["category_uri"])
    assert doc["safe_search"] == {"adult": "VERY_UNLIKELY"} and doc["is_safe"] is True
    assert doc["cut_fields"] == []


def test_size_follows_firestore_rules__documented_examples():
    # cloud.google.com/firestore/docs/storage-size: a string is its UTF-8 bytes + 1; numbers 8; null/bool 1.
    assert value_size("Puppy") == 6 and value_size("é") == 3
    assert value_size({"a": 1, "b": [True, None]}) == 2 + 8 + 2 + 2
    # Document name users/jeff: 6 + 5 + 16 = 27, plus 32.
    assert document_size("users", "jeff", {}) == 27 + 32


def test_small_document_is_kept_whole__under_the_limit():
    doc = to_document(ROW)
    assert cut_to_fit("image_classifications", "x" * 64, doc) is doc


def test_large_text_is_cut_first__document_fits():
    doc = to_document({**ROW, "text": "é" * 700_000})   # 1.4 MB of text
    cut = cut_to_fit("image_classifications", "x" * 64, doc)
    assert cut["cut_fields"] == ["text"]
    assert MAX_DOCUMENT_BYTES - 64 < document_size("image_classifications", "x" * 64, cut) <= MAX_DOCUMENT_BYTES
    assert doc["text"].startswith(cut["text"]) and cut["labels"] == doc["labels"]


def test_lists_lose_their_last_items_after_text__many_landmarks():
    marks = [{"name": f"place {i}" + "x" * 500, "score": 1 - i / 5000, "mid": None, "latitude": 1.0,
              "longitude": 2.0} for i in range(3000)]
    doc = to_document({**ROW, "text": "t" * 1000, "landmarks": marks})
    cut = cut_to_fit("c", "id", doc)
    assert cut["cut_fields"] == ["text", "landmarks"] and cut["text"] == ""
    assert cut["landmarks"] == marks[:len(cut["landmarks"])] and 1000 < len(cut["landmarks"]) < 3000
    assert document_size("c", "id", cut) <= MAX_DOCUMENT_BYTES < FIRESTORE_LIMIT
    assert cut["labels"] == doc["labels"] and cut["objects"] == doc["objects"]
