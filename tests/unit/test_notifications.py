"""Parsing Cloud Storage notifications in each shape Pub/Sub delivers them."""
import base64
import copy
import json
import os

import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage

from transforms.clients import COPY_MARKER
from transforms.sinks.publish_events import event_message
from transforms.sources.notifications import (
    MalformedNotification,
    _ParseNotification,
    parse_notification,
    read_notification,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "notifications")
ROOT = "gs://photos/classified"


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def obj_resource(name="in/cat.jpg", generation="1700000000000001", **extra):
    return {"kind": "storage#object", "bucket": "photos", "name": name, "generation": generation,
            "size": "2048", "contentType": "image/jpeg", "updated": "2024-05-01T10:00:00.123Z", **extra}


def gcs_attrs(name="in/cat.jpg", generation="1700000000000001", event="OBJECT_FINALIZE", fmt="JSON_API_V1"):
    return {"bucketId": "photos", "objectId": name, "objectGeneration": generation, "eventType": event,
            "payloadFormat": fmt, "eventTime": "2024-05-01T10:00:00.5Z"}


def as_bytes(obj) -> bytes:
    return json.dumps(obj).encode()


def cloudevent(data: dict, kind="google.cloud.storage.object.v1.finalized") -> bytes:
    return as_bytes({"specversion": "1.0", "type": kind, "id": "ev-1", "time": "2024-05-01T10:00:01Z",
                     "source": f"//storage.googleapis.com/projects/_/buckets/{data.get('bucket')}",
                     "subject": f"objects/{data.get('name')}", "datacontenttype": "application/json",
                     "data": data})


def test_object_resource_becomes_ref__2017_push_fixture():
    msg = fixture("gcs_pubsub_push_object_finalize_2017.json")["message"]
    ref = parse_notification(base64.b64decode(msg["data"]), msg["attributes"], msg["messageId"])
    assert ref.uri == "gs://sandbox-hara.appspot.com/sample/one_class_svm.png"
    assert (ref.bucket, ref.name, ref.rel_path) == ("sandbox-hara.appspot.com", "sample/one_class_svm.png",
                                                    "sample/one_class_svm.png")
    assert ref.generation == 1507260507792797
    assert (ref.size_bytes, ref.content_type) == (12242, "image/png")
    assert ref.event_time == "2017-10-06T03:28:27.777000+00:00"   # no eventTime attribute in 2017: `updated`
    assert ref.message_id == "157810539096020"


def test_attributes_only_give_key_and_event_time__2021_fixture_payload_none():
    attrs = dict(fixture("gcs_notification_attributes_2021.json")["attributes"], payloadFormat="NONE")
    attrs["objectId"] = attrs["objectId"].replace(".csv", ".png")
    ref = parse_notification(b"", attrs, "42")
    assert ref.key == ("aou-rdr-sandbox-mock-data", attrs["objectId"], 1618848161894414)
    assert ref.event_time == "2021-04-19T16:02:41.919922+00:00"
    assert ref.size_bytes is None   # fetched later, after de-duplication


def test_non_image_is_skipped__2021_fixture_csv():
    attrs = dict(fixture("gcs_notification_attributes_2021.json")["attributes"], payloadFormat="NONE")
    assert read_notification(b"", attrs, "42") == (None, "not_image")


def test_json_api_without_payload_is_malformed__2021_fixture_attributes_as_captured():
    attrs = fixture("gcs_notification_attributes_2021.json")["attributes"]
    with pytest.raises(MalformedNotification, match="not JSON"):
        parse_notification(b"", attrs, "42")


def test_finalized_event_is_parsed__cloudevent_fixture_structured():
    data = dict(fixture("cloudevent_storage_object_data_testdata.json")["data"], contentType="image/jpeg")
    ref = parse_notification(cloudevent(data), {}, "m-1")
    assert ref.key == ("sample-bucket", "MyFile", 96883251)   # generation as a JSON number
    assert (ref.size_bytes, ref.content_type) == (0, "image/jpeg")
    assert ref.event_time == "2024-05-01T10:00:01+00:00"


def test_untyped_object_is_skipped__cloudevent_fixture_as_is():
    data = fixture("cloudevent_storage_object_data_testdata.json")["data"]  # "MyFile", contentType lorem ipsum
    assert read_notification(cloudevent(data), {}, "m-1") == (None, "not_image")


def test_ce_attributes_carry_the_context__cloudevent_binary_mode():
    attrs = {"ce-type": "google.cloud.storage.object.v1.finalized", "ce-id": "1", "ce-specversion": "1.0",
             "ce-source": "//storage.googleapis.com/projects/_/buckets/photos", "ce-subject": "objects/in/cat.jpg",
             "ce-time": "2024-05-01T10:00:02.000000001Z"}
    ref = parse_notification(as_bytes(obj_resource()), attrs, "m-2")
    assert ref.key == ("photos", "in/cat.jpg", 1700000000000001)
    assert ref.event_time == "2024-05-01T10:00:02+00:00"   # nanoseconds cut to microseconds


@pytest.mark.parametrize("event", ["OBJECT_DELETE", "OBJECT_ARCHIVE", "OBJECT_METADATA_UPDATE"])
def test_only_finalize_is_acted_on__other_event_types(event):
    assert read_notification(as_bytes(obj_resource()), gcs_attrs(event=event), "1") == (None, "ignored_event")


