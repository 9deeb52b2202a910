"""Turn one Vision `AnnotateImageResponse` (REST JSON shape, whatever the
backend) into one `classifications` row.

Pure functions: the same code parses Cloud Vision answers and the local
backend's answers, so both backends give rows of one shape.
"""
from __future__ import annotations

from transforms.records import ImageRef, utcnow_iso
from transforms.taxonomy import TOP_LABEL, Taxonomy, categorize

UNSAFE_LIKELIHOODS = ("LIKELY", "VERY_LIKELY")
UNSAFE_KEYS = ("adult", "violence", "racy")
_RPC_CODES = {1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED",
              5: "NOT_FOUND", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED",
              9: "FAILED_PRECONDITION", 13: "INTERNAL", 14: "UNAVAILABLE", 16: "UNAUTHENTICATED"}


def rpc_code_name(code) -> str:
    return _RPC_CODES.get(code, str(code)) if isinstance(code, int) else str(code or "UNKNOWN")


def _box_from_poly(poly: dict | None, size: tuple[int, int] | None) -> list[float] | None:
    """Normalised [x_min, y_min, x_max, y_max] from a boundingPoly, clamped to the image.

    Vision omits zero coordinates (proto3 defaults), so a missing x or y is 0.
    """
    if not poly:
        return None
    if poly.get("normalizedVertices"):
        pts = [(v.get("x", 0.0), v.get("y", 0.0)) for v in poly["normalizedVertices"]]
    elif poly.get("vertices") and size and size[0] and size[1]:
        w, h = size
        pts = [(v.get("x", 0) / w, v.get("y", 0) / h) for v in poly["vertices"]]
    else:
        return None
    xs, ys = [min(max(float(x), 0.0), 1.0) for x, _ in pts], [min(max(float(y), 0.0), 1.0) for _, y in pts]
    return [min(xs), min(ys), max(xs), max(ys)]


def _labels(resp: dict, min_conf: float, max_labels: int | None) -> list[dict]:
    anns = [a for a in resp.get("labelAnnotations", []) if a.get("score", 0.0) >= min_conf]
    # Vision's list is in relevance order; `topicality` is that relevance when present.
    anns.sort(key=lambda a: a.get("topicality", a.get("score", 0.0)), reverse=True)
    return [{"name": a.get("description", ""), "score": float(a.get("score", 0.0)), "mid": a.get("mid")}
            for a in anns[:max_labels]]


def _objects(resp: dict, min_conf: float, size) -> list[dict]:
    out = []
    for a in resp.get("localizedObjectAnnotations", []):
        if a.get("score", 0.0) >= min_conf:
            out.append({"name": a.get("name", ""), "score": float(a.get("score", 0.0)),
                        "box": _box_from_poly(a.get("boundingPoly"), size)})
    return sorted(out, key=lambda o: o["score"], reverse=True)


def _safe_search(resp: dict) -> dict | None:
    ann = resp.get("safeSearchAnnotation")
    if ann is None:
        return None
    return {k: ann.get(k, "UNKNOWN") for k in ("adult", "spoof", "medical", "violence", "racy")}


def is_safe(safe_search: dict | None) -> bool | None:
    """Unsafe when adult, violence or racy is LIKELY or VERY_LIKELY.

    UNKNOWN (a likelihood the model cannot estimate) counts as not unsafe; spoof
    and medical never make an image unsafe. None when safe search was not run.
    """
    if safe_search is None:
        return None
    return not any(safe_search.get(k) in UNSAFE_LIKELIHOODS for k in UNSAFE_KEYS)


def _faces(resp: dict, size) -> list[dict]:
    return [{"box": _box_from_poly(a.get("boundingPoly") or a.get("fdBoundingPoly"), size),
             "confidence": float(a.get("detectionConfidence", 0.0)),
             "joy": a.get("joyLikelihood"), "sorrow": a.get("sorrowLikelihood"),
             "anger": a.get("angerLikelihood"), "surprise": a.get("surpriseLikelihood"),
             "headwear": a.get("headwearLikelihood")}
            for a in resp.get("faceAnnotations", [])]


