"""What the local Vision-compatible endpoint answers, and how it misbehaves on demand.

Answers come from the local backend's models (or, with `fixed_labels`, from no
model at all, for quota benchmarks). The fault switches reproduce what the real
API does under pressure so the Vision backend's retries and throttling can be
tested over real HTTP: a request quota, 5xx, slow answers, dropped connections,
invalid JSON and per-image errors. See tools/vision_endpoint.py for the server.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Any

from tools.vision_faults import FAULT_DEFAULTS, checked
from tools.vision_quota import TokenBucket, WindowQuota, make_quota
from tools.vision_requests import ImageRequest
from transforms.clients import emulated, split_gcs, storage_client
from transforms.sources.notification_fields import MalformedNotification, bucket_name, object_name
from transforms.stages.imaging import ImageError, decode_image
from transforms.stages.local.handler import LocalModels

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


class RefusedSource(ValueError):
    """An image source this endpoint will not read; the message names the rule, never the target."""

    def __init__(self, message: str, code: int = 3):   # 3 INVALID_ARGUMENT, 7 PERMISSION_DENIED
        super().__init__(message)
        self.code, self.message = code, message


# What the caller is told (code 7, as the real API answers) when storage does not hand the object over.
NOT_READ = {"NotFound": "We can not access the URL currently: the gs:// object (at that generation) does not exist.",
            "Forbidden": "We can not access the URL currently: reading that gs:// object is not allowed.",
            "Unauthorized": "We can not access the URL currently: reading that gs:// object is not allowed."}
NOT_READ_OTHERWISE = "We can not access the URL currently. Please download the content and pass it in."


def gcs_location(uri: str) -> tuple[str, str, int | None]:
    """(bucket, object name, generation or None) of gs://bucket/name[#generation]; RefusedSource otherwise.

    Bucket and object names must be ones Cloud Storage allows (its naming rules, as the
    notification parser checks them), so no URI reaches an odd storage URL.
    """
    if not uri.startswith("gs://"):
        raise RefusedSource("Invalid image URI: this endpoint reads only gs:// object URIs or inline "
                            "`content`; local paths, file:// and other schemes are refused.")
    path, _, generation = uri.partition("#")
    bucket, name = split_gcs(path)
    if not bucket or not name:
        raise RefusedSource("Invalid image URI: a gs:// URI must name a bucket and an object.")
    try:
        bucket_name(bucket)
        object_name(name)
    except MalformedNotification as e:
        raise RefusedSource(f"Invalid image URI: {e}") from None
    if generation and not (generation.isascii() and generation.isdigit() and len(generation) <= 19):
        raise RefusedSource("Invalid image URI: a generation after '#' must be a number.")
    return bucket, name, int(generation) if generation else None


def read_gcs_object(uri: str, allow_cloud_storage: bool) -> bytes:
    """The bytes of gs://bucket/name (at `#generation` if the URI ends with one), via the storage client.

    Read through STORAGE_EMULATOR_HOST when it is set, as the rest of the pipeline does. Real
    Cloud Storage would be read with this machine's own credentials on behalf of whoever
    reaches the endpoint, so that needs `allow_cloud_storage` (--allow_cloud_storage). The
    storage server's own error text (URLs, bodies) never reaches the caller.
    """
    bucket, name, generation = gcs_location(uri)
    if not emulated("storage") and not allow_cloud_storage:
        raise RefusedSource("We can not access the URL currently: this endpoint reads gs:// objects only from a "
                            "storage emulator (STORAGE_EMULATOR_HOST); start it with --allow_cloud_storage to read "
                            "Cloud Storage with this machine's credentials.", 7)
    return storage_client().bucket(bucket).blob(name, generation=generation).download_as_bytes()


class VisionService:
    """What the endpoint knows: models, fault switches and what it has served."""

    def __init__(self, model_dir: str | None, features, threads: int, fixed_labels: bool, faults: dict,
                 allow_cloud_storage: bool = False):
        self.models = None
        self.model_lock = threading.Lock()
        if not fixed_labels:
            self.models = LocalModels(model_dir or "", features, threads)
        self.allow_cloud_storage = allow_cloud_storage
        self.lock = threading.Lock()
        self.start_faults = checked(faults, FAULT_DEFAULTS)
        self.faults: dict[str, Any] = {}
        self.quota: TokenBucket | WindowQuota | None = None
        self.reset()

    def set_faults(self, update: dict) -> None:
        """Apply an update of the switches; ValueError (and nothing changed) when any of it is bad."""
        with self.lock:
            faults = checked(update, self.faults)
            quota = make_quota(faults) if any(k.startswith("quota_") for k in update) else self.quota
            self.faults, self.quota = faults, quota

    def reset(self) -> None:
        """Back to how the endpoint started: the switches given on its command line, no calls counted."""
        with self.lock:
            self.faults = dict(self.start_faults)
            self.quota = make_quota(self.faults)
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

    def image_bytes(self, image: ImageRequest) -> bytes | None:
        """Inline content, or the gs:// object a URI names; nothing else is read.

        The real API reads only Cloud Storage objects and public URLs. Reading any other
        URI here (a plain path, file://) would let a caller read this machine's files, so
        those are refused without being opened.
        """
        if image.content is not None:
            return image.content
        if not image.uri:
            return None
        try:
            return read_gcs_object(image.uri, self.allow_cloud_storage)
        except RefusedSource:
            raise
        except Exception as e:  # noqa: BLE001 - any storage failure is told the caller by its kind only
            raise RefusedSource(NOT_READ.get(type(e).__name__, NOT_READ_OTHERWISE), 7) from None

    def annotate(self, requests: list[ImageRequest]) -> list[dict]:
        """One AnnotateImageResponse per request, in order; failures are per-image errors."""
        answers: list[dict | None] = [None] * len(requests)
        decoded, slots, wanted = [], [], []
        image_errors = self.faults["image_errors"]
        for i, req in enumerate(requests):
            try:
                data = self.image_bytes(req)
            except RefusedSource as e:
                answers[i] = {"error": {"code": e.code, "message": e.message}}
                continue
            if data is None:
                answers[i] = {"error": {"code": 3, "message": "No image content or source given."}}
                continue
            forced = image_errors.get(hashlib.sha256(data).hexdigest()) or (
                image_errors.get(req.uri) if req.uri else None)
            if forced:
                answers[i] = {"error": dict(forced)}
                continue
            recorded = self.faults["recorded_answers"].get(hashlib.sha256(data).hexdigest())
            if recorded:   # a real Vision answer recorded for these bytes, as the real API gave it
                answers[i] = _only_requested(json.loads(json.dumps(recorded)), req.features)
                continue
            try:
                image, _ctype, _w, _h = decode_image(data, 1024)
            except ImageError as e:
                answers[i] = {"error": {"code": 3, "message": f"Bad image data. ({e.message})"}}
                continue
            decoded.append(image)
            slots.append(i)
            wanted.append(req.features)
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
