"""Which backend serves which Vision feature.

The job refuses to start when a requested feature has no model behind it:
an empty column that looks like "nothing found" is worse than an error.
"""
from __future__ import annotations

VISION_FEATURES = frozenset({
    "LABEL_DETECTION", "OBJECT_LOCALIZATION", "SAFE_SEARCH_DETECTION", "FACE_DETECTION",
    "TEXT_DETECTION", "DOCUMENT_TEXT_DETECTION", "LANDMARK_DETECTION", "LOGO_DETECTION",
    "IMAGE_PROPERTIES",
})

LOCAL_FEATURES = frozenset({
    "LABEL_DETECTION", "SAFE_SEARCH_DETECTION", "OBJECT_LOCALIZATION", "FACE_DETECTION",
    "TEXT_DETECTION", "DOCUMENT_TEXT_DETECTION", "IMAGE_PROPERTIES",
})

# Text needs more pixels than anything else: both backends shrink images less for it.
TEXT_FEATURES = frozenset({"TEXT_DETECTION", "DOCUMENT_TEXT_DETECTION"})

SERVED_BY = {"local": LOCAL_FEATURES, "vision": VISION_FEATURES}


def unsupported_features(backend: str, features) -> str | None:
    """A one-line refusal naming the first feature `backend` cannot serve, or None."""
    served = SERVED_BY[backend]
    for feature in features:
        if feature not in served:
            others = [b for b, feats in SERVED_BY.items() if feature in feats]
            where = f"use --backend={' or '.join(others)}" if others else "no backend serves it"
            return f"--backend={backend} cannot serve {feature}: {where}"
    return None
