"""ListImages: every image under a local folder or a gs:// prefix, lazily.

The listing runs on a worker as a generator (pages of 1,000 objects for a
bucket, one directory at a time for a folder), so a bucket with millions of
objects is never held in memory, and never on the launcher. Files whose
extension is not an image type are counted and skipped, not errors; anything
under the category root, and any object marked as a copy, is skipped so
copies never classify themselves.
"""
from __future__ import annotations

import datetime as dt
import os

import apache_beam as beam
from apache_beam.metrics import Metrics

from transforms.clients import COPY_MARKER, split_gcs, storage_client
from transforms.records import ImageRef

IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff",
    ".ico", ".avif", ".heic", ".heif",
})
NAMESPACE = "image_classifier"


def progress_tracker():
    """The launching process's progress tracker on a local runner (it learns the total here), else None."""
    from transforms.progress import current  # late: transforms.progress imports NAMESPACE from here
    return current()


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _under(path: str, root: str) -> bool:
    return (path.rstrip("/") + "/").startswith(root.rstrip("/") + "/")


def walk_folder(root: str, category_root: str):
    """Yield (absolute path, stat) of every file under root, skipping the category root."""
    stack = [root]
    while stack:
        folder = stack.pop()
        if _under(folder, category_root):
            continue
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.is_file():
                yield entry.path, entry.stat()


class _ListFolder(beam.DoFn):
    def __init__(self, category_root: str):
        self.category_root = category_root
        self.listed = Metrics.counter(NAMESPACE, "listed_images")
        self.skipped = Metrics.counter(NAMESPACE, "skipped_not_image")
        self.skipped_copies = Metrics.counter(NAMESPACE, "skipped_copies")

    def setup(self):
        self.tracker = progress_tracker()

    def process(self, root: str):
        for path, st in walk_folder(root, self.category_root):
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            if not is_image_name(path):
                self.skipped.inc()
                continue
            self.listed.inc()
            if self.tracker:
                self.tracker.add_listed()
            yield ImageRef(
                uri=path, bucket=root, name=rel, generation=st.st_mtime_ns, rel_path=rel,
                size_bytes=st.st_size,
                event_time=dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc).isoformat())


class _ListBucket(beam.DoFn):
    def __init__(self, category_root: str):
        self.category_root = category_root
        self.listed = Metrics.counter(NAMESPACE, "listed_images")
        self.skipped = Metrics.counter(NAMESPACE, "skipped_not_image")
        self.skipped_copies = Metrics.counter(NAMESPACE, "skipped_copies")

    def setup(self):
        self.client = storage_client()
        self.tracker = progress_tracker()

    def process(self, input_uri: str):
        bucket, prefix = split_gcs(input_uri)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        for blob in self.client.list_blobs(bucket, prefix=prefix or None, page_size=1000):
            uri = f"gs://{bucket}/{blob.name}"
            if blob.name.endswith("/"):
                continue
            if _under(uri, self.category_root) or (blob.metadata or {}).get(COPY_MARKER):
                self.skipped_copies.inc()
                continue
            if not is_image_name(blob.name):
                self.skipped.inc()
                continue
            self.listed.inc()
            if self.tracker:
                self.tracker.add_listed()
            updated = blob.updated or blob.time_created
            yield ImageRef(
                uri=uri, bucket=bucket, name=blob.name, generation=int(blob.generation or 0),
                rel_path=blob.name[len(prefix):], size_bytes=blob.size, content_type=blob.content_type,
                event_time=updated.isoformat() if updated else None)


class ListImages(beam.PTransform):
    """PCollection[ImageRef] of every image under `input_path` (folder or gs://)."""

    def __init__(self, input_path: str, category_root: str):
        super().__init__()
        self.input_path, self.category_root = input_path, category_root

    def expand(self, pbegin):
        lister = (_ListBucket if self.input_path.startswith("gs://") else _ListFolder)(self.category_root)
        return (pbegin
                | "Root" >> beam.Create([self.input_path])
                | "List" >> beam.ParDo(lister)
                # Spread the listed images over workers: the listing itself is one task.
                | "Spread" >> beam.Reshuffle())
