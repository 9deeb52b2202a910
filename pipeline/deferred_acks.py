"""Pub/Sub acknowledgements of a local streaming run, sent once the row is written.

Beam's local runner acknowledges a message the moment it is pulled, so a hard
kill (SIGKILL, a crash) would lose what was pulled but not yet written. Here
each pulled message is held instead, its deadline extended every
`EXTEND_EVERY_SECS`, and acknowledged when the sink has written the row (or
error row) of the image version it announces: the sinks' output feeds
`written()` through transforms/progress.py, keyed by (bucket, name, generation)
read from the message at pull time. After a crash, Pub/Sub redelivers what was
not acknowledged to the next run; the sinks are idempotent on that key, so the
redelivery fills the gap without duplicates.

Two upper bounds keep a message from being held for ever. A message that
announces nothing to classify (another event, a category copy, a malformed
message, whose error row has no image key) is acknowledged `NO_ROW_DELAY_SECS`
after the pull, by which time its error row, if any, is written. A message whose
row never comes (a NONE-format notification of a copy, found out only after the
pull) is acknowledged after `MAX_HOLD_SECS`. A completed drain acknowledges
everything (`flush()`).
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass

from transforms.sources.notification_fields import MalformedNotification
from transforms.sources.notifications import read_notification

ACK_DEADLINE_SECS = 20        # each extension gives a held message this long ...
EXTEND_EVERY_SECS = 10.0      # ... and comes this often
NO_ROW_DELAY_SECS = 10.0
MAX_HOLD_SECS = 300.0
RECENT_SECS = 60.0            # a row written before its message was held still counts
_LOG = logging.getLogger(__name__)

Key = tuple


@dataclass
class _Held:
    pulled_at: float
    client: object
    subscription: str
    key: Key | None


def message_key(message, category_root: str | None) -> Key | None:
    """(bucket, name, generation) of the image a pulled message announces, else None."""
    try:
        ref, _ = read_notification(message.data, dict(message.attributes), message.message_id, category_root)
    except MalformedNotification:
        return None
    return ref.key if ref is not None else None


class DeferredAcks:
    """Thread-safe: pulls, DoFn threads and the ack thread all use it."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.category_root: str | None = None
        self._lock = threading.Lock()
        self._keys: dict[str, Key | None] = {}            # ack id -> key, noted at pull time
        self._held: dict[str, _Held] = {}                 # ack id -> held message
        self._by_key: dict[Key, set[str]] = collections.defaultdict(set)
        self._recent: dict[Key, float] = {}               # keys written lately
        self._ready: list[str] = []                       # ack ids whose rows are written
        self._thread: threading.Thread | None = None

    def pulled(self, response) -> None:
        """Note the key of each message of a pull response, before the runner acknowledges them."""
        keys = {m.ack_id: message_key(m.message, self.category_root) for m in response.received_messages}
        with self._lock:
            self._keys.update(keys)

    def defer(self, client, subscription: str, ack_ids: list[str]) -> None:
        """The runner's acknowledgement: hold the messages instead."""
        client.modify_ack_deadline(subscription=subscription, ack_ids=list(ack_ids),
                                   ack_deadline_seconds=ACK_DEADLINE_SECS)
        now = self.clock()
        with self._lock:
            for ack_id in ack_ids:
                key = self._keys.pop(ack_id, None)
                self._held[ack_id] = _Held(now, client, subscription, key)
                if key is not None and key in self._recent:
                    self._ready.append(ack_id)
                elif key is not None:
                    self._by_key[key].add(ack_id)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deferred-acks", daemon=True)
                self._thread.start()

    def written(self, key: Key) -> None:
        """The row of `key` is written: its messages can be acknowledged."""
        with self._lock:
            self._recent[key] = self.clock()
            self._ready.extend(self._by_key.pop(key, ()))

    def held(self) -> int:
        with self._lock:
            return len(self._held)

    def _due(self, everything: bool) -> list[str]:
        now = self.clock()
        due = set(self._ready)
        self._ready = []
        for ack_id, h in self._held.items():
            limit = NO_ROW_DELAY_SECS if h.key is None else MAX_HOLD_SECS
            if everything or now - h.pulled_at >= limit:
                due.add(ack_id)
        self._recent = {k: t for k, t in self._recent.items() if now - t < RECENT_SECS}
        return [a for a in due if a in self._held]

    def flush(self, everything: bool = True) -> None:
        """Acknowledge what is due (everything: at the end of a completed drain)."""
        with self._lock:
            due = [(a, self._held.pop(a)) for a in self._due(everything)]
            for ack_id, h in due:
                if h.key is not None:
                    self._by_key.get(h.key, set()).discard(ack_id)
        self._send(due, lambda client, sub, ids: client.acknowledge(subscription=sub, ack_ids=ids))

    def extend(self) -> None:
        """Give every message still waiting for its row another ACK_DEADLINE_SECS."""
        with self._lock:
            held = list(self._held.items())
        self._send(held, lambda client, sub, ids: client.modify_ack_deadline(
            subscription=sub, ack_ids=ids, ack_deadline_seconds=ACK_DEADLINE_SECS))

    @staticmethod
    def _send(items, call) -> None:
        groups: dict = collections.defaultdict(list)
        for ack_id, h in items:
            groups[(id(h.client), h.subscription)].append((h.client, ack_id))
        for (_, subscription), pairs in groups.items():
            try:
                call(pairs[0][0], subscription, [a for _, a in pairs])
            except Exception as e:  # noqa: BLE001 - unacknowledged means redelivered: safe
                _LOG.warning("Pub/Sub call for %d held messages failed (they may be redelivered): %s", len(pairs), e)

    def _run(self) -> None:
        last_extend = self.clock()
        while True:
            time.sleep(1.0)
            self.flush(everything=False)
            if self.clock() - last_extend >= EXTEND_EVERY_SECS:
                self.extend()
                last_extend = self.clock()
