"""ReadImages: fetch an image's bytes and decode it for the models.

Reads go through Beam's FileSystems, so local paths and gs:// work alike. A
missing object (deleted after it was listed or announced) is an error row, not
a retry loop; so is an oversized, empty or undecodable file.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from transforms.clients import anonymous_beam_credentials_for_emulators
from transforms.imaging import MAX_FILE_BYTES, ImageError, decode_image
from transforms.list_images import NAMESPACE
from transforms.records import ImageRef, LoadedImage, error_row

ERRORS = "errors"


def read_bytes(ref: ImageRef, limit: int = MAX_FILE_BYTES) -> bytes:
    """The object's bytes, or ImageError naming why they cannot be had."""
    if ref.size_bytes is not None and ref.size_bytes > limit:
        raise ImageError("read", "file_too_large",
                         f"the file is {ref.size_bytes / 2**20:.1f} MiB; the limit is {limit / 2**20:.0f} MiB")
    try:
        with FileSystems.open(ref.uri, compression_type="uncompressed") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise ImageError("read", "not_found", "the object no longer exists (deleted before it was read)") from None
    except Exception as e:  # noqa: BLE001 - storage clients raise many types
        if "404" in str(e) or "not found" in str(e).lower() or "No such file" in str(e):
            raise ImageError("read", "not_found",
                             "the object no longer exists (deleted before it was read)") from None
        raise ImageError("read", "read_failed", f"could not read the object: {type(e).__name__}: {e}") from None
    if len(data) > limit:
        raise ImageError("read", "file_too_large", f"the file is larger than the {limit / 2**20:.0f} MiB limit")
    return data


class _ReadAndDecode(beam.DoFn):
    def __init__(self, max_side: int):
        self.max_side = max_side
        self.decoded = Metrics.counter(NAMESPACE, "images_decoded")
        self.failed = Metrics.counter(NAMESPACE, "images_unreadable")
        self.read_bytes = Metrics.distribution(NAMESPACE, "image_bytes")

    def setup(self):
        anonymous_beam_credentials_for_emulators()

    def process(self, ref: ImageRef):
        try:
            data = read_bytes(ref)
            self.read_bytes.update(len(data))
            image, content_type, width, height = decode_image(data, self.max_side)
        except ImageError as e:
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(ERRORS, error_row(ref, e.stage, e.code, e.message))
            return
        self.decoded.inc()
        yield LoadedImage(ref=ref, image=image, content_type=content_type, width=width, height=height)


class ReadImages(beam.PTransform):
    """ImageRef -> LoadedImage (main output) and error rows (output `errors`)."""

    def __init__(self, max_side: int = 1024):
        super().__init__()
        self.max_side = max_side

    def expand(self, refs):
        return refs | "ReadAndDecode" >> beam.ParDo(_ReadAndDecode(self.max_side)).with_outputs(
            ERRORS, main="images")
