"""atheris harness: a Pub/Sub message through the notification parsing step.

Anyone who may publish to the topic controls a message's data and attributes.
The input is `attributes as a JSON object` NUL `data`, so libFuzzer's mutations
of the seeds keep both parts. The parsing step must answer with an image key or
one error row whose message stays short; any exception out of it (it would fail
the bundle and stop a streaming job) is a crash. Run by `make fuzz`.
"""
from __future__ import annotations

import json
import sys

import atheris

with atheris.instrument_imports(include=["transforms.sources.notifications", "transforms.sources.notification_fields",
                                         "transforms.records", "transforms.redact"]):
    from apache_beam.io.gcp.pubsub import PubsubMessage
    from apache_beam.pvalue import TaggedOutput

    from transforms.sources.notification_fields import MAX_INT64, MAX_NAME_BYTES
    from transforms.sources.notifications import _ParseNotification

MAX_ERROR_MESSAGE = 600
STEP = _ParseNotification("projects/fuzz/subscriptions/fuzz", "gs://photos/classified")


def split(data: bytes) -> tuple[dict, bytes]:
    """(attributes, data) from the fuzzer's input; attributes are strings, as Pub/Sub delivers them."""
    head, sep, body = data.partition(b"\0")
    if not sep:
        return {}, data
    try:
        attributes = json.loads(head)
    except (ValueError, RecursionError):
        return {}, body
    if not isinstance(attributes, dict):
        return {}, body
    return {str(k): str(v) for k, v in attributes.items()}, body


def test_one_input(data: bytes) -> None:
    attributes, body = split(data)
    for out in STEP.process(PubsubMessage(body, attributes, message_id="1")):
        if isinstance(out, TaggedOutput):
            assert out.tag == "errors" and len(out.value["message"]) <= MAX_ERROR_MESSAGE, out.value["message"][:200]
            continue
        key, ref = out
        assert key == f"{ref.uri}#{ref.generation}" and ref.uri == f"gs://{ref.bucket}/{ref.name}", key[:200]
        assert 0 <= ref.generation <= MAX_INT64 and 0 < len(ref.name.encode()) <= MAX_NAME_BYTES, key[:200]


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
