"""ListImages: every image under a local folder or a gs:// prefix, lazily.

The listing runs on workers as generators (pages of 1,000 objects for each key
range of a bucket, see transforms/sources/list_ranges.py; one directory at a time for a
folder), so a bucket with millions of objects is never held in memory, and
never on the launcher. Files whose
extension is not an image type are counted and skipped, not errors; anything
under the category root, and any object marked as a copy, is skipped so
copies never classify themselves.

A folder is walked without following links (transforms/sources/list_folder.py):
a link with an image's name is an error row `read/symlink`, any other link is
counted and skipped; a folder or entry the walk cannot read is an error row
`list/unreadable_folder` or `list/unreadable`; a socket, FIFO or device with an
image's name is an error row `read/not_a_file`.
"""
from __future__ import annotations

import datetime as dt
import os

import apache_beam as beam

from transforms import metrics, progress
from transforms.clients import COPY_MARKER, process_storage, split_gcs
from transforms.records import ImageRef, error_row
from transforms.sources.list_folder import FILE, LINK, OTHER, UNREADABLE, UNREADABLE_FOLDER, Entry, walk_folder
from transforms.sources.list_ranges import DEFAULT_RANGES, KeyRange, plan_boundaries, ranges_from
from transforms.stage import ERRORS, StageOutput, no_errors, split_outputs
from transforms.stages.local_copy import NOT_FOLLOWED

IMAGE_EXTENSIONS = frozenset({
    ".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff",
    ".ico", ".avif", ".heic", ".heif",
})
PAGE = 1000   # names per list request


def progress_tracker():
    """The launching process's progress tracker on a local runner (it learns the total here), else None."""
    return progress.current()


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _under(path: str, root: str) -> bool:
    return (path.rstrip("/") + "/").startswith(root.rstrip("/") + "/")


def object_ref(*, bucket: str, name: str, generation, prefix: str, category_root: str,
               size=None, content_type=None, updated=None, metadata=None) -> ImageRef | str:
    """The ImageRef of one listed object, or why it is skipped ('folder', 'copy', 'not_image').

    One rule for the bucket listing and the manifests, so both skip the same
    objects and key them the same way: (bucket, name, generation).
    """
    if name.endswith("/"):
        return "folder"
    uri = f"gs://{bucket}/{name}"
    if _under(uri, category_root) or (metadata or {}).get(COPY_MARKER):
        return "copy"
    if not is_image_name(name):
        return "not_image"
    if isinstance(updated, dt.datetime):
        updated = updated.isoformat()
    return ImageRef(uri=uri, bucket=bucket, name=name, generation=int(generation or 0),
                    rel_path=name[len(prefix):] if name.startswith(prefix) else name,
                    size_bytes=int(size) if size not in (None, "") else None,
                    content_type=content_type or None, event_time=updated or None)


class _Tally:
    """The listing's counters, shared by the folder, range and manifest listers."""

    def __init__(self):
        self.listed = metrics.counter("listed_images")
        self.skipped = metrics.counter("skipped_not_image")
        self.skipped_copies = metrics.counter("skipped_copies")
        self.skipped_links = metrics.counter("skipped_links")
        self.tracker = None

    def count(self, outcome) -> bool:
        """Count one listed object; True when it is an image to classify."""
        if isinstance(outcome, ImageRef):
            self.listed.inc()
            if self.tracker:
                self.tracker.add_listed()
            return True
        if outcome == "copy":
            self.skipped_copies.inc()
        elif outcome == "not_image":
            self.skipped.inc()
        elif outcome == "link":
            self.skipped_links.inc()
        return False

    def count_error(self) -> None:
        """An entry the listing found but turned into an error row: listed, so the total stays true."""
        self.listed.inc()
        if self.tracker:
            self.tracker.add_listed()


def _local_ref(root: str, entry: Entry) -> ImageRef:
    st = entry.stat
    return ImageRef(uri=entry.path, bucket=root, name=entry.rel, generation=st.st_mtime_ns if st else 0,
                    rel_path=entry.rel, size_bytes=st.st_size if st and entry.kind == FILE else None,
                    event_time=dt.datetime.fromtimestamp(st.st_mtime, dt.timezone.utc).isoformat() if st else None)


class _ListFolder(beam.DoFn):
    """Images under a local folder; links, unreadable entries and special files on ERRORS (or counted)."""

    def __init__(self, category_root: str):
        self.category_root = category_root
        self.tally = _Tally()

    def setup(self):
        self.tally.tracker = progress_tracker()

    def _error(self, ref: ImageRef, stage: str, code: str, message: str):
        self.tally.count_error()
        return beam.pvalue.TaggedOutput(ERRORS, error_row(ref, stage, code, message))

    def process(self, root: str):
        for entry in walk_folder(root, self.category_root):
            image = is_image_name(entry.path)
            if entry.kind == UNREADABLE_FOLDER:
                yield self._error(_local_ref(root, entry), "list", entry.kind,
                                  f"the folder could not be read, so nothing in it is listed: {entry.error}")
            elif entry.kind == UNREADABLE:
                yield self._error(_local_ref(root, entry), "list", entry.kind, f"could not be looked at: {entry.error}")
            elif entry.kind == LINK and image:
                yield self._error(_local_ref(root, entry), "read", "symlink", NOT_FOLLOWED)
            elif entry.kind == OTHER and image:
                yield self._error(_local_ref(root, entry), "read", "not_a_file",
                                  "not a regular file (a socket, FIFO or device): not read")
            elif entry.kind == FILE and image:
                ref = _local_ref(root, entry)
                if self.tally.count(ref):
                    yield ref
            else:
                self.tally.count("link" if entry.kind == LINK else "not_image")


