"""ReadImages: fetch an image's bytes and decode it for the models.

Objects in a bucket are read at the generation that was listed or announced,
so a late redelivery after an overwrite never classifies the new bytes under
the old generation; other paths go through Beam's FileSystems. A missing
object (deleted or overwritten after it was listed or announced) is an error
row, not a retry loop; so is an oversized, empty or undecodable file.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms import metrics
from transforms.clients import ProcessStorage, anonymous_beam_credentials_for_emulators, process_storage, split_gcs
from transforms.records import ImageRef, LoadedImage, error_row
from transforms.stage import ERRORS, split_outputs
from transforms.stages.imaging import MAX_FILE_BYTES, ImageError, decode_image
from transforms.stages.local_copy import NOT_FOLLOWED, NotFollowed, open_local_source
from transforms.stages.pending import PendingFutures, windowed

NOT_FOUND = "the object no longer exists (deleted or overwritten before it was read)"


def _read_generation(ref: ImageRef, storage: ProcessStorage) -> bytes:
    from google.api_core.exceptions import NotFound
    bucket, name = split_gcs(ref.uri)
    try:
        # No Range header: a range on a zero-byte object is answered 416. The size was
        # checked against the limit from the listing or notification already.
        return storage.client.bucket(bucket).blob(name, generation=ref.generation).download_as_bytes()
    except NotFound:
        raise FileNotFoundError(ref.uri) from None


def read_bytes(ref: ImageRef, limit: int = MAX_FILE_BYTES, storage: ProcessStorage | None = None) -> bytes:
    """The object's bytes, or ImageError naming why they cannot be had. `storage`: the caller's
    ProcessStorage (default: this process's, acquired now)."""
    if ref.size_bytes is not None and ref.size_bytes > limit:
        raise ImageError("read", "file_too_large",
                         f"the file is {ref.size_bytes / 2**20:.1f} MiB; the limit is {limit / 2**20:.0f} MiB")
    try:
        if ref.is_gcs and ref.generation:
            data = _read_generation(ref, storage or process_storage())
        elif "://" not in ref.uri:   # a local file: never through a link swapped in after the listing
            with open_local_source(ref.uri) as f:
                data = f.read(limit + 1)
        else:
            with FileSystems.open(ref.uri, compression_type="uncompressed") as f:
                data = f.read(limit + 1)
    except NotFollowed:
        raise ImageError("read", "symlink", NOT_FOLLOWED) from None
    except FileNotFoundError:
        raise ImageError("read", "not_found", NOT_FOUND) from None
    except Exception as e:  # noqa: BLE001 - storage clients raise many types
        if "404" in str(e) or "not found" in str(e).lower() or "No such file" in str(e):
            raise ImageError("read", "not_found", NOT_FOUND) from None
        raise ImageError("read", "read_failed", f"could not read the object: {type(e).__name__}: {e}") from None
    if len(data) > limit:
        raise ImageError("read", "file_too_large", f"the file is larger than the {limit / 2**20:.0f} MiB limit")
    return data


class _ReadAndDecode(beam.DoFn):
    """Reads and decodes a few images ahead on a small thread pool.

    Pillow and the storage client release the GIL, so the next images are read and
    decoded while the models (downstream, in the same fused stage) work on the
    current batch. Results leave in input order with their own window and
    timestamp; metrics are updated on the bundle's thread (Beam ignores updates
    made on other threads).
    """
    AHEAD = 8

    def __init__(self, max_side: int):
        self.max_side = max_side
        self.decoded = metrics.counter("images_decoded")
        self.failed = metrics.counter("images_unreadable")
        self.read_bytes = metrics.distribution("image_bytes")

    def setup(self):
        from concurrent.futures import ThreadPoolExecutor
        anonymous_beam_credentials_for_emulators()
        self.storage = process_storage()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="decode")

    def teardown(self):
        self._pool.shutdown(wait=False)

    def start_bundle(self):
        self._pending = PendingFutures()

    def _load(self, ref: ImageRef):
        try:
            data = read_bytes(ref, storage=self.storage)
            return ref, len(data), decode_image(data, self.max_side)
        except ImageError as e:
            return ref, 0, e
        except Exception as e:  # noqa: BLE001 - whatever an image does, it must not stop the job
            return ref, 0, ImageError("decode", "unexpected", f"could not decode: {type(e).__name__}: {e}")

    def _emit(self, loaded, timestamp, window):
        ref, nbytes, result = loaded
        if isinstance(result, ImageError):
            self.failed.inc()
            return windowed(error_row(ref, result.stage, result.code, result.message), timestamp, window, ERRORS)
        self.read_bytes.update(nbytes)
        self.decoded.inc()
        image, content_type, width, height = result
        return windowed(LoadedImage(ref=ref, image=image, content_type=content_type, width=width, height=height),
                        timestamp, window)

    def process(self, ref: ImageRef, timestamp=beam.DoFn.TimestampParam, window=beam.DoFn.WindowParam):
        self._pending.submit(self._pool, self._load, ref, timestamp=timestamp, window=window)
        for done in self._pending.done(keep=self.AHEAD):
            yield self._emit(*done)

    def finish_bundle(self):
        for done in self._pending.done(keep=0):
            yield self._emit(*done)


class ReadImages(beam.PTransform):
    """ImageRef -> LoadedImage (main output) and error rows (output `errors`)."""

    def __init__(self, max_side: int = 1024):
        super().__init__()
        self.max_side = max_side

    def expand(self, refs):
        return split_outputs(refs | "ReadAndDecode" >> beam.ParDo(_ReadAndDecode(self.max_side)).with_outputs(
            ERRORS, main="images"), "images")
