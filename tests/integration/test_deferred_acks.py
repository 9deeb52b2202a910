"""Local streaming acknowledgements against the real Pub/Sub emulator: a message
is acknowledged once its image's row is written, not when it is pulled."""
from __future__ import annotations

import time

import pytest

from pipeline.deferred_acks import NO_ROW_DELAY_SECS, DeferredAcks
from tests import emulators
from tests.integration.streaming_support import emulator_env

IMAGE = {"eventType": "OBJECT_FINALIZE", "payloadFormat": "NONE", "bucketId": "photos",
         "objectId": "cats/tom.jpg", "objectGeneration": "17"}
DELETE = dict(IMAGE, eventType="OBJECT_DELETE")


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


def _pull(subscriber, sub, want: int, timeout: float = 10.0) -> list:
    got: list = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += subscriber.pull(subscription=sub, max_messages=10, timeout=2).received_messages
    return got


@pytest.fixture()
def subscription(pubsub_host, request):
    from google.cloud import pubsub_v1
    with emulator_env(PUBSUB_EMULATOR_HOST=pubsub_host):
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(emulators.PROJECT, request.node.name[:40])
        sub = subscriber.subscription_path(emulators.PROJECT, request.node.name[:40])
        publisher.create_topic(name=topic)
        subscriber.create_subscription(name=sub, topic=topic, ack_deadline_seconds=10)
        yield publisher, topic, subscriber, sub


def _redelivered(subscriber, sub, ack_ids) -> list:
    """Give the messages back (deadline 0) and pull: what comes back was not acknowledged."""
    subscriber.modify_ack_deadline(subscription=sub, ack_ids=ack_ids, ack_deadline_seconds=0)
    return _pull(subscriber, sub, want=len(ack_ids), timeout=4)


def test_message_is_acknowledged_when_its_row_is_written__not_when_pulled(subscription):
    publisher, topic, subscriber, sub = subscription
    for attrs in (IMAGE, DELETE):
        publisher.publish(topic, b"", **attrs).result()
    clock = Clock()
    acks = DeferredAcks(clock=clock)
    first = _pull(subscriber, sub, want=2)
    acks.pulled(type("R", (), {"received_messages": first}))
    acks.defer(subscriber, sub, [m.ack_id for m in first])

    clock.t += NO_ROW_DELAY_SECS          # the delete announces no image: acknowledged after the short delay
    acks.flush(everything=False)
    assert acks.held() == 1
    back = _redelivered(subscriber, sub, [m.ack_id for m in first])
    assert [m.message.attributes["eventType"] for m in back] == ["OBJECT_FINALIZE"]   # the image was held

    acks.pulled(type("R", (), {"received_messages": back}))
    acks.defer(subscriber, sub, [m.ack_id for m in back])
    acks.written(("photos", "cats/tom.jpg", 17))   # its row: both deliveries of it are done
    acks.flush(everything=False)
    assert acks.held() == 0
    assert _redelivered(subscriber, sub, [m.ack_id for m in back]) == []


def test_message_whose_row_never_comes_is_acknowledged__after_the_longest_hold(subscription):
    from pipeline.deferred_acks import MAX_HOLD_SECS
    publisher, topic, subscriber, sub = subscription
    publisher.publish(topic, b"", **IMAGE).result()
    clock = Clock()
    acks = DeferredAcks(clock=clock)
    pulled = _pull(subscriber, sub, want=1)
    acks.pulled(type("R", (), {"received_messages": pulled}))
    acks.defer(subscriber, sub, [m.ack_id for m in pulled])
    clock.t += MAX_HOLD_SECS - 1
    acks.flush(everything=False)
    assert acks.held() == 1
    clock.t += 1
    acks.flush(everything=False)
    assert acks.held() == 0
    assert _redelivered(subscriber, sub, [m.ack_id for m in pulled]) == []
