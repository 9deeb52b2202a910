"""CopyToCategoryFolders: copy each classified image to
`<category_root>/<category>/<path under the input>`.

Keeping the relative path means two `photo.jpg` in different folders never
collide. A local copy is never written through a symbolic link
(transforms/stages/local_copy.py). Copies in a bucket carry the `classified-copy-of` metadata key, so the
listing and the notification reader can recognise (and skip) them. A failed
copy turns the image's result into an error row, so every image still ends as
exactly one row.

Pub/Sub does not keep order, so an older generation of an object may be
classified after a newer one. Copies in a bucket also record the generation they
hold, and a copy is never replaced by an older generation of the same object: a
category folder shows the newest version classified into it. The check and the
write are tied by a generation precondition, so two workers cannot interleave.
"""
from __future__ import annotations

import os

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from google.api_core.retry import Retry

from transforms import metrics
from transforms.clients import COPY_MARKER, process_storage, split_gcs
from transforms.records import ImageRef, error_row
from transforms.stage import ERRORS, split_outputs
from transforms.stages.local_copy import open_local_source, write_copy

COPY_GENERATION = "classified-copy-generation"   # metadata: the source generation a copy holds
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


def holds_same_or_newer(metadata: dict | None, ref: ImageRef) -> bool:
    """True when an existing copy (its metadata) is of this object at this or a later generation."""
    meta = metadata or {}
    if meta.get(COPY_MARKER) != ref.uri:
        return False
    try:
        return int(meta.get(COPY_GENERATION) or -1) >= int(ref.generation or 0)
    except ValueError:
        return False


def category_destination(category_root: str, category: str, rel_path: str) -> str:
    return f"{category_root.rstrip('/')}/{category}/{safe_relative_path(rel_path)}"


class _Copy(beam.DoFn):
    def __init__(self, category_root: str):
        self.category_root = category_root
        self.copied = metrics.counter("copies_written")
        self.failed = metrics.counter("copies_failed")
        self.kept = metrics.counter("copies_kept_same_or_newer")

    def setup(self):
        self.storage = process_storage()

    def _gcs(self):
        return self.storage.client

    def _copy(self, ref: ImageRef, dest: str):
        if dest.startswith("gs://"):
            self._copy_to_gcs(ref, *split_gcs(dest))
            return
        rel_dest = dest[len(self.category_root.rstrip("/")) + 1:]
        if ref.is_gcs:
            with FileSystems.open(ref.uri, compression_type="uncompressed") as src:
                write_copy(src, self.category_root, rel_dest)
        else:
            with open_local_source(ref.uri) as src:
                write_copy(src, self.category_root, rel_dest, os.fstat(src.fileno()).st_mtime_ns)

    def _copy_to_gcs(self, ref: ImageRef, dest_bucket: str, dest_name: str, attempts: int = 5):
        from google.api_core.exceptions import PreconditionFailed
        bucket = self._gcs().bucket(dest_bucket)
        for _ in range(attempts):
            existing = bucket.get_blob(dest_name)
            if existing is not None and holds_same_or_newer(existing.metadata, ref):
                self.kept.inc()
                return
            target = bucket.blob(dest_name)
            target.metadata = {COPY_MARKER: ref.uri, COPY_GENERATION: str(ref.generation)}
            # Write only over the copy just looked at (0: only if there is none).
            precondition = existing.generation if existing is not None else 0
            try:
                if ref.is_gcs:
                    src_bucket, src_name = split_gcs(ref.uri)
                    source = self._gcs().bucket(src_bucket).blob(src_name, generation=ref.generation or None)
                    token, _, _ = target.rewrite(source, if_generation_match=precondition, retry=DEFAULT_RETRY)
                    while token:
                        token, _, _ = target.rewrite(source, token=token, if_generation_match=precondition,
                                                     retry=DEFAULT_RETRY)
                else:
                    target.upload_from_filename(ref.uri, if_generation_match=precondition, retry=DEFAULT_RETRY)
                return
            except PreconditionFailed:
                continue   # another worker wrote it meanwhile: look again
        raise RuntimeError(f"gs://{dest_bucket}/{dest_name} kept changing during {attempts} attempts")

    def _source_gone(self, ref: ImageRef) -> bool:
        if not ref.is_gcs:
            return not os.path.exists(ref.uri)
        try:
            src_bucket, src_name = split_gcs(ref.uri)
            return self._gcs().bucket(src_bucket).get_blob(src_name, generation=ref.generation or None) is None
        except Exception:  # noqa: BLE001 - cannot tell: report the copy failure itself
            return False

    def process(self, item):
        ref, row = item
        dest = category_destination(self.category_root, row["primary_category"], ref.rel_path)
        try:
            self._copy(ref, dest)
        except Exception as e:  # noqa: BLE001 - any failure becomes the image's error row
            self.failed.inc()
            if self._source_gone(ref):   # overwritten or deleted after it was read: like a read that came late
                yield beam.pvalue.TaggedOutput(ERRORS, error_row(
                    ref, "copy", "not_found", "the object no longer exists (deleted or overwritten before "
                    f"it was copied to {dest})"))
                return
            yield beam.pvalue.TaggedOutput(
                ERRORS, error_row(ref, "copy", "copy_failed", f"could not copy to {dest}: {type(e).__name__}: {e}"))
            return
        self.copied.inc()
        yield dict(row, category_uri=dest)


class CopyToCategoryFolders(beam.PTransform):
    """(ImageRef, row) -> (ImageRef, row with category_uri), and error rows on `errors`."""

    def __init__(self, category_root: str):
        super().__init__()
        self.category_root = category_root

    def expand(self, pairs):
        return split_outputs(pairs | "Copy" >> beam.ParDo(_Copy(self.category_root)).with_outputs(
            ERRORS, main="rows"), "rows")