def _text(resp: dict) -> str | None:
    full = resp.get("fullTextAnnotation") or {}
    if full.get("text"):
        return full["text"]
    anns = resp.get("textAnnotations") or []
    return anns[0].get("description") if anns else None


def _landmarks(resp: dict) -> list[dict]:
    out = []
    for a in resp.get("landmarkAnnotations", []):
        lat_lng = ((a.get("locations") or [{}])[0]).get("latLng") or {}
        out.append({"name": a.get("description", ""), "score": float(a.get("score", 0.0)),
                    "mid": a.get("mid"), "latitude": lat_lng.get("latitude"),
                    "longitude": lat_lng.get("longitude")})
    return out


def _logos(resp: dict) -> list[dict]:
    return [{"name": a.get("description", ""), "score": float(a.get("score", 0.0)), "mid": a.get("mid")}
            for a in resp.get("logoAnnotations", [])]


def _colors(resp: dict) -> list[dict]:
    colors = ((resp.get("imagePropertiesAnnotation") or {}).get("dominantColors") or {}).get("colors", [])
    return [{"red": int((c.get("color") or {}).get("red", 0)),
             "green": int((c.get("color") or {}).get("green", 0)),
             "blue": int((c.get("color") or {}).get("blue", 0)),
             "score": float(c.get("score", 0.0)), "pixel_fraction": float(c.get("pixelFraction", 0.0))}
            for c in colors]


def response_to_row(ref: ImageRef, resp: dict, *, backend: str, model_version: str | None,
                    min_confidence: float, max_labels: int | None = None,
                    quarantine_category: str = "quarantine", taxonomy: Taxonomy = TOP_LABEL,
                    analysed_size: tuple[int, int] | None = None,
                    content_type: str | None = None,
                    original_size: tuple[int, int] | None = None) -> dict:
    """The `classifications` row for one image; `category_uri` is filled by the copy step.

    `min_confidence` and `max_labels` are the job's (pipeline/options.py); `max_labels=None`
    keeps every label at or above the threshold.

    The category is the taxonomy's (transforms/taxonomy.py); the row also keeps the
    top label and the rule that chose the category, so a user can see why.

    `analysed_size` is the size of the image the backend saw (pixel coordinates in
    the answer refer to it); `original_size` is the size of the stored image.
    """
    labels = _labels(resp, min_confidence, max_labels)
    safe_search = _safe_search(resp)
    found = {"labels": labels, "objects": _objects(resp, min_confidence, analysed_size),
             "is_safe": is_safe(safe_search), "faces": _faces(resp, analysed_size), "text": _text(resp)}
    category, rule = categorize(found, taxonomy, quarantine_category)
    width, height = original_size or (None, None)
    return {
        "uri": ref.uri, "bucket": ref.bucket, "name": ref.name, "generation": ref.generation,
        "content_type": content_type or ref.content_type, "size_bytes": ref.size_bytes,
        "width": width, "height": height,
        "primary_category": category, "top_label": labels[0]["name"] if labels else None,
        "category_rule": rule, "labels": labels,
        "objects": found["objects"],
        "safe_search": safe_search, "is_safe": found["is_safe"],
        "faces": found["faces"], "text": found["text"],
        "landmarks": _landmarks(resp), "logos": _logos(resp), "dominant_colors": _colors(resp),
        "backend": backend, "model_version": model_version,
        "event_time": ref.event_time or utcnow_iso(), "classified_at": utcnow_iso(),
        "category_uri": None,
    }


def response_error(resp: dict) -> tuple[str, str] | None:
    """(code, message) of a per-image error inside a successful batch answer."""
    err = resp.get("error")
    if not err or not (err.get("code") or err.get("message")):
        return None
    return rpc_code_name(err.get("code")), err.get("message") or "the Vision API returned an error"

