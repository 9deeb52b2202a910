"""What is sent for each image: its gs:// URI, or its bytes (shrunk when needed).

A gs:// object that the API could read itself goes by URI: nothing is
downloaded or uploaded by the worker. Everything else goes as bytes: the
original file when it is already small enough and in a format Vision reads (so
Vision sees exactly what was stored), otherwise a JPEG of the image shrunk to
the analysis size. An image sent by URI that the API cannot read or decode is
sent again as bytes (the fallback), which also gives the same decode-stage
error rows as the local backend for files that are not images.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from transforms.records import ImageRef
from transforms.stages.imaging import decode_image
from transforms.stages.read_images import read_bytes

VISION_MAX_IMAGE_BYTES = 20 * 1024 * 1024    # per image, the API's limit
MAX_REQUEST_BYTES = 9 * 1024 * 1024          # per call, under the 10 MB JSON limit (base64 counted)
MAX_INLINE_ORIGINAL = 4 * 1024 * 1024        # larger originals are re-encoded even if small in pixels
MAX_IMAGES_PER_CALL = 16
VISION_TYPES = {"image/jpeg", "image/png", "image/gif", "image/bmp", "image/webp", "image/x-icon",
                "image/tiff"}
# Per-image answers for a URI that mean "send the bytes instead" (google.rpc codes):
# INVALID_ARGUMENT (bad image data), NOT_FOUND, PERMISSION_DENIED, UNAVAILABLE (URL fetch failed).
URI_FALLBACK_CODES = {3, 5, 7, 14}


@dataclass(frozen=True)
class ImageRequest:
    """One image's part of a call, still tied to its image."""
    ref: ImageRef
    uri: str | None = None
    content: bytes | None = None
    content_type: str | None = None
    analysed_size: tuple[int, int] | None = None
    original_size: tuple[int, int] | None = None

    @property
    def wire_bytes(self) -> int:
        """Bytes this image adds to the JSON request (base64 is 4/3 of the data)."""
        return (len(self.content) * 4 // 3 + 64) if self.content is not None else len(self.uri or "") + 64

    def as_call_item(self, features: tuple[tuple[str, int], ...]) -> dict:
        return {"uri": self.uri, "content": self.content, "features": features}


def by_uri(ref: ImageRef) -> ImageRequest | None:
    """A URI request when the API may read the object itself; None means send bytes."""
    if not ref.is_gcs or ref.size_bytes is None or not 0 < ref.size_bytes <= VISION_MAX_IMAGE_BYTES:
        return None
    if ref.content_type and ref.content_type.split(";")[0].strip().lower() not in VISION_TYPES:
        return None
    return ImageRequest(ref=ref, uri=ref.uri, content_type=ref.content_type)


def by_bytes(ref: ImageRef, max_side: int) -> ImageRequest:
    """Read and check the image; send the original bytes or a shrunk JPEG. Raises ImageError."""
    data = read_bytes(ref)
    image, content_type, width, height = decode_image(data, max_side)
    if (max(width, height) <= max_side and content_type in VISION_TYPES
            and len(data) <= MAX_INLINE_ORIGINAL and image.size == (width, height)):
        content = data   # exactly what was stored; EXIF orientation is Vision's to apply, as locally
    else:
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=90)
        content, content_type = buf.getvalue(), content_type
    return ImageRequest(ref=ref, content=content, content_type=content_type,
                        analysed_size=image.size, original_size=(width, height))


def split_for_calls(items: list[ImageRequest], max_images: int = MAX_IMAGES_PER_CALL,
                    max_bytes: int = MAX_REQUEST_BYTES) -> list[list[ImageRequest]]:
    """Cut a batch into calls of at most `max_images` images and `max_bytes` of request, in order."""
    calls: list[list[ImageRequest]] = []
    current: list[ImageRequest] = []
    size = 0
    for item in items:
        if current and (len(current) >= max_images or size + item.wire_bytes > max_bytes):
            calls.append(current)
            current, size = [], 0
        current.append(item)
        size += item.wire_bytes
    if current:
        calls.append(current)
    return calls
