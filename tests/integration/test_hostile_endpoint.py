"""The local Vision endpoint over real HTTP: it reads only gs:// objects and inline content,
never this machine's files, refuses an oversized body before reading it, and answers every
malformed request with a 400 in the API's error shape."""
import base64
import http.client
import io
import json
import urllib.parse
import urllib.request

import pytest
from PIL import Image

from tools.vision_endpoint import ANNOTATE_PATH, MAX_BODY_BYTES, running_endpoint
from transforms.clients import storage_client

PASSWD = open("/etc/passwd", "rb").read()


@pytest.fixture(scope="module")
def endpoint(gcs_server):
    """A model-free endpoint that inherits STORAGE_EMULATOR_HOST from the fake-gcs-server fixture."""
    with running_endpoint("--fixed_labels") as url:
        yield url


def annotate(url: str, image: dict) -> dict:
    body = json.dumps({"requests": [{"image": image, "features": [{"type": "LABEL_DETECTION"}]}]}).encode()
    req = urllib.request.Request(url + ANNOTATE_PATH, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["responses"][0]


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 40, 40)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("uri", ["/etc/passwd", "file:///etc/passwd", "../../../../etc/passwd",
                                 "http://127.0.0.1:1/x.jpg", "gs://", "gs://bucket-only"])
def test_non_gcs_uri_is_invalid_argument_without_content__local_file_request(endpoint, uri):
    for key in ("imageUri", "gcsImageUri"):
        answer = annotate(endpoint, {"source": {key: uri}})
        assert set(answer) == {"error"} and answer["error"]["code"] == 3
        text = answer["error"]["message"]
        assert "Invalid image URI" in text
        assert "root" not in text and str(len(PASSWD)) not in text and "bytes" not in text


def test_gcs_object_is_read_at_its_generation__overwritten_object(endpoint):
    blob = storage_client().create_bucket("hostile-endpoint").blob("photo.jpg")
    blob.upload_from_string(jpeg())
    first = blob.generation
    uri = "gs://hostile-endpoint/photo.jpg"
    assert "labelAnnotations" in annotate(endpoint, {"source": {"gcsImageUri": f"{uri}#{first}"}})
    blob.upload_from_string(b"root:x:0:0:not an image any more")
    stale = annotate(endpoint, {"source": {"gcsImageUri": f"{uri}#{first}"}})
    # A store that keeps old generations answers with the first version; one that does not, not found.
    # Either way the newer bytes are never what the stale generation reads.
    assert "labelAnnotations" in stale or stale["error"]["code"] == 7
    latest = annotate(endpoint, {"source": {"imageUri": f"{uri}#{blob.generation}"}})
    assert latest["error"]["code"] == 3 and "root" not in latest["error"]["message"]
    assert annotate(endpoint, {"source": {"imageUri": f"{uri}#12x"}})["error"]["code"] == 3


def test_inline_text_is_refused_without_echo__passwd_as_content(endpoint):
    answer = annotate(endpoint, {"content": base64.b64encode(PASSWD).decode()})
    assert answer["error"]["code"] == 3 and "not a recognised image format" in answer["error"]["message"]
    assert "root" not in answer["error"]["message"] and str(len(PASSWD)) not in answer["error"]["message"]


def test_oversized_body_is_413_before_reading__content_length_over_10_mb(endpoint):
    host = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    conn.putrequest("POST", ANNOTATE_PATH)
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(MAX_BODY_BYTES + 1))
    conn.endheaders()
    conn.send(b'{"requests": [')  # the rest never comes: the answer must not wait for it
    r = conn.getresponse()
    error = json.loads(r.read())["error"]
    conn.close()
    assert (r.status, error["code"], error["status"]) == (413, 413, "INVALID_ARGUMENT")
    assert str(MAX_BODY_BYTES) in error["message"]


