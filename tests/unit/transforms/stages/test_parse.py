"""Parsing real Vision API responses into classifications rows."""
import json
import os

import pytest

from tests import paths
from transforms.records import ImageRef
from transforms.stages.parse import is_safe, response_error, response_to_row

FIXTURES = os.path.join(paths.FIXTURES, "vision_responses")
REF = ImageRef(uri="gs://b/cars/a.jpg", bucket="b", name="cars/a.jpg", generation=7, rel_path="cars/a.jpg",
               size_bytes=100, content_type="image/jpeg", event_time="2024-05-01T10:00:00+00:00")


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def row_for(resp, **kw):
    kw.setdefault("backend", "vision")
    kw.setdefault("model_version", "cloud-vision-v1")
    kw.setdefault("min_confidence", 0.7)
    kw.setdefault("max_labels", 15)
    return response_to_row(REF, resp, **kw)


def test_labels_kept_in_order_above_threshold__label_fixture():
    resp = fixture("01_label_detection_google-cloud-python_fixture.json")["responses"][0]
    row = row_for(resp, min_confidence=0.9)
    assert [lab["name"] for lab in row["labels"]] == ["automobile", "vehicle"]
    assert row["labels"][0]["mid"] == "/m/0k4j"
    assert row["primary_category"] == "automobile"
    assert (row["bucket"], row["name"], row["generation"]) == ("b", "cars/a.jpg", 7)


def test_max_labels_caps_the_list__label_fixture():
    resp = fixture("01_label_detection_google-cloud-python_fixture.json")["responses"][0]
    assert len(row_for(resp, min_confidence=0.0, max_labels=1)["labels"]) == 1


def test_no_label_above_threshold_is_uncategorized__landmark_fixture():
    resp = fixture("02_landmark_detection_google-cloud-python_fixture.json")["responses"][0]
    row = row_for(resp)
    assert row["primary_category"] == "uncategorized"
    assert row["landmarks"][0]["name"] == "Louvre"
    assert row["landmarks"][0]["latitude"] == pytest.approx(48.861013)


def test_safe_search_predating_racy_is_unknown_and_safe__batch_fixture():
    resp = fixture("03_batch_label_safesearch_text_google-cloud-python_fixture.json")["responses"][1]
    row = row_for(resp)
    assert row["safe_search"] == {"adult": "VERY_UNLIKELY", "spoof": "UNLIKELY", "medical": "POSSIBLE",
                                  "violence": "VERY_UNLIKELY", "racy": "UNKNOWN"}
    assert row["is_safe"] is True


def test_text_is_the_full_text__text_fixture():
    resp = fixture("03_batch_label_safesearch_text_google-cloud-python_fixture.json")["_text_detection_fixture"]
    assert row_for(resp["responses"][0])["text"] == "Google CloudPlatform\n"


def test_image_properties_become_colours__properties_fixture():
    data = fixture("03_batch_label_safesearch_text_google-cloud-python_fixture.json")
    colors = row_for(data["_image_properties_fixture_first3"]["responses"][0])["dominant_colors"]
    assert len(colors) == 3
    assert (colors[0]["red"], colors[0]["green"], colors[0]["blue"]) == (253, 203, 65)
    assert all(0 <= c[k] <= 255 for c in colors for k in ("red", "green", "blue"))
    assert all(0.0 <= c["pixel_fraction"] <= 1.0 for c in colors)


def test_face_box_is_normalised_with_missing_coordinates__face_fixture():
    resp = fixture("04_face_detection_google-cloud-python_fixture.json")["responses"][0]
    face = row_for(resp, analysed_size=(2000, 1000))["faces"][0]
    assert face["box"] == pytest.approx([748 / 2000, 58 / 1000, 1430 / 2000, 851 / 1000])
    assert face["confidence"] == pytest.approx(0.9863683)
    assert face["joy"] == "VERY_LIKELY"


def test_face_box_is_empty_when_image_size_unknown__face_fixture():
    resp = fixture("04_face_detection_google-cloud-python_fixture.json")["responses"][0]
    assert row_for(resp)["faces"][0]["box"] is None


def test_objects_use_normalised_vertices__bicycle_fixture():
    resp = fixture("05_labels_objects_bicycle_example.json")["responses"][0]
    row = row_for(resp)
    assert row["primary_category"] == "bicycle"
    assert row["objects"][0]["name"] == "Bicycle wheel"
    assert row["objects"][0]["box"] == pytest.approx([0.31524897, 0.78658724, 0.44186485, 0.9692919])
    for obj in row["objects"]:
        x0, y0, x1, y1 = obj["box"]
        assert 0 <= x0 <= x1 <= 1 and 0 <= y0 <= y1 <= 1


def test_vertex_missing_x_counts_as_zero__proto3_default():
    resp = {"localizedObjectAnnotations": [{"name": "Edge", "score": 0.9, "boundingPoly": {
        "normalizedVertices": [{"y": 0.1}, {"x": 0.5, "y": 0.1}, {"x": 0.5, "y": 0.6}, {"y": 0.6}]}}]}
    assert row_for(resp)["objects"][0]["box"] == pytest.approx([0.0, 0.1, 0.5, 0.6])


def test_per_image_error_is_reported__error_fixture():
    for example in fixture("06_per_image_errors.json")["examples"]:
        code, message = response_error(example["response"]["responses"][0])
        assert code in ("INVALID_ARGUMENT", "PERMISSION_DENIED")
        assert message


def test_unsafe_image_goes_to_quarantine__likely_adult():
    resp = {"labelAnnotations": [{"description": "Beach", "score": 0.95}],
            "safeSearchAnnotation": {"adult": "LIKELY", "violence": "VERY_UNLIKELY"}}
    row = row_for(resp)
    assert row["is_safe"] is False
    assert row["primary_category"] == "quarantine"
    assert row["labels"][0]["name"] == "Beach"


def test_is_safe_rule__unknown_is_not_unsafe():
    assert is_safe({"adult": "UNKNOWN", "violence": "UNKNOWN", "racy": "UNKNOWN"}) is True
    assert is_safe({"adult": "POSSIBLE", "racy": "POSSIBLE", "spoof": "VERY_LIKELY", "medical": "LIKELY"}) is True
    assert is_safe({"racy": "VERY_LIKELY"}) is False
    assert is_safe(None) is None


def test_topicality_orders_labels_when_present__relevance_order():
    resp = {"labelAnnotations": [{"description": "Animal", "score": 0.99, "topicality": 0.80},
                                 {"description": "Cat", "score": 0.95, "topicality": 0.95}]}
    assert [lab["name"] for lab in row_for(resp)["labels"]] == ["Cat", "Animal"]


def test_label_that_climbs_paths_is_made_safe__hostile_label():
    resp = {"labelAnnotations": [{"description": "../../etc/passwd", "score": 0.99}]}
    assert row_for(resp)["primary_category"] == "etc_passwd"