class _PlanRanges(beam.DoFn):
    """gs://bucket/prefix -> KeyRanges that follow its names (a few round trips).

    A prefix of at most one page (1,000 names) is one range: nothing to plan.
    """

    def __init__(self, target: int):
        self.target = target
        self.planned = metrics.counter("listing_ranges")

    def setup(self):
        self.storage = process_storage()
        self.tracker = progress_tracker()

    def _first_keys(self, bucket: str, prefix: str):
        def first_keys(start: str, n: int) -> list:
            return [b.name for b in self.storage.client.list_blobs(
                bucket, prefix=prefix or None, start_offset=start or None, max_results=n, fields="items(name)")]
        return first_keys

    def _more_than_a_page(self, bucket: str, prefix: str) -> bool:
        blobs = self.storage.client.list_blobs(bucket, prefix=prefix or None, page_size=PAGE, fields="nextPageToken")
        next(blobs.pages, None)
        return blobs.next_page_token is not None

    def _folders(self, bucket: str):
        def folders(group: str) -> list:
            pages = self.storage.client.list_blobs(bucket, prefix=group or None, delimiter="/", page_size=PAGE,
                                           fields="prefixes,nextPageToken").pages
            page = next(pages, None)   # one page only: a huge flat folder is never paged through
            return list(page.prefixes) if page is not None else []
        return folders

    def process(self, input_uri: str):
        bucket, prefix = split_gcs(input_uri)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        first_keys = self._first_keys(bucket, prefix)
        boundaries: list[str] = []
        if self.target > 1 and self._more_than_a_page(bucket, prefix):
            boundaries = plan_boundaries(prefix, first_keys, self.target, folders=self._folders(bucket))
        ranges = ranges_from(bucket, prefix, boundaries)
        self.planned.inc(len(ranges))
        if self.tracker:
            self.tracker.add_ranges(len(ranges))
        yield from ranges


class _ListRange(beam.DoFn):
    """List one KeyRange; a failed range is retried alone (it is one element)."""

    def __init__(self, category_root: str):
        self.category_root = category_root
        self.tally = _Tally()
        self.ranges_done = metrics.counter("listing_ranges_done")

    def setup(self):
        self.storage = process_storage()
        self.tally.tracker = progress_tracker()

    def process(self, key_range: KeyRange):
        blobs = self.storage.client.list_blobs(
            key_range.bucket, prefix=key_range.prefix or None, start_offset=key_range.start,
            end_offset=key_range.end, page_size=PAGE)
        for blob in blobs:
            ref = object_ref(bucket=key_range.bucket, name=blob.name, generation=blob.generation,
                             prefix=key_range.prefix, category_root=self.category_root, size=blob.size,
                             content_type=blob.content_type, updated=blob.updated or blob.time_created,
                             metadata=blob.metadata)
            if self.tally.count(ref):
                yield ref
        self.ranges_done.inc()
        if self.tally.tracker:
            self.tally.tracker.range_done()


class ListImages(beam.PTransform):
    """StageOutput(ok=ImageRef of every image under `input_path` (folder or gs://), errors=none).

    A bucket prefix is cut into key ranges that are spread over workers and
    listed in parallel; there is no barrier after the listing, so each range's
    images go on to be classified while other ranges are still listing.
    """

    def __init__(self, input_path: str, category_root: str, listing_ranges: int = DEFAULT_RANGES):
        super().__init__()
        self.input_path, self.category_root = input_path, category_root
        self.listing_ranges = listing_ranges

    def expand(self, pbegin):
        root = pbegin | "Root" >> beam.Create([self.input_path])
        if not self.input_path.startswith("gs://"):
            listed = split_outputs(root | "List" >> beam.ParDo(_ListFolder(self.category_root)).with_outputs(
                ERRORS, main="images"), "images")
            images = listed.ok | "Spread" >> beam.Reshuffle()  # a folder is listed by one task: spread its images
            return StageOutput(images, listed.errors)
        images = (root
                  | "PlanRanges" >> beam.ParDo(_PlanRanges(self.listing_ranges))
                  | "SpreadRanges" >> beam.Reshuffle()
                  | "ListRanges" >> beam.ParDo(_ListRange(self.category_root)))
        # A bucket listing names only what exists: it turns no image away (a failed listing fails the job).
        return StageOutput(images, no_errors(pbegin, "NoListingErrors"))
