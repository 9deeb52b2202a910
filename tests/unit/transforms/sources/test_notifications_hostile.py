"""Hostile Cloud Storage notifications: whatever anyone who can publish to the topic sends."""
import base64

import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage

from transforms.sources.notifications import MalformedNotification, _ParseNotification, parse_notification

from .notification_messages import ROOT, as_bytes, gcs_attrs, obj_resource, without

# ---------------------------------------------------------------- hostile messages
# Anyone who can publish to the topic can send these; each must be one MalformedNotification
# (one error row), never another exception (a failed bundle stops a streaming job).

HUGE = 9 * 1024 * 1024


def _finalize(obj: dict, **attrs) -> tuple[bytes, dict]:
    """A JSON_API_V1 OBJECT_FINALIZE whose object fields come from the payload only."""
    return as_bytes(obj), {"eventType": "OBJECT_FINALIZE", "payloadFormat": "JSON_API_V1", **attrs}


@pytest.mark.parametrize("generation", [1e400, True, 1.5, "1_000", " 12", "+12", "1e3", "١٢", [1], {"g": 1},
                                        "9" * 5000, str(2**63), -3])
def test_generation_must_be_plain_int64__not_a_number_forms(generation):
    data, attrs = _finalize(obj_resource(generation=generation))
    with pytest.raises(MalformedNotification, match="generation is (not an integer|out of range|negative)"):
        parse_notification(data, attrs, "1")


def test_largest_int64_generation_is_kept__boundary():
    data, attrs = _finalize(obj_resource(generation=str(2**63 - 1)))
    assert parse_notification(data, attrs, "1").generation == 2**63 - 1


def test_deep_nesting_is_malformed__100k_brackets():
    with pytest.raises(MalformedNotification, match="nested too deeply"):
        parse_notification(b"[" * 100_000, gcs_attrs(), "1")


def test_deep_nesting_is_not_a_cloudevent__no_attributes():
    with pytest.raises(MalformedNotification, match="not a Cloud Storage notification"):
        parse_notification(b'{"a":' * 100_000, {}, "1")


@pytest.mark.parametrize("data, match", [
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b'"just a string"', "not an object \\(a str\\)"),
    (b"null", "not an object"),
    (b"NaN", "not an object"),
])
def test_payload_must_be_a_json_object__not_utf8_or_other_json(data, match):
    with pytest.raises(MalformedNotification, match=match):
        parse_notification(data, gcs_attrs(), "1")


@pytest.mark.parametrize("name, match", [
    ("a" * 10_240, "10,240 bytes, over Cloud Storage's 1024"),
    ("é" * 513, "1,026 bytes"),
    ("in/\ud800.jpg", "not valid UTF-8"),
    ("in/a\nb.jpg", "CR, LF"),
    ("..", "CR, LF, '.' or '..'"),
    (12345, "object name is not a string"),
])
def test_object_name_follows_cloud_storage_rules__hostile_names(name, match):
    data, attrs = _finalize(obj_resource(name=name))
    with pytest.raises(MalformedNotification, match=match):
        parse_notification(data, attrs, "1")


def test_longest_allowed_name_is_kept__1024_bytes():
    name = "in/" + "x" * 1017 + ".jpg"
    data, attrs = _finalize(obj_resource(name=name))
    assert parse_notification(data, attrs, "1").name == name


@pytest.mark.parametrize("bucket", ["Photos", "ab", "x" * 223, "-photos", "pho tos", "photos/../etc", 7])
def test_bucket_name_follows_cloud_storage_rules__hostile_buckets(bucket):
    data, attrs = _finalize(dict(obj_resource(), bucket=bucket))
    with pytest.raises(MalformedNotification, match="bucket name"):
        parse_notification(data, attrs, "1")


