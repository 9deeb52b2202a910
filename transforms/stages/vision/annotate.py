"""AnnotateWithVision: ImageRef -> AnnotatedImage through the Cloud Vision API.

    refs -> BatchImages (4 keys by name, GroupIntoBatches of 16 with a flush timeout)
         -> Reshuffle (spread the batches over the workers)
         -> CallVision (per worker: a pool of --max_concurrent_requests calls;
                        each batch: prepare URI-or-bytes, call, fall back to bytes;
                        each attempt paced by the worker, then by the job-wide limit if set)

Batching happens before any byte is read, so only image names cross the
shuffle and memory holds just the batches in flight. Calls carry up to 16
images (fewer only when the 9 MB request limit or the end of the input says
so), in batch and in streaming alike: a streaming trickle waits up to
--batch_max_wait_secs for its batch to fill. Every answer is tied to its image
by position and checked for count; a per-image error becomes that image's
error row; a call that still fails after retries makes error rows for its
images (stage `annotate`), never a lost image or a failed job.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.components.adaptive_throttler import ThrottlingSignaler
from apache_beam.utils.shared import Shared

from transforms import metrics
from transforms.clients import anonymous_beam_credentials_for_emulators, process_storage
from transforms.metrics import NAMESPACE
from transforms.records import AnnotatedImage, ImageRef, error_row
from transforms.stage import ERRORS, split_outputs
from transforms.stages.backends import TEXT_FEATURES
from transforms.stages.imaging import ImageError
from transforms.stages.parse import rpc_code_name
from transforms.stages.pending import PendingFutures, windowed
from transforms.stages.vision.image_requests import (
    MAX_IMAGES_PER_CALL,
    URI_FALLBACK_CODES,
    by_bytes,
    by_uri,
    split_for_calls,
)
from transforms.stages.vision.job_limit import JobLimit

MODEL_VERSION = "cloud-vision-v1"


def send_max_side(features) -> int:
    """Largest side of the bytes sent to Vision when an image must be shrunk: text needs pixels."""
    return 2048 if TEXT_FEATURES & set(features) else 1024


@dataclass(frozen=True)
class VisionOptions:
    """What a job asks of Cloud Vision: AnnotateWithVision's whole configuration, kept whole by its
    steps. No defaults here: they live once in pipeline/options.py, and pipeline/graph.py fills each field."""
    endpoint: str | None                     # None: Google's; a local stand-in over http
    features: tuple[str, ...]
    max_labels: int
    max_concurrent_requests: int             # per worker
    requests_per_minute: int                 # optional hard cap per worker; 0 = none
    batch_max_wait_secs: float               # longest wait for a batch of MAX_IMAGES_PER_CALL to fill
    job_limit: JobLimit | None               # a limit shared by every worker (job_limit.py); None = none
    call_deadline_secs: float                # one attempt, connection to last byte; then retried


def feature_list(features, max_labels: int) -> tuple[tuple[str, int], ...]:
    """Vision features with maxResults: labels as many as the row keeps, others the API's default-ish 50."""
    return tuple((f, max_labels if f == "LABEL_DETECTION" else 50) for f in features)


def annotate_batch(refs, caller, options: VisionOptions, on_sent=None) -> list[tuple[str | None, object, dict]]:
    """Prepare, call and fall back for one batch. Runs on a pool thread: returns
    [(tag, value, stats)] and touches no Beam metrics (they belong to the bundle thread).
    `on_sent` (SendGate's `leave`) is called when the first call is let go, and at the end."""
    try:
        return _annotate_batch(refs, caller, feature_list(options.features, options.max_labels),
                               send_max_side(options.features), on_sent)
    finally:
        if on_sent is not None:
            on_sent()


def _annotate_batch(refs, caller, features, max_side: int, on_sent) -> list[tuple[str | None, object, dict]]:
    outputs: list[tuple[str | None, object, dict]] = []
    first = []
    for ref in refs:
        req = by_uri(ref)
        if req is None:
            req = _bytes_or_error(ref, max_side, outputs)
        if req is not None:
            first.append(req)
    resend = _call(first, caller, features, outputs, allow_fallback=True, on_sent=on_sent)
    second = [r for r in (_bytes_or_error(ref, max_side, outputs) for ref in resend) if r is not None]
    _call(second, caller, features, outputs, allow_fallback=False)
    return outputs


def _bytes_or_error(ref, max_side: int, outputs):
    try:
        return by_bytes(ref, max_side)
    except ImageError as e:
        outputs.append((ERRORS, error_row(ref, e.stage, e.code, e.message), {"unreadable": 1}))
        return None


def _call(items, caller, features, outputs, allow_fallback: bool, on_sent=None):
    """Call Vision for `items`; append outputs; return refs sent by URI that should go again as bytes."""
    resend = []
    for chunk in split_for_calls(items):
        outcome = caller.annotate([i.as_call_item(features) for i in chunk], on_sent=on_sent)
        stats = {"calls": 1, "attempts": outcome.attempts, "overloaded": outcome.overloaded,
                 "transient": outcome.transient_failures, "throttled": outcome.throttled_secs,
                 "rate_limited": outcome.rate_limited_secs, "images_per_call": len(chunk)}
        if outcome.responses is None:
            message = (f"the Vision call failed after {outcome.attempts} attempt(s): {outcome.error_message}"
                       if outcome.attempts else str(outcome.error_message))   # never sent: the message says why
            for i, item in enumerate(chunk):
                outputs.append((ERRORS, error_row(
                    item.ref, "annotate", outcome.error_code or "UNKNOWN", message,
                    attempts=outcome.attempts), {**(stats if i == 0 else {}), "failed_images": 1}))
            continue
        for i, (item, resp) in enumerate(zip(chunk, outcome.responses, strict=False)):
            s = stats if i == 0 else {}
            err = resp.get("error")
            if err and (err.get("code") or err.get("message")):
                if allow_fallback and item.uri and err.get("code") in URI_FALLBACK_CODES:
                    resend.append(item.ref)
                    continue
                outputs.append((ERRORS, error_row(
                    item.ref, "annotate", rpc_code_name(err.get("code")),
                    err.get("message") or "the Vision API returned an error for this image",
                    attempts=outcome.attempts), {**s, "image_errors": 1}))
                continue
            outputs.append((None, AnnotatedImage(
                ref=item.ref, response=resp, backend="vision", model_version=MODEL_VERSION,
                analysed_size=item.analysed_size, content_type=item.content_type,
                original_size=item.original_size), s))
    return resend


