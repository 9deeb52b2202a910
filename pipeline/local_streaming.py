# mypy: disable-error-code="attr-defined,method-assign,assignment"
# (this module patches private attributes of Beam's local runner, which mypy cannot follow)
"""Local streaming runs: a prompt Pub/Sub pull, and a clean stop on Ctrl-C or SIGTERM.

Beam's local runner (BundleBasedDirectRunner) reads Pub/Sub with its own pull
loop: one blocking `pull(timeout=30)` at a time, acknowledged as soon as it
returns. Two consequences for a job that runs "until interrupted":

- A stop request waits for that pull, up to 30 s, and anything a pull has
  already acknowledged but not yet written would be lost by a hard stop.
- There is no drain: `result.cancel()` drops in-flight work.

And (3): the runner acknowledges a message the moment it is pulled, so a hard
kill (SIGKILL, a crash) would lose what was pulled but not yet written. This
module defers those acknowledgements: each pulled message's deadline is
extended to `ACK_DEADLINE_SECS` and it is acknowledged `ACK_DELAY_SECS` later,
by which time its row is written (p99 upload-to-row is a few seconds), or at
the end of a completed drain. After a crash, Pub/Sub redelivers what was not
acknowledged to the next run; the sinks are idempotent on (bucket, name,
generation), so the redelivery fills the gap without duplicates.

So, for local runs only, this module (1) shortens the pull deadline to
`PULL_DEADLINE_SECS` (the emulator and Pub/Sub answer as soon as a message
arrives, so latency does not change; an empty pull just returns sooner), and
(2) turns the first SIGINT/SIGTERM into a drain, the local equivalent of
Dataflow's `drain`: the source stops pulling and declares itself finished
(its watermark goes to +infinity), every message already taken in flows
through to the sinks, event-time timers (de-duplication expiry) fire, and the
runner ends the job normally. A second signal abandons the drain.

On Dataflow none of this is used: the service owns the Pub/Sub read and
`gcloud dataflow jobs drain` does the same job.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

STOP = threading.Event()
PULL_DEADLINE_SECS = 2.0
ACK_DELAY_SECS = 10.0
ACK_DEADLINE_SECS = 20
_LOG = logging.getLogger(__name__)
_installed = False


class _DeferredAcks:
    """Acknowledgements held back until the messages' rows are surely written."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pending: list[tuple[float, object, str, list[str]]] = []
        self._thread = None

    def defer(self, client, subscription: str, ack_ids: list[str]) -> None:
        client.modify_ack_deadline(subscription=subscription, ack_ids=ack_ids,
                                   ack_deadline_seconds=ACK_DEADLINE_SECS)
        with self._lock:
            self._pending.append((time.monotonic(), client, subscription, list(ack_ids)))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deferred-acks", daemon=True)
                self._thread.start()

    def flush(self, older_than: float | None = None) -> None:
        """Acknowledge what was pulled at least `older_than` seconds ago (None: everything)."""
        now = time.monotonic()
        with self._lock:
            due = [p for p in self._pending if older_than is None or now - p[0] >= older_than]
            self._pending = [p for p in self._pending if p not in due]
        for _, client, subscription, ack_ids in due:
            try:
                client.acknowledge(subscription=subscription, ack_ids=ack_ids)
            except Exception as e:  # noqa: BLE001 - unacknowledged means redelivered: safe
                _LOG.warning("could not acknowledge %d messages (they will be redelivered): %s", len(ack_ids), e)

    def _run(self) -> None:
        while True:
            time.sleep(1.0)
            self.flush(ACK_DELAY_SECS)


ACKS = _DeferredAcks()
_EMULATOR_CLIENTS: dict[str, object] = {}
_EMULATOR_LOCK = threading.Lock()


def _roomy(client):
    """Against the emulator, a client whose channel takes any message size.

    google-cloud-pubsub opens its emulator channel with gRPC's default 4 MB
    receive limit (against the real service it sets no limit), so one message
    over 4 MB (Pub/Sub allows 10 MB) failed every pull: the subscription was
    stuck behind it. A pull can carry several large messages, hence no limit,
    as the library's own transport uses.
    """
    host = os.environ.get("PUBSUB_EMULATOR_HOST")
    if not host:
        return client
    with _EMULATOR_LOCK:
        if host not in _EMULATOR_CLIENTS:
            import grpc
            from google.cloud import pubsub_v1
            from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport
            channel = grpc.insecure_channel(host, options=[("grpc.max_send_message_length", -1),
                                                           ("grpc.max_receive_message_length", -1)])
            _EMULATOR_CLIENTS[host] = pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
        return _EMULATOR_CLIENTS[host]


class _PromptPull:
    """Wraps the runner's SubscriberClient: short pull deadline, no pull once stopping,
    acknowledgements deferred (see the module docstring)."""

    def __init__(self, client):
        self._client = client

    def acknowledge(self, subscription, ack_ids, **_):
        ACKS.defer(self._client, subscription, ack_ids)

    def pull(self, subscription, max_messages, timeout=None, **_):  # noqa: ARG002 - the client's signature
        from google.api_core.exceptions import DeadlineExceeded
        from google.pubsub_v1.types import PullResponse
        if STOP.is_set():
            return PullResponse()
        try:
            return self._client.pull(subscription=subscription, max_messages=max_messages,
                                     timeout=PULL_DEADLINE_SECS)
        except DeadlineExceeded:
            return PullResponse()

    def __getattr__(self, name):
        return getattr(self._client, name)


def install() -> None:
    """Patch the local runner's Pub/Sub read (idempotent); call before `Pipeline.run()`."""
    global _installed  # pylint: disable=global-statement
    if _installed:
        return
    from apache_beam.runners.direct import transform_evaluator as te
    from apache_beam.runners.direct.util import TransformResult
    from apache_beam.utils.timestamp import MAX_TIMESTAMP

    evaluator = te._PubSubReadEvaluator  # pylint: disable=protected-access
    get_client = evaluator._get_subscriber_client.__func__  # pylint: disable=protected-access
    finish_bundle = evaluator.finish_bundle

    def _get_subscriber_client(cls, transform):
        return _PromptPull(_roomy(get_client(cls, transform)))

    def _finish_bundle(self):
        if STOP.is_set():
            # No output, nothing left to read, no watermark hold: the source is done.
            return TransformResult(self, [], [], None, {None: MAX_TIMESTAMP})
        return finish_bundle(self)

    evaluator._get_subscriber_client = classmethod(_get_subscriber_client)  # pylint: disable=protected-access
    evaluator.finish_bundle = _finish_bundle
    _installed = True


def request_stop(signum=None, _frame=None) -> None:
    """First signal: drain. Second signal: give up on the drain."""
    if STOP.is_set():
        raise KeyboardInterrupt
    name = signal.Signals(signum).name if signum else "stop"
    print(f"{name}: stopping; finishing the images already taken in (again to abandon them).",
          file=sys.stderr, flush=True)
    STOP.set()


def wait_until_stopped(result) -> bool:
    """Run until SIGINT/SIGTERM, then drain; True if the drain completed."""
    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result.wait_until_finish()
        ACKS.flush()   # the drain wrote everything it took in
        return True
    except KeyboardInterrupt:
        print("Drain abandoned: images in flight may be missing from the results.", file=sys.stderr)
        return False
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
