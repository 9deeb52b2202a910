"""ReadGcsNotifications: new uploads, from Cloud Storage notifications on Pub/Sub.

Cloud Storage announces each new object version with an OBJECT_FINALIZE
message. Three shapes reach a subscription and all are accepted:

- a Pub/Sub notification with `payloadFormat=JSON_API_V1`: attributes name the
  event and the object, the data is the object resource (size, content type,
  custom metadata);
- the same with `payloadFormat=NONE`: attributes only, empty data;
- a CloudEvent `google.cloud.storage.object.v1.finalized` as Eventarc routes
  it, in binary mode (`ce-*` attributes, data = the object) or structured mode
  (data = the whole event), so a Cloud Function's trigger can be reused.

Deletes, archives and metadata updates are ignored. So are category copies
(under the category root, or carrying the copy marker) and objects that are
neither named nor typed as images; a malformed message becomes an error row
carrying its message id, never a failed bundle. Pub/Sub delivers at least once,
so image versions are de-duplicated on (bucket, name, generation) for
`dedupe_window_secs` of event time; an overwrite is a new generation and is
classified again. NONE-format messages say nothing about the object, so its
metadata is fetched once (after de-duplication) to find copies and sizes; an
object already deleted by then is a "not found" error row.
"""
from __future__ import annotations

import base64
import dataclasses
import json

import apache_beam as beam
from apache_beam.transforms.deduplicate import DeduplicatePerKey

from transforms import metrics
from transforms.clients import COPY_MARKER, process_storage
from transforms.records import ImageRef, error_row
from transforms.sources.list_images import is_image_name
from transforms.sources.notification_fields import (
    MAX_CONTENT_TYPE,
    MalformedNotification,
    bucket_name,
    iso_time,
    json_object,
    object_name,
    optional_text,
    shown,
    strict_int,
)
from transforms.stage import ERRORS, StageOutput

FINALIZE = "OBJECT_FINALIZE"
GCS_EVENTS = ("OBJECT_FINALIZE", "OBJECT_DELETE", "OBJECT_ARCHIVE", "OBJECT_METADATA_UPDATE")
CE_PREFIX = "google.cloud.storage.object.v1."
CE_FINALIZED = CE_PREFIX + "finalized"
DEDUPE_WINDOW_SECS = 3600


def _cloudevent(data: bytes, attributes: dict):
    """(event type, object resource, event time, source, subject) of a CloudEvent, or None if it is not one."""
    if "ce-type" in attributes:  # binary mode: context in attributes, data = the object
        obj = json_object(data, "CloudEvent data")
        return attributes["ce-type"], obj, attributes.get("ce-time"), attributes.get("ce-source"), \
            attributes.get("ce-subject")
    if not data or attributes.get("payloadFormat") or attributes.get("eventType"):
        return None
    try:
        envelope = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not (isinstance(envelope, dict) and "specversion" in envelope and "type" in envelope):
        return None
    payload = envelope.get("data")
    if payload is None and "data_base64" in envelope:
        encoded = optional_text(envelope["data_base64"], "CloudEvent data_base64") or ""
        try:
            decoded = base64.b64decode(encoded, validate=True)
        except ValueError:   # binascii.Error, or a str with non-ASCII characters (found by fuzz_notification)
            raise MalformedNotification("CloudEvent data_base64 is not base64") from None
        payload = json_object(decoded, "CloudEvent data_base64")
    if not isinstance(payload, dict):
        raise MalformedNotification("CloudEvent without an object in its data")
    return envelope["type"], payload, envelope.get("time"), envelope.get("source"), envelope.get("subject")


def _cloudevent_fields(event):
    """(bucket, name, generation, object, event time) of a CloudEvent; None for other events."""
    kind, obj, event_time, source, subject = event
    if not isinstance(kind, str) or not kind.startswith(CE_PREFIX):
        raise MalformedNotification(f"CloudEvent type {shown(kind)} is not a Cloud Storage object event")
    if kind != CE_FINALIZED:
        return None
    source = optional_text(source, "CloudEvent source") or ""
    subject = optional_text(subject, "CloudEvent subject") or ""
    bucket = obj.get("bucket") or source.rpartition("/buckets/")[2] or None
    name = obj.get("name") or subject.removeprefix("objects/") or None
    return bucket, name, obj.get("generation"), obj, event_time


def _gcs_fields(data: bytes, attributes: dict):
    """The same from a Pub/Sub notification's attributes and payload; None for other events."""
    kind = attributes.get("eventType")
    if not kind:
        keys = sorted(map(str, attributes))
        raise MalformedNotification("no eventType attribute and not a CloudEvent: not a Cloud Storage "
                                    f"notification ({len(keys)} attributes: {shown(keys)})")
    if kind not in GCS_EVENTS:
        raise MalformedNotification(f"unknown eventType {shown(kind)}")
    if kind != FINALIZE:
        return None
    fmt = attributes.get("payloadFormat", "JSON_API_V1" if data else "NONE")
    if fmt == "JSON_API_V1":
        obj = json_object(data, "JSON_API_V1 payload")
    elif fmt == "NONE":
        obj = {}
    else:
        raise MalformedNotification(f"unknown payloadFormat {shown(fmt)}")
    return (attributes.get("bucketId") or obj.get("bucket"), attributes.get("objectId") or obj.get("name"),
            attributes.get("objectGeneration") or obj.get("generation"), obj, attributes.get("eventTime"))


