"""PublishClassificationEvents: one Pub/Sub message per classified image.

The Cloud Function this project grew from announced each classification on a
topic so downstream systems could react without polling the results. The
message data is the image's `classifications` row as JSON (the same columns as
the tables); the attributes `category` and `is_safe` let subscribers filter
without parsing it (Pub/Sub subscription filters work on attributes only).
"""
from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.io.gcp.pubsub import PubsubMessage

from transforms import metrics


def event_message(row: dict) -> PubsubMessage:
    """The Pub/Sub message for one classifications row."""
    is_safe = row.get("is_safe")
    attributes = {
        "category": str(row["primary_category"]),
        "is_safe": "unknown" if is_safe is None else str(bool(is_safe)).lower(),
    }
    data = json.dumps(row, default=str, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return PubsubMessage(data=data, attributes=attributes)


class _ToMessage(beam.DoFn):
    def __init__(self):
        self.events = metrics.counter("events_published")

    def process(self, row: dict):
        self.events.inc()
        yield event_message(row)


class PublishClassificationEvents(beam.PTransform):
    """Publish every classifications row to `topic` (projects/P/topics/T)."""

    def __init__(self, topic: str):
        super().__init__()
        self.topic = topic

    def expand(self, rows):
        return (rows
                | "ToMessages" >> beam.ParDo(_ToMessage())
                | "Publish" >> beam.io.WriteToPubSub(self.topic, with_attributes=True))