@pytest.mark.parametrize("kind", ["google.cloud.storage.object.v1.deleted",
                                  "google.cloud.storage.object.v1.archived",
                                  "google.cloud.storage.object.v1.metadataUpdated"])
def test_only_finalized_is_acted_on__other_cloudevent_types(kind):
    assert read_notification(cloudevent(obj_resource(), kind), {}, "1") == (None, "ignored_event")


def test_event_time_attribute_wins__json_api_v1():
    ref = parse_notification(as_bytes(obj_resource()), gcs_attrs(), "1")
    assert ref.event_time == "2024-05-01T10:00:00.500000+00:00"
    assert (ref.size_bytes, ref.message_id) == (2048, "1")


def test_copies_are_skipped__category_prefix_and_marker():
    under_root = obj_resource(name="classified/cat/in/cat.jpg")
    assert read_notification(as_bytes(under_root), gcs_attrs(name=under_root["name"]), "1", ROOT) == (None, "copy")
    marked = obj_resource(metadata={COPY_MARKER: "gs://photos/in/cat.jpg"})
    assert read_notification(as_bytes(marked), gcs_attrs(), "1", ROOT) == (None, "copy")
    beside = obj_resource(name="classified-old/cat.jpg")  # a sibling prefix is not the root
    assert parse_notification(as_bytes(beside), gcs_attrs(name=beside["name"]), "1", ROOT) is not None


def test_copy_prefix_applies_without_payload__payload_none():
    attrs = gcs_attrs(name="classified/cat/in/cat.jpg", fmt="NONE")
    assert read_notification(b"", attrs, "1", ROOT) == (None, "copy")


def test_image_typed_object_without_extension_is_kept__content_type():
    obj = obj_resource(name="in/upload-1234")
    assert parse_notification(as_bytes(obj), gcs_attrs(name=obj["name"]), "1").name == "in/upload-1234"


def test_folder_placeholder_is_skipped__trailing_slash():
    obj = obj_resource(name="in/folder/")
    assert read_notification(as_bytes(obj), gcs_attrs(name=obj["name"]), "1") == (None, "folder")


def _without(d, key):
    d = copy.deepcopy(d)
    d.pop(key)
    return d


@pytest.mark.parametrize("data, attrs, match", [
    (b"hello", {}, "not a Cloud Storage notification"),
    (b"", {}, "not a Cloud Storage notification"),
    (as_bytes(obj_resource()), gcs_attrs(event="OBJECT_EXPLODED"), "unknown eventType"),
    (as_bytes(obj_resource()), gcs_attrs(fmt="XML_V9"), "unknown payloadFormat"),
    (b"\xff\xfe", gcs_attrs(), "not JSON"),
    (b"[1, 2]", gcs_attrs(), "not an object"),
    (as_bytes(_without(obj_resource(), "generation")), _without(gcs_attrs(), "objectGeneration"),
     "generation is missing"),
    (as_bytes(obj_resource(generation="abc")), _without(gcs_attrs(), "objectGeneration"), "not an integer"),
    (as_bytes(_without(obj_resource(), "name")), _without(gcs_attrs(), "objectId"), "name is missing"),
    (as_bytes(obj_resource(size="lots")), gcs_attrs(), "size is not an integer"),
    (as_bytes(obj_resource()), dict(gcs_attrs(), eventTime="yesterday"), "bad timestamp"),
    (cloudevent(obj_resource(), "google.cloud.pubsub.topic.v1.messagePublished"), {}, "not a Cloud Storage"),
    (as_bytes({"specversion": "1.0", "type": "google.cloud.storage.object.v1.finalized", "data": "x"}), {},
     "without an object"),
])
def test_malformed_messages_raise__bad_shapes(data, attrs, match):
    with pytest.raises(MalformedNotification, match=match):
        parse_notification(data, attrs, "9")


def test_malformed_message_is_an_error_row_with_its_id__parse_step():
    step = _ParseNotification("projects/p/subscriptions/s", ROOT)
    out = list(step.process(PubsubMessage(b"{oops", gcs_attrs(), message_id="777")))
    assert len(out) == 1 and out[0].tag == "errors"
    row = out[0].value
    assert row["uri"] == "pubsub://projects/p/subscriptions/s/messages/777"
    assert (row["stage"], row["code"]) == ("notification", "malformed_notification")
    assert "777" in row["message"]


def test_image_is_keyed_by_version__parse_step():
    step = _ParseNotification("projects/p/subscriptions/s", ROOT)
    [(key, ref)] = list(step.process(PubsubMessage(as_bytes(obj_resource()), gcs_attrs(), message_id="5")))
    assert key == "gs://photos/in/cat.jpg#1700000000000001"
    assert ref.message_id == "5"


@pytest.mark.parametrize("is_safe, attr", [(True, "true"), (False, "false"), (None, "unknown")])
def test_event_carries_category_and_safety__attributes(is_safe, attr):
    row = {"uri": "gs://photos/in/cat.jpg", "name": "in/cat.jpg", "generation": 3,
           "primary_category": "cat", "is_safe": is_safe, "labels": [{"name": "cat", "score": 0.9, "mid": None}]}
    msg = event_message(row)
    assert msg.attributes == {"category": "cat", "is_safe": attr}
    assert json.loads(msg.data) == row


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
    (_without(obj_resource(), "name"), "object name is missing"),
    (_without(obj_resource(), "bucket"), "bucket name is missing"),
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
    ({"data": _without(_without(obj_resource(), "name"), "bucket"), "subject": ["objects/x.jpg"]},
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
