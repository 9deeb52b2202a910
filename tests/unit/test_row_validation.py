"""Rows are checked against the one schema before BigQuery sees them."""
import pytest

from transforms.sinks.bigquery_sink import insert_id
from transforms.sinks.row_validation import MAX_ROW_BYTES, problems, repair_error_row, to_bigquery_json


def row(**over):
    r = {"uri": "gs://b/a.jpg", "bucket": "b", "name": "a.jpg", "generation": 5, "primary_category": "cat",
         "labels": [{"name": "cat", "score": 0.9, "mid": None}],
         "objects": [{"name": "cat", "score": 0.8, "box": [0.1, 0.2, 0.3, 0.4]}],
         "safe_search": {"adult": "VERY_UNLIKELY"}, "is_safe": True, "faces": None, "backend": "local",
         "event_time": "2024-01-02T03:04:05+00:00", "classified_at": "2024-01-02T03:04:06.5+00:00"}
    r.update(over)
    return r


def test_complete_row_passes__nested_fields():
    assert problems("classifications", row()) == []


@pytest.mark.parametrize("over,fragment", [
    ({"uri": None}, "uri: REQUIRED but missing"),
    ({"generation": "5"}, "generation: expected INT64"),
    ({"generation": True}, "generation: expected INT64"),
    ({"generation": 2 ** 63}, "INT64 out of range"),
    ({"labels": [{"name": "cat", "score": float("nan")}]}, "labels[0].score: FLOAT64 is not finite"),
    ({"labels": [None]}, "labels[0]: null inside a REPEATED field"),
    ({"labels": {"name": "cat"}}, "labels: REPEATED but got dict"),
    ({"objects": [{"name": "x", "box": ["a"]}]}, "objects[0].box[0]: expected FLOAT64"),
    ({"safe_search": {"adult": 3}}, "safe_search.adult: expected STRING"),
    ({"safe_search": {"nudity": "LIKELY"}}, "safe_search.nudity: not in the schema"),
    ({"colour": "red"}, "colour: not in the schema"),
    ({"is_safe": "yes"}, "is_safe: expected BOOL"),
    ({"event_time": "yesterday"}, "event_time: not an ISO 8601 timestamp"),
    ({"name": "caf\udce9.jpg"}, "name: not valid UTF-8"),
])
def test_row_bigquery_would_refuse_is_caught__each_rule(over, fragment):
    assert any(fragment in p for p in problems("classifications", row(**over)))


def test_oversized_row_is_caught__streaming_limit():
    assert any("bytes; at most" in p for p in problems("classifications", row(text="x" * (MAX_ROW_BYTES + 1))))


def test_missing_repeated_becomes_empty_list__bigquery_json():
    out = to_bigquery_json("classifications", row())
    assert out["faces"] == [] and out["landmarks"] == [] and out["labels"][0]["name"] == "cat"


def test_broken_error_row_is_repaired__failure_still_recorded():
    fixed = repair_error_row({"uri": None, "stage": "decode", "code": 3, "message": "bad \udce9",
                              "generation": "x", "failed_at": "never", "junk": 1})
    assert problems("errors", fixed) == []
    assert fixed["uri"] == "unknown" and fixed["code"] == "3" and fixed["generation"] is None


def test_insert_id_follows_the_image_key__not_the_attempt():
    a = row(classified_at="2024-01-02T03:04:06+00:00")
    b = row(classified_at="2024-05-05T00:00:00+00:00", labels=[])
    assert insert_id("classifications", a) == insert_id("classifications", b)
    assert insert_id("classifications", a) != insert_id("classifications", row(generation=6))
    assert insert_id("classifications", a) != insert_id("errors", a)
