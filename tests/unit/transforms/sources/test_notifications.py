"""Parsing Cloud Storage notifications in each shape Pub/Sub delivers them."""
import base64
import json

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

from .notification_messages import ROOT, as_bytes, cloudevent, fixture, gcs_attrs, obj_resource, without


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


@pytest.mark.parametrize("data, attrs, match", [
    (b"hello", {}, "not a Cloud Storage notification"),
    (b"", {}, "not a Cloud Storage notification"),
    (as_bytes(obj_resource()), gcs_attrs(event="OBJECT_EXPLODED"), "unknown eventType"),
    (as_bytes(obj_resource()), gcs_attrs(fmt="XML_V9"), "unknown payloadFormat"),
    (b"\xff\xfe", gcs_attrs(), "not JSON"),
    (b"[1, 2]", gcs_attrs(), "not an object"),
    (as_bytes(without(obj_resource(), "generation")), without(gcs_attrs(), "objectGeneration"),
     "generation is missing"),
    (as_bytes(obj_resource(generation="abc")), without(gcs_attrs(), "objectGeneration"), "not an integer"),
    (as_bytes(without(obj_resource(), "name")), without(gcs_attrs(), "objectId"), "name is missing"),
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
