"""What the local Vision-compatible endpoint answers, and how it misbehaves on demand.

Answers come from the local backend's models (or, with `fixed_labels`, from no
model at all, for quota benchmarks). The fault switches reproduce what the real
API does under pressure so the Vision backend's retries and throttling can be
tested over real HTTP: a request quota, 5xx, slow answers, dropped connections,
invalid JSON and per-image errors. See tools/vision_endpoint.py for the server.
"""
from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from typing import Any

from tools.vision_quota import TokenBucket, WindowQuota, make_quota
from transforms.clients import split_gcs, storage_client
from transforms.stages.imaging import ImageError, decode_image
from transforms.stages.local.handler import LocalModels

FAULT_DEFAULTS: dict[str, Any] = {
    "quota_per_sec": 0.0,        # token bucket: calls per second accepted; 0 = none
    "quota_burst": 0.0,          # the bucket's size in calls (0 = one second's worth)
    "quota_window_calls": 0,     # per-window quota ("1,800/min"): calls per window, all at once; 0 = none
    "quota_window_secs": 60.0,   # the window's length (tests scale it down)
    "quota_retry_after": True,   # 429s carry the wait (RetryInfo + Retry-After); False = a bare 429
    "error_5xx_every": 0,        # every Nth call answers 503
    "drop_every": 0,             # every Nth call: connection closed without an answer
    "slow_every": 0,             # every Nth call waits slow_secs before answering
    "slow_secs": 0.0,
    "delay_secs": 0.0,           # every call takes at least this long (a remote API's latency)
    "invalid_json_every": 0,     # every Nth call answers 200 with a body that is not JSON
    "image_errors": {},          # {sha256 of the bytes, or the image URI: {"code": 3, "message": "..."}}
    "recorded_answers": {},      # {sha256 of the bytes: a recorded AnnotateImageResponse}: replayed as the answer
}
# Which part of an AnnotateImageResponse each feature fills (the answer keeps only what was asked).
FEATURE_KEYS = {
    "LABEL_DETECTION": ("labelAnnotations",), "SAFE_SEARCH_DETECTION": ("safeSearchAnnotation",),
    "OBJECT_LOCALIZATION": ("localizedObjectAnnotations",), "FACE_DETECTION": ("faceAnnotations",),
    "TEXT_DETECTION": ("textAnnotations", "fullTextAnnotation"),
    "DOCUMENT_TEXT_DETECTION": ("textAnnotations", "fullTextAnnotation"),
    "IMAGE_PROPERTIES": ("imagePropertiesAnnotation",), "LANDMARK_DETECTION": ("landmarkAnnotations",),
    "LOGO_DETECTION": ("logoAnnotations",),
}
FIXED_ANSWER = {  # --fixed_labels: answers without models, for quota benchmarks
    "labelAnnotations": [{"mid": "/m/0fixture", "description": "Fixture", "score": 0.99, "topicality": 0.99}],
    "safeSearchAnnotation": {k: "VERY_UNLIKELY" for k in ("adult", "spoof", "medical", "violence", "racy")},
}


def feature_name(value) -> str:
    """Feature types arrive as names (curl, seed JSON) or numbers (the client's enum-encoding=int)."""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        from google.cloud import vision
        return vision.Feature.Type(int(value)).name
    return str(value)


class RefusedSource(ValueError):
    """An image source this endpoint will not read; the message names the rule, never the target."""


def read_gcs_object(uri: str) -> bytes:
    """The bytes of gs://bucket/name (at `#generation` if the URI ends with one), via the storage client.

    The storage client honours STORAGE_EMULATOR_HOST, as the rest of the pipeline does.
    """
    if not isinstance(uri, str) or not uri.startswith("gs://"):
        raise RefusedSource("Invalid image URI: this endpoint reads only gs:// object URIs or inline "
                            "`content`; local paths, file:// and other schemes are refused.")
    path, _, generation = uri.partition("#")
    bucket, name = split_gcs(path)
    if not bucket or not name or "\x00" in name:
        raise RefusedSource("Invalid image URI: a gs:// URI must name a bucket and an object.")
    if generation and not generation.isdigit():
        raise RefusedSource("Invalid image URI: a generation after '#' must be a number.")
    blob = storage_client().bucket(bucket).blob(name, generation=int(generation) if generation else None)
    return blob.download_as_bytes()