def test_body_at_the_limit_is_parsed__ten_mb_of_json(endpoint):
    padding = "x" * (MAX_BODY_BYTES - 200)
    body = json.dumps({"requests": [], "pad": padding}).encode()
    assert len(body) <= MAX_BODY_BYTES
    req = urllib.request.Request(endpoint + ANNOTATE_PATH, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200


def test_bad_content_length_is_400__not_a_number(endpoint):
    host = urllib.parse.urlsplit(endpoint)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=10)
    conn.putrequest("POST", ANNOTATE_PATH)
    conn.putheader("Content-Length", "12abc")
    conn.endheaders()
    r = conn.getresponse()
    status, error = r.status, json.loads(r.read())["error"]
    conn.close()
    assert (status, error["status"]) == (400, "INVALID_ARGUMENT")


def post(url: str, body: bytes) -> tuple[int, dict]:
    """(status, JSON answer) of one POST on its own connection; a dropped connection raises."""
    host = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    try:
        conn.request("POST", ANNOTATE_PATH, body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        return r.status, json.loads(r.read())
    finally:
        conn.close()


@pytest.mark.parametrize("body,names", [
    (b'[{"requests": []}]', "got a list"),
    (b'{"requests": 5}', "'requests'"),
    (b'{"requests": "abc"}', "'requests'"),
    (b"[1]", "got a list"),
    (b'{"requests": [1]}', "'requests[0]'"),
    (b'{"requests": [{"image": {"content": "AAAA"}, "features": [{"type": 99}]}]}', "features[0].type"),
    (b'{"requests": [{"features": [{"type": "LABEL_DETECTION", "maxResults": "x"}]}]}', "features[0].maxResults"),
    (b'{"requests": [{"image": {"content": "%%%"}}]}', "Base64 decoding failed"),
    (b'{"requests": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "Invalid JSON payload"),
    (json.dumps({"requests": [{}] * 17}).encode(), "At most 16 images per request; got 17."),
    (json.dumps({"requests": [{}] * 1000}).encode(), "got 1000"),
], ids=["list body", "requests 5", "requests abc", "[1]", "request 1", "feature type 99", "maxResults x",
        "content not base64", "nested 100000 deep", "17 images", "1000 images"])
def test_malformed_request_is_400_in_the_api_error_shape__each_kind(endpoint, body, names):
    status, answer = post(endpoint, body)
    assert status == 400 and set(answer) == {"error"}
    assert (answer["error"]["code"], answer["error"]["status"]) == (400, "INVALID_ARGUMENT")
    assert names in answer["error"]["message"]
    assert "labelAnnotations" in annotate(endpoint, {"content": base64.b64encode(jpeg()).decode()})  # still serving


@pytest.mark.parametrize("uri", ["gs://b/..", "gs://bucket/..", "gs://bucket/.", "gs://b?x=1/y",
                                 "gs://bucket?alt=json/y", "gs://Bucket/x.jpg", "gs://bucket/a\nb.jpg",
                                 "gs://bucket/" + "n" * 1025, "gs://bucket/x.jpg#1e3"])
def test_gcs_uri_against_the_naming_rules_is_invalid_argument__odd_names(endpoint, uri):
    answer = annotate(endpoint, {"source": {"gcsImageUri": uri}})
    assert answer["error"]["code"] == 3 and answer["error"]["message"].startswith("Invalid image URI")
    assert len(answer["error"]["message"]) < 400


def test_storage_error_names_the_rule_not_the_upstream_answer__missing_object(endpoint, gcs_server):
    storage_client().create_bucket("hostile-missing")
    answer = annotate(endpoint, {"source": {"gcsImageUri": "gs://hostile-missing/nothing-here.jpg"}})
    message = answer["error"]["message"]
    assert answer["error"]["code"] == 7 and "does not exist" in message
    port = urllib.parse.urlsplit(gcs_server["url"]).port
    assert not any(leak in message for leak in ("http", "127.0.0.1", str(port), "storage/v1", "download", "404"))


def test_gcs_is_not_read_with_this_machines_credentials__no_emulator():
    with running_endpoint("--fixed_labels", env={"STORAGE_EMULATOR_HOST": None}) as url:
        answer = annotate(url, {"source": {"gcsImageUri": "gs://some-bucket/photo.jpg"}})
    assert answer["error"]["code"] == 7
    assert "STORAGE_EMULATOR_HOST" in answer["error"]["message"]
    assert "--allow_cloud_storage" in answer["error"]["message"]
