"""The values that travel between steps.

An `ImageRef` names one image version (bucket, name, generation) and carries what
the listing or the notification already knew about it. Every step that fails on an
image turns it into an error row with `error_row`, so failures share one shape.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from transforms.redact import redact

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class ImageRef:
    uri: str                 # gs://bucket/name, or the absolute local path
    bucket: str              # the bucket, or the input folder for local files
    name: str                # object name, or path relative to the input folder
    generation: int          # GCS generation, or mtime in ns for local files
    rel_path: str            # path kept under the category folder
    size_bytes: int | None = None
    content_type: str | None = None   # as declared by the store (not trusted)
    event_time: str | None = None     # ISO 8601 UTC: upload or modification time
    message_id: str | None = None     # Pub/Sub message id, when it came from one

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.bucket, self.name, self.generation)

    @property
    def is_gcs(self) -> bool:
        return self.uri.startswith("gs://")


@dataclass(frozen=True)
class LoadedImage:
    """An image decoded and shrunk for inference, with its original facts."""
    ref: ImageRef
    image: Image.Image       # RGB, already EXIF-oriented and shrunk
    content_type: str        # decided from the bytes, e.g. image/jpeg
    width: int               # original size, before shrinking
    height: int


def utcnow_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def error_row(ref: ImageRef | None, stage: str, code: str, message: str,
              attempts: int = 1, uri: str | None = None) -> dict:
    """One row of the `errors` table."""
    return {
        "uri": uri or (ref.uri if ref else ""),
        "bucket": ref.bucket if ref else None,
        "name": ref.name if ref else None,
        "generation": ref.generation if ref else None,
        "stage": stage,
        "code": code,
        "message": redact(message),
        "attempts": attempts,
        "failed_at": utcnow_iso(),
    }


@dataclass(frozen=True)
class AnnotatedImage:
    """A backend's answer for one image, still tied to that image."""
    ref: ImageRef
    response: dict                              # Vision AnnotateImageResponse, REST JSON shape
    backend: str
    model_version: str | None
    analysed_size: tuple[int, int] | None = None  # size of the image the backend saw
    content_type: str | None = None
    original_size: tuple[int, int] | None = None