class VisionService:
    """What the endpoint knows: models, fault switches and what it has served."""

    def __init__(self, model_dir: str | None, features, threads: int, fixed_labels: bool, faults: dict):
        self.models = None
        self.model_lock = threading.Lock()
        if not fixed_labels:
            self.models = LocalModels(model_dir or "", features, threads)
        self.lock = threading.Lock()
        self.faults: dict[str, Any] = dict(FAULT_DEFAULTS)
        self.quota: TokenBucket | WindowQuota | None = None
        self.set_faults(faults)
        self.reset()

    def set_faults(self, faults: dict) -> None:
        unknown = set(faults) - set(FAULT_DEFAULTS)
        if unknown:
            raise ValueError(f"unknown fault switch {sorted(unknown)[0]}; known: {', '.join(FAULT_DEFAULTS)}")
        with self.lock:
            self.faults.update(faults)
            if any(k.startswith("quota_") for k in faults) or self.quota is None:
                self.quota = make_quota(self.faults)

    def reset(self) -> None:
        with self.lock:
            self.calls = 0
            self.log: list[dict] = []   # one entry per call: t0, t1, images, status

    def next_call(self) -> int:
        with self.lock:
            self.calls += 1
            return self.calls

    def record(self, t0: float, images: int, status: int, by_uri: int = 0) -> None:
        with self.lock:
            self.log.append({"t0": t0, "t1": time.time(), "images": images, "status": status, "by_uri": by_uri})

    def stats(self) -> dict:
        with self.lock:
            return {"calls": self.calls, "log": list(self.log), "faults": dict(self.faults)}

    def every(self, name: str, n: int) -> bool:
        k = int(self.faults[name] or 0)
        return k > 0 and n % k == 0

    def image_bytes(self, image: dict) -> tuple[bytes | None, str | None]:
        """(bytes, uri): inline content, or the gs:// object a URI names; nothing else is read.

        The real API reads only Cloud Storage objects and public URLs. Reading any other
        URI here (a plain path, file://) would let a caller read this machine's files, so
        those are refused without being opened.
        """
        if image.get("content"):
            return base64.b64decode(image["content"]), None
        source = image.get("source") or {}
        uri = source.get("imageUri") or source.get("gcsImageUri")
        if not uri:
            return None, None
        return read_gcs_object(uri), uri

    def annotate(self, requests: list[dict]) -> list[dict]:
        """One AnnotateImageResponse per request, in order; failures are per-image errors."""
        answers: list[dict | None] = [None] * len(requests)
        decoded, slots, wanted = [], [], []
        for i, req in enumerate(requests):
            feats = {feature_name(f.get("type")): int(f.get("maxResults") or 0) for f in req.get("features") or []}
            try:
                data, uri = self.image_bytes(req.get("image") or {})
            except RefusedSource as e:
                answers[i] = {"error": {"code": 3, "message": str(e)}}
                continue
            except Exception as e:  # noqa: BLE001 - the real API answers per image too
                answers[i] = {"error": {"code": 7, "message": f"We can not access the URL currently: {e}"}}
                continue
            if data is None:
                answers[i] = {"error": {"code": 3, "message": "No image content or source given."}}
                continue
            forced = self.faults["image_errors"].get(hashlib.sha256(data).hexdigest()) or (
                self.faults["image_errors"].get(uri) if uri else None)
            if forced:
                answers[i] = {"error": dict(forced)}
                continue
            recorded = self.faults["recorded_answers"].get(hashlib.sha256(data).hexdigest())
            if recorded:   # a real Vision answer recorded for these bytes, as the real API gave it
                answers[i] = _only_requested(json.loads(json.dumps(recorded)), feats)
                continue
            try:
                image, _ctype, _w, _h = decode_image(data, 1024)
            except ImageError as e:
                answers[i] = {"error": {"code": 3, "message": f"Bad image data. ({e.message})"}}
                continue
            decoded.append(image)
            slots.append(i)
            wanted.append(feats)
        if decoded:
            if self.models is None:
                results = [json.loads(json.dumps(FIXED_ANSWER)) for _ in decoded]
            else:
                with self.model_lock:
                    results = self.models.annotate(decoded)
            for i, feats, resp in zip(slots, wanted, results, strict=False):
                answers[i] = _only_requested(resp, feats)
        return [a if a is not None else {} for a in answers]   # every slot is filled above


def _only_requested(resp: dict, feats: dict) -> dict:
    keep = {k for f in feats for k in FEATURE_KEYS.get(f, ())}
    out = {k: v for k, v in resp.items() if k in keep}
    limit = feats.get("LABEL_DETECTION") or 0
    if limit and "labelAnnotations" in out:
        out["labelAnnotations"] = out["labelAnnotations"][:limit]
    return out
