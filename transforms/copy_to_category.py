"""CopyToCategoryFolders: copy each classified image to
`<category_root>/<category>/<path under the input>`.

Keeping the relative path means two `photo.jpg` in different folders never
collide. Copies in a bucket carry the `classified-copy-of` metadata key, so the
listing and the notification reader can recognise (and skip) them. A failed
copy turns the image's result into an error row, so every image still ends as
exactly one row.
"""
from __future__ import annotations

import os
import shutil

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from google.api_core.retry import Retry

from transforms.clients import COPY_MARKER, split_gcs, storage_client
from transforms.list_images import NAMESPACE
from transforms.records import ImageRef, error_row

ERRORS = "errors"
# Writing the same copy twice gives the same object, so retrying a copy is safe
# (the storage client only retries idempotent calls by default).
DEFAULT_RETRY = Retry(initial=0.5, maximum=8.0, multiplier=2.0, timeout=120.0)


def safe_relative_path(rel_path: str) -> str:
    """The relative path with every segment that could climb out made harmless."""
    parts = []
    for seg in rel_path.replace("\\", "/").split("/"):
        if seg in ("", "."):
            continue
        parts.append("__" if seg == ".." else seg)
    return "/".join(parts) or "unnamed"


def category_destination(category_root: str, category: str, rel_path: str) -> str:
    return f"{category_root.rstrip('/')}/{category}/{safe_relative_path(rel_path)}"


class _Copy(beam.DoFn):
    def __init__(self, category_root: str):
        self.category_root = category_root
        self.copied = Metrics.counter(NAMESPACE, "copies_written")
        self.failed = Metrics.counter(NAMESPACE, "copies_failed")

    def setup(self):
        self._client = None

    def _gcs(self):
        if self._client is None:
            self._client = storage_client()
        return self._client

    def _copy(self, ref: ImageRef, dest: str):
        if dest.startswith("gs://"):
            dest_bucket, dest_name = split_gcs(dest)
            target = self._gcs().bucket(dest_bucket).blob(dest_name)
            target.metadata = {COPY_MARKER: ref.uri}
            if ref.is_gcs:
                src_bucket, src_name = split_gcs(ref.uri)
                source = self._gcs().bucket(src_bucket).blob(src_name, generation=ref.generation or None)
                token, _, _ = target.rewrite(source, retry=DEFAULT_RETRY)
                while token:
                    token, _, _ = target.rewrite(source, token=token, retry=DEFAULT_RETRY)
            else:
                target.upload_from_filename(ref.uri, retry=DEFAULT_RETRY)
        elif ref.is_gcs:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with FileSystems.open(ref.uri, compression_type="uncompressed") as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out)
        else:
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy2(ref.uri, dest)

    def process(self, item):
        ref, row = item
        dest = category_destination(self.category_root, row["primary_category"], ref.rel_path)
        try:
            self._copy(ref, dest)
        except Exception as e:  # noqa: BLE001 - any failure becomes the image's error row
            self.failed.inc()
            yield beam.pvalue.TaggedOutput(
                ERRORS, error_row(ref, "copy", "copy_failed", f"could not copy to {dest}: {type(e).__name__}: {e}"))
            return
        self.copied.inc()
        yield ref, dict(row, category_uri=dest)


class CopyToCategoryFolders(beam.PTransform):
    """(ImageRef, row) -> (ImageRef, row with category_uri), and error rows on `errors`."""

    def __init__(self, category_root: str):
        super().__init__()
        self.category_root = category_root

    def expand(self, pairs):
        return pairs | "Copy" >> beam.ParDo(_Copy(self.category_root)).with_outputs(ERRORS, main="copied")
