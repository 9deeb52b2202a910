"""Category names that are always safe to use as one folder name.

A label comes from a model or a remote API; it must never be able to write
outside the category root, however odd it is ("../x", "a/b", "", 500 characters).
"""
from __future__ import annotations

import re
import unicodedata

UNCATEGORIZED = "uncategorized"
MAX_LEN = 64
_UNSAFE = re.compile(r"[^\w-]+", re.UNICODE)


def category_name(label: str | None) -> str:
    """Lower-case, path-safe, non-empty folder name for a label."""
    if not label:
        return UNCATEGORIZED
    text = unicodedata.normalize("NFKC", label).lower()
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in text)
    text = _UNSAFE.sub("_", text).strip("_-.")
    text = re.sub(r"_+", "_", text)[:MAX_LEN].strip("_-.")
    return text or UNCATEGORIZED
