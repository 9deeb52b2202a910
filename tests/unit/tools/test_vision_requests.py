"""The endpoint's request parser: every body the real API refuses is a BadRequest naming the field."""
import base64
import json

import pytest

from tools.vision_requests import BadRequest, ImageRequest, parse_annotate


def _one(**request) -> bytes:
    return json.dumps({"requests": [request]}).encode()


@pytest.mark.parametrize("body,message", [
    (b"[]", "got a list"),
    (b"[1]", "got a list"),
    (b'"text"', "got a string"),
    (b"{not json", "Invalid JSON payload"),
    (b"\xff\xfe\x00", "Invalid JSON payload"),
    (b'{"requests": 5}', "'requests': expected a list"),
    (b'{"requests": "abc"}', "'requests': expected a list"),
    (b'{"requests": {"image": {}}}', "'requests': expected a list"),
    (b'{"requests": [1]}', "'requests[0]': expected an AnnotateImageRequest"),
    (_one(image=[]), "'requests[0].image': expected an Image"),
    (_one(image={"content": 5}), "'requests[0].image.content': expected base64"),
    (_one(image={"content": "not base64!"}), "Base64 decoding failed"),
    (_one(image={"content": "é"}), "Base64 decoding failed"),
    (_one(image={"source": "gs://b/x"}), "'requests[0].image.source': expected an ImageSource"),
    (_one(image={"source": {"imageUri": ["gs://b/x"]}}), "'requests[0].image.source.imageUri': expected a string"),
    (_one(features={"type": "LABEL_DETECTION"}), "'requests[0].features': expected a list"),
    (_one(features=["LABEL_DETECTION"]), "'requests[0].features[0]': expected a Feature"),
    (_one(features=[{"type": 99}]), "'requests[0].features[0].type' (type.googleapis.com/google.cloud.vision.v1"
                                    ".Feature.Type), 99"),
    (_one(features=[{"type": "LABELS"}]), "features[0].type"),
    (_one(features=[{"type": True}]), "features[0].type"),
    (_one(features=[{"type": None}]), "features[0].type"),
    (_one(features=[{"type": "LABEL_DETECTION", "maxResults": "x"}]), "'requests[0].features[0].maxResults' "
                                                                      "(TYPE_INT32), 'x'"),
    (_one(features=[{"type": 4, "maxResults": 1.5}]), "maxResults"),
    (_one(features=[{"type": 4, "maxResults": 2**31}]), "maxResults"),
    (_one(features=[{"type": 4, "maxResults": [3]}]), "maxResults"),
    (_one(features=[{"type": 4, "maxResults": True}]), "maxResults"),
    (b'{"requests": [{"features": [{"type": 4, "maxResults": 1e400}]}]}', "maxResults"),
    (json.dumps({"requests": [{}] * 17}).encode(), "At most 16 images per request; got 17."),
    (json.dumps({"requests": [{}] * 1000}).encode(), "got 1000"),
])
def test_bad_body_is_refused_naming_the_field__each_shape(body, message):
    with pytest.raises(BadRequest) as refused:
        parse_annotate(body)
    assert message in str(refused.value) and len(str(refused.value)) < 300


def test_deep_nesting_is_refused__json_100000_deep():
    body = b'{"requests": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(BadRequest, match="Invalid JSON payload"):
        parse_annotate(body)


def test_long_values_are_echoed_cut_short__10_kb_feature_type():
    with pytest.raises(BadRequest) as refused:
        parse_annotate(_one(features=[{"type": "X" * 10_000}]))
    assert len(str(refused.value)) < 200 and "10,002 characters" in str(refused.value)


def test_good_body_is_read_as_the_api_reads_it__names_numbers_and_base64_variants():
    data = bytes(range(256))
    body = json.dumps({"requests": [
        {"image": {"content": base64.b64encode(data).decode()},
         "features": [{"type": "LABEL_DETECTION", "maxResults": "5"}, {"type": 6}]},
        {"image": {"content": base64.urlsafe_b64encode(data).decode().rstrip("=")},
         "features": [{"type": "4", "maxResults": 3.0}]},
        {"image": {"source": {"gcsImageUri": "gs://b/x.jpg"}}, "features": [{"type": 4, "maxResults": -1}]},
        {"image": {"content": "", "source": {"imageUri": "gs://b/y.jpg"}}, "imageContext": {"x": 1}},
        {}], "parent": "projects/p"}).encode()
    assert parse_annotate(body) == [
        ImageRequest(data, None, {"LABEL_DETECTION": 5, "SAFE_SEARCH_DETECTION": 0}),
        ImageRequest(data, None, {"LABEL_DETECTION": 3}),
        ImageRequest(None, "gs://b/x.jpg", {"LABEL_DETECTION": 0}),
        ImageRequest(None, "gs://b/y.jpg", {}),
        ImageRequest(None, None, {}),
    ]


@pytest.mark.parametrize("body", [b"{}", b'{"requests": null}', b'{"requests": []}'])
def test_no_requests_is_an_empty_call__missing_null_or_empty(body):
    assert parse_annotate(body) == []
