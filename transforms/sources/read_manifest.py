"""ReadManifest: the images named by manifest files instead of a bucket listing.

A manifest is either a Cloud Storage inventory report (Storage Insights CSV
with a header, or Parquet; columns bucket, name, generation, size,
contentType, updated) or a plain list of gs:// URIs, one a line, with an
optional generation (`gs://b/o.jpg#123` or a second CSV column). Listing a
bucket of millions of objects costs thousands of requests; a report the
bucket already has costs none, and a manifest of past failures re-runs only
those.

Files are matched and read on workers (fileio), one file per element, so a
sharded report is read in parallel. Each object goes through the same
`object_ref` rule as the listing (copies, category root, non-images are
skipped; key = bucket, name, generation). A line that names no usable object
becomes an error row naming the manifest file and line number: one bad line
never fails the job.
"""
from __future__ import annotations

import csv
import io
import itertools

import apache_beam as beam
from apache_beam.io import fileio

from transforms import metrics
from transforms.clients import process_storage
from transforms.records import error_row
from transforms.sources.list_images import _Tally, object_ref, progress_tracker
from transforms.stage import ERRORS, StageOutput

STAGE = "manifest"
INVENTORY_COLUMNS = ("bucket", "name")  # the columns an inventory report cannot do without


class BadLine(ValueError):
    """A manifest line that names no usable object; `code` goes into the error row."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _generation(value) -> int | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    if not text.isdigit():
        raise BadLine("bad_generation", f"generation {text!r} is not a non-negative integer")
    return int(text)


def parse_uri(text: str, generation=None) -> dict:
    """`gs://bucket/name[#generation]` (+ optional generation column) -> object fields."""
    text = text.strip()
    if not text.startswith("gs://"):
        raise BadLine("not_gcs_uri", f"{text[:200]!r} is not a gs:// URI")
    path, _, fragment = text[5:].partition("#")
    bucket, _, name = path.partition("/")
    if not bucket:
        raise BadLine("empty_bucket", f"{text[:200]!r} has no bucket")
    if not name:
        raise BadLine("empty_name", f"{text[:200]!r} has no object name")
    if fragment and generation not in (None, ""):
        raise BadLine("bad_generation", f"{text[:200]!r} gives a generation twice")
    return {"bucket": bucket, "name": name, "generation": _generation(fragment or generation)}


def parse_uri_line(line: str) -> dict | None:
    """One line of a plain URI list; None for a blank line or a `#` comment."""
    if not line.strip() or line.lstrip().startswith("#"):
        return None
    cells = next(csv.reader([line]))
    if len(cells) > 2:
        raise BadLine("bad_columns", f"expected a URI and an optional generation, got {len(cells)} columns")
    return parse_uri(cells[0], cells[1] if len(cells) == 2 else None)


def parse_inventory_row(row: dict) -> dict:
    """One inventory report row (CSV dict or Parquet record) -> object fields."""
    missing = [c for c in INVENTORY_COLUMNS if not str(row.get(c) or "").strip()]
    if missing:
        raise BadLine("missing_column", f"inventory row has no {missing[0]}")
    return {"bucket": str(row["bucket"]).strip(), "name": str(row["name"]),
            "generation": _generation(row.get("generation")), "size": row.get("size"),
            "content_type": row.get("contentType"), "updated": row.get("updated")}


def is_inventory_header(line: str) -> bool:
    cells = {c.strip() for c in next(csv.reader([line]), [])}
    return all(c in cells for c in INVENTORY_COLUMNS)


def csv_records(lines):
    """(line number, parsed fields or BadLine) of a text manifest; the header decides its kind."""
    lines = iter(lines)
    first = next(lines, None)
    if first is None:
        return
    if is_inventory_header(first):
        header = next(csv.reader([first]))
        for number, line in enumerate(lines, start=2):
            if not line.strip():
                continue
            cells = next(csv.reader([line]))
            if len(cells) != len(header):
                yield number, BadLine("bad_columns", f"{len(cells)} columns, the header has {len(header)}")
                continue
            yield number, _attempt(parse_inventory_row, dict(zip(header, cells, strict=True)))
        return
    for number, line in enumerate(itertools.chain([first], lines), start=1):
        parsed = _attempt(parse_uri_line, line)
        if parsed is not None:
            yield number, parsed


def _attempt(parse, value):
    try:
        return parse(value)
    except BadLine as e:
        return e


def parquet_records(fileobj):
    """(row number, parsed fields or BadLine) of a Parquet inventory report, one row group at a time."""
    import pyarrow.parquet as pq  # late: only Parquet manifests need it
    reader = pq.ParquetFile(fileobj)
    number = 0
    for batch in reader.iter_batches(batch_size=10_000):
        for row in batch.to_pylist():
            number += 1
            yield number, _attempt(parse_inventory_row, row)


class _ReadManifestFile(beam.DoFn):
    """One matched manifest file -> ImageRefs, and error rows (output `errors`) naming the line."""

    def __init__(self, category_root: str):
        self.category_root = category_root
        self.tally = _Tally()
        self.bad_lines = metrics.counter("manifest_bad_lines")

    def setup(self):
        self.tally.tracker = progress_tracker()
        self.storage = process_storage()   # its client is built on the first line without a generation

    def _current(self, parsed: dict) -> dict | None:
        """Fill a line without a generation from the object as it is now, so the key is the listing's."""
        blob = self.storage.client.bucket(parsed["bucket"]).get_blob(parsed["name"])
        if blob is None:
            return None
        return {**parsed, "generation": blob.generation, "size": blob.size, "content_type": blob.content_type,
                "updated": blob.updated or blob.time_created, "metadata": blob.metadata}

    def process(self, readable):
        path = readable.metadata.path
        with readable.open() as f:
            if path.endswith(".parquet"):
                records = parquet_records(f)
            else:
                records = csv_records(io.TextIOWrapper(f, encoding="utf-8", errors="replace", newline=""))
            for number, parsed in records:
                yield from self._one(path, number, parsed)

    def _one(self, path, number, parsed):
        where = f"{path}:{number}"
        if isinstance(parsed, BadLine):
            self.bad_lines.inc()
            yield beam.pvalue.TaggedOutput(ERRORS, error_row(
                None, STAGE, parsed.code, f"manifest {where}: {parsed}", uri=where))
            return
        if parsed["generation"] is None:
            parsed_uri = f"{parsed['bucket']}/{parsed['name']}"
            parsed = self._current(parsed)
            if parsed is None:
                self.bad_lines.inc()
                yield beam.pvalue.TaggedOutput(ERRORS, error_row(
                    None, STAGE, "not_found", f"manifest {where}: gs://{parsed_uri} does not exist", uri=where))
                return
        ref = object_ref(bucket=parsed["bucket"], name=parsed["name"], generation=parsed["generation"],
                         prefix="", category_root=self.category_root, size=parsed.get("size"),
                         content_type=parsed.get("content_type"), updated=parsed.get("updated"),
                         metadata=parsed.get("metadata"))
        if self.tally.count(ref):
            yield ref


class ReadManifest(beam.PTransform):
    """PCollection[ImageRef] (main) and error rows (`errors`) of the objects in manifest files.

    `pattern` may be a glob (local or gs://); every matching file is read, each
    by one task, and the images are spread again so classification is parallel.
    """

    def __init__(self, pattern: str, category_root: str):
        super().__init__()
        self.pattern, self.category_root = pattern, category_root

    def expand(self, pbegin):
        read = (pbegin
                | "MatchManifests" >> fileio.MatchFiles(self.pattern)
                | "OpenManifests" >> fileio.ReadMatches()
                | "ParseManifests" >> beam.ParDo(_ReadManifestFile(self.category_root)).with_outputs(
                    ERRORS, main="images"))
        return StageOutput(read.images | "SpreadImages" >> beam.Reshuffle(), read[ERRORS])
