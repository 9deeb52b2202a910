"""Local streaming runs: a prompt Pub/Sub pull, and a clean stop on Ctrl-C or SIGTERM.

Beam's local runner (BundleBasedDirectRunner) reads Pub/Sub with its own pull
loop: one blocking `pull(timeout=30)` at a time, acknowledged as soon as it
returns. Two consequences for a job that runs "until interrupted":

- A stop request waits for that pull, up to 30 s, and anything a pull has
  already acknowledged but not yet written would be lost by a hard stop.
- There is no drain: `result.cancel()` drops in-flight work.

And (3): the runner acknowledges a message the moment it is pulled, so a hard
kill (SIGKILL, a crash) would lose what was pulled but not yet written. This
module holds those acknowledgements until the sink has written the message's
row (pipeline/deferred_acks.py).

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

from pipeline.deferred_acks import DeferredAcks
from transforms import progress
from transforms.beam_compat import patch_direct_pubsub_read

STOP = threading.Event()
PULL_DEADLINE_SECS = 2.0
_LOG = logging.getLogger(__name__)
_installed = False


ACKS = DeferredAcks()
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
            response = self._client.pull(subscription=subscription, max_messages=max_messages,
                                         timeout=PULL_DEADLINE_SECS)
        except DeadlineExceeded:
            return PullResponse()
        ACKS.pulled(response)
        return response

    def __getattr__(self, name):
        return getattr(self._client, name)


def install(category_root: str | None = None) -> None:
    """Patch the local runner's Pub/Sub read (idempotent); call before `Pipeline.run()`."""
    global _installed  # pylint: disable=global-statement
    ACKS.category_root = category_root
    if _installed:
        return
    progress.on_written(ACKS.written)
    # Once stopped: no output, nothing left to read, no watermark hold: the source is done.
    patch_direct_pubsub_read(lambda client: _PromptPull(_roomy(client)), STOP.is_set)
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