def read_notification(data: bytes, attributes: dict, message_id: str | None,
                      category_root: str | None = None) -> tuple[ImageRef | None, str]:
    """(ImageRef, "image") for an image to classify, else (None, why it is skipped).

    Reasons: "ignored_event", "copy", "folder", "not_image". Raises
    MalformedNotification for anything that is not a well-formed GCS event,
    whatever the bytes (see transforms/sources/notification_fields.py).
    """
    attributes = dict(attributes or {})
    data = data or b""
    event = _cloudevent(data, attributes)
    fields = _cloudevent_fields(event) if event is not None else _gcs_fields(data, attributes)
    if fields is None:
        return None, "ignored_event"
    bucket, name, generation, obj, event_time = fields
    bucket, name = bucket_name(bucket), object_name(name)
    uri = f"gs://{bucket}/{name}"
    if generation in (None, ""):
        raise MalformedNotification(f"{shown(uri)}: the generation is missing")
    ref = ImageRef(uri=uri, bucket=bucket, name=name, generation=strict_int(generation, "generation"),
                   rel_path=name,
                   size_bytes=strict_int(obj["size"], "size") if obj.get("size") not in (None, "") else None,
                   content_type=optional_text(obj.get("contentType"), "contentType", MAX_CONTENT_TYPE),
                   event_time=iso_time(event_time) or iso_time(obj.get("updated")) or iso_time(obj.get("timeCreated")),
                   message_id=str(message_id) if message_id is not None else None)
    if name.endswith("/"):
        return None, "folder"
    if is_copy(uri, obj.get("metadata"), category_root):
        return None, "copy"
    if not is_image_name(name) and not str(ref.content_type or "").startswith("image/"):
        return None, "not_image"
    return ref, "image"


def parse_notification(data: bytes, attributes: dict, message_id: str | None,
                       category_root: str | None = None) -> ImageRef | None:
    """The image version a message announces, None if there is nothing to classify;
    raises MalformedNotification."""
    return read_notification(data, attributes, message_id, category_root)[0]


def is_copy(uri: str, metadata, category_root: str | None) -> bool:
    """A category copy: under the category root, or marked by CopyToCategoryFolders."""
    if category_root and (uri.rstrip("/") + "/").startswith(category_root.rstrip("/") + "/"):
        return True
    return isinstance(metadata, dict) and bool(metadata.get(COPY_MARKER))


def malformed_uri(subscription: str, message_id) -> str:
    return f"pubsub://{subscription}/messages/{message_id}"


class _ParseNotification(beam.DoFn):
    def __init__(self, subscription: str, category_root: str):
        self.subscription, self.category_root = subscription, category_root
        self.received = metrics.counter("notifications_received")
        self.images = metrics.counter("notified_images")
        self.malformed = metrics.counter("notifications_malformed")
        self.skipped = {r: metrics.counter(f"notifications_skipped_{r}")
                        for r in ("ignored_event", "copy", "folder", "not_image")}

    def process(self, message):
        self.received.inc()
        try:
            ref, why = read_notification(message.data, message.attributes, message.message_id,
                                         self.category_root)
        except MalformedNotification as e:
            self.malformed.inc()
            yield beam.pvalue.TaggedOutput(ERRORS, error_row(
                None, "notification", "malformed_notification",
                f"message {message.message_id}: {e}", uri=malformed_uri(self.subscription, message.message_id)))
            return
        if ref is None:
            self.skipped[why].inc()
            return
        self.images.inc()
        yield f"{ref.uri}#{ref.generation}", ref


class _CompleteFromStorage(beam.DoFn):
    """Fetch what a NONE-format message left out: the copy marker, size and type."""

    def __init__(self, category_root: str):
        self.category_root = category_root
        self.skipped_copies = metrics.counter("notifications_skipped_copy")
        self.vanished = metrics.counter("notified_images_not_found")

    def setup(self):
        self.storage = process_storage()

    def process(self, ref: ImageRef):
        if ref.size_bytes is not None:
            yield ref
            return
        blob = self.storage.client.bucket(ref.bucket).get_blob(ref.name, generation=ref.generation)
        if blob is None:
            self.vanished.inc()
            yield beam.pvalue.TaggedOutput(ERRORS, error_row(
                ref, "read", "not_found", "the object no longer exists (deleted before it was read)"))
            return
        if is_copy(ref.uri, blob.metadata, self.category_root):
            self.skipped_copies.inc()
            return
        yield dataclasses.replace(ref, size_bytes=blob.size,
                                  content_type=ref.content_type or blob.content_type)


class ReadGcsNotifications(beam.PTransform):
    """{'images': PCollection[ImageRef], 'errors': error rows} from a GCS notification subscription."""

    def __init__(self, subscription: str, category_root: str, dedupe_window_secs: int = DEDUPE_WINDOW_SECS):
        super().__init__()
        self.subscription, self.category_root = subscription, category_root
        self.dedupe_window_secs = dedupe_window_secs

    def expand(self, pbegin):
        parsed = (pbegin
                  | "ReadMessages" >> beam.io.ReadFromPubSub(subscription=self.subscription, with_attributes=True)
                  | "ParseNotifications" >> beam.ParDo(
                      _ParseNotification(self.subscription, self.category_root)).with_outputs(ERRORS, main="refs"))
        completed = (parsed.refs
                     # Event time, so a drain (Dataflow's, or Ctrl-C locally) expires the state at once.
                     | "DedupeImageVersions" >> DeduplicatePerKey(event_time_duration=self.dedupe_window_secs)
                     | "ImageRefs" >> beam.Values()
                     | "CompleteFromStorage" >> beam.ParDo(
                         _CompleteFromStorage(self.category_root)).with_outputs(ERRORS, main="images"))
        errors = (parsed[ERRORS], completed[ERRORS]) | "NotificationErrors" >> beam.Flatten()
        return StageOutput(completed.images, errors)