@pytest.mark.parametrize("obj, match", [
    (without(obj_resource(), "name"), "object name is missing"),
    (without(obj_resource(), "bucket"), "bucket name is missing"),
    (obj_resource(contentType=["image/jpeg"]), "contentType is not a string"),
    (obj_resource(contentType="image/" + "x" * 300), "contentType is longer than 255"),
    (obj_resource(size=True), "size is not an integer"),
    (obj_resource(updated="0001-01-01T00:00:00+01:00"), "bad timestamp"),
    (obj_resource(updated=1714557600), "timestamp is not a string"),
])
def test_object_fields_are_checked__missing_or_wrong_type(obj, match):
    data, attrs = _finalize(obj)
    with pytest.raises(MalformedNotification, match=match):
        parse_notification(data, attrs, "1")


@pytest.mark.parametrize("envelope, match", [
    ({"data_base64": "%%%not base64"}, "not base64"),
    ({"data_base64": 12}, "data_base64 is not a string"),
    ({"data_base64": "eyJi\u0207"}, "not base64"),   # non-ASCII: ValueError, not binascii.Error
    ({"data_base64": base64.b64encode(b"[1]").decode()}, "not an object"),
    ({"data": obj_resource(), "source": 5}, "source is not a string"),
    ({"data": without(without(obj_resource(), "name"), "bucket"), "subject": ["objects/x.jpg"]},
     "subject is not a string"),
    ({"data": obj_resource(), "type": ["google.cloud.storage.object.v1.finalized"]}, "is not a Cloud Storage"),
])
def test_cloudevent_fields_are_checked__hostile_structured_events(envelope, match):
    event = {"specversion": "1.0", "type": "google.cloud.storage.object.v1.finalized", **envelope}
    with pytest.raises(MalformedNotification, match=match):
        parse_notification(as_bytes(event), {}, "1")


def test_echoed_value_is_cut__9mb_generation():
    data, attrs = _finalize(obj_resource(generation="A" * HUGE))
    with pytest.raises(MalformedNotification) as caught:
        parse_notification(data, attrs, "1")
    assert len(str(caught.value)) < 200
    assert f"({HUGE:,} characters)" in str(caught.value)


def test_attributes_are_named_not_copied__100_attributes_without_event_type():
    attrs = {f"attr{i:03d}": "v" * 1024 for i in range(100)}
    with pytest.raises(MalformedNotification, match="100 attributes: \\['attr000'") as caught:
        parse_notification(b"", attrs, "1")
    assert len(str(caught.value)) < 300


def test_custom_attributes_do_not_matter__finalize_with_90_more():
    attrs = dict(gcs_attrs(), **{f"custom{i}": "x" * 1024 for i in range(90)})   # a notification config's own
    assert parse_notification(as_bytes(obj_resource()), attrs, "1").key == ("photos", "in/cat.jpg", 1700000000000001)


def test_error_row_stays_small__9mb_name_in_parse_step():
    step = _ParseNotification("projects/p/subscriptions/s", ROOT)
    data, attrs = _finalize(obj_resource(name="n" * HUGE))
    [out] = list(step.process(PubsubMessage(data, attrs, message_id="9")))
    assert out.tag == "errors" and (out.value["name"], out.value["bucket"]) == (None, None)
    assert len(out.value["message"]) < 300 and "over Cloud Storage's 1024" in out.value["message"]


def test_fuzz_crash_is_an_error_row__non_ascii_data_base64():
    """The input fuzz_notification found (`make fuzz`): a ValueError escaped the parsing step."""
    crash = base64.b64decode(
        "gYIAeyJzcGVjdmVyc2lvbiI6ICIxLjAiLCAidHlwZSI6ICJndHMvTXlGaWxlIiwgImRhdGFfYmFzZTY0IjogImV5SmlkV05yYzJsNlpTSTZ"
        "JQ0l5TFTIh1ZERXdPakF3T2pBd0xqRXlNMW9pTENBaWJXVjBZV1JoZEdFaU9pQjdJbXNpT2lBaWRpSjlmUT09In0=")
    attributes, data = crash.split(b"\0", 1)
    assert attributes == b"\x81\x82"   # not JSON: the harness delivers no attributes
    step = _ParseNotification("projects/p/subscriptions/s", ROOT)
    [out] = list(step.process(PubsubMessage(data, {}, message_id="3")))
    assert out.tag == "errors" and "not base64" in out.value["message"]