class _CallVision(beam.DoFn):
    """Batches of ImageRef in, AnnotatedImage and error rows out; calls run on a shared pool."""

    def __init__(self, options: VisionOptions, adaptive: bool):
        self.options, self.adaptive = options, adaptive
        self.process_vision = Shared()   # made with the graph: one per job and worker process
        self.counters = {k: metrics.counter(n) for k, n in (
            ("calls", "vision_calls"), ("attempts", "vision_attempts"), ("overloaded", "vision_calls_429"),
            ("transient", "vision_calls_retried_failures"), ("image_errors", "vision_image_errors"),
            ("failed_images", "vision_images_failed"), ("unreadable", "vision_images_unreadable"))}
        self.images_per_call = metrics.distribution("vision_images_per_call")
        self.throttled_ms = metrics.counter("vision_throttled_msecs")
        self.rate_limited_ms = metrics.counter("vision_rate_limit_msecs")
        self.signaler = ThrottlingSignaler(NAMESPACE)   # cumulativeThrottlingSeconds, whole seconds
        self.throttled_carry = 0.0

    def setup(self):
        # Late: google-cloud-vision is imported only by jobs that call Vision (setup runs on the workers).
        from transforms.stages.vision.client import ProcessVision
        anonymous_beam_credentials_for_emulators()
        self.storage = process_storage()   # kept here: calls read bytes through it on the pool's threads
        self.vision = self.process_vision.acquire(lambda: ProcessVision(self.options, self.adaptive))

    def start_bundle(self):
        self.pending = PendingFutures()

    def process(self, keyed_batch, window=beam.DoFn.WindowParam, timestamp=beam.DoFn.TimestampParam):
        _, refs = keyed_batch
        leave = self.vision.gate.enter()   # a batch is taken on only when the pacer is about to send (SendGate)
        self.pending.submit(self.vision.pool, annotate_batch, list(refs), self.vision.caller, self.options, leave,
                            timestamp=timestamp, window=window)
        # Keep at most twice the pool's width in flight; emit whatever has finished.
        yield from self._drain(keep=2 * self.options.max_concurrent_requests)

    def finish_bundle(self):
        yield from self._drain(keep=0)

    def _drain(self, keep: int):
        for outputs, timestamp, window in self.pending.done(keep):
            for tag, value, stats in outputs:
                self._count(stats)
                yield windowed(value, timestamp, window, tag)

    def _count(self, stats: dict) -> None:
        for key, counter in self.counters.items():
            if stats.get(key):
                counter.inc(int(stats[key]))
        if stats.get("images_per_call"):
            self.images_per_call.update(int(stats["images_per_call"]))
        if stats.get("rate_limited"):
            self.rate_limited_ms.inc(int(stats["rate_limited"] * 1000))
        if stats.get("throttled"):   # the job-wide limit's wait included, signalled once (job_limit.py)
            self.throttled_ms.inc(int(stats["throttled"] * 1000))
            self.throttled_carry += stats["throttled"]
            whole = int(self.throttled_carry)
            if whole:
                self.signaler.signal_throttled(whole)
                self.throttled_carry -= whole


BATCH_KEYS = 4   # GroupIntoBatches keys: a fixed small range, not one hot key


def _batching_key(ref):
    """One of BATCH_KEYS keys, by a stable hash of the image's name.

    GroupIntoBatches on one key puts every name of the job through one worker's state on
    Dataflow (a hot key). A few keys bound that, and still fill batches: a job leaves at most
    BATCH_KEYS partial batches. (GroupIntoBatches.WithShardedKey shards only in streaming.)
    """
    return zlib.crc32(ref.uri.encode("utf-8", "surrogatepass")) % BATCH_KEYS, ref


class AnnotateWithVision(beam.PTransform):
    """ImageRef -> StageOutput(ok=AnnotatedImage, errors=error rows), through the Vision API."""

    def __init__(self, options: VisionOptions, adaptive: bool = True):
        super().__init__()
        self.options, self.adaptive = options, adaptive

    def expand(self, refs):
        max_wait = self.options.batch_max_wait_secs or None
        batches = (refs
                   | "KeyForBatching" >> beam.Map(_batching_key).with_output_types(
                       beam.typehints.KV[int, ImageRef])
                   | "BatchImages" >> beam.GroupIntoBatches(MAX_IMAGES_PER_CALL,
                                                            max_buffering_duration_secs=max_wait)
                   | "SpreadBatches" >> beam.Reshuffle())
        call = _CallVision(self.options, self.adaptive)
        called = batches | "CallVision" >> beam.ParDo(call).with_outputs(ERRORS, main="annotated")
        return split_outputs(called, "annotated")
