"""Move one category copy, in a folder or a bucket, so that a kill at any point loses nothing.

The new copy is written completely before the old one is removed: a local copy is
written under a temporary name and renamed into place; a bucket copy is a server-side
rewrite that either exists whole or not at all. Moving again after a move (or after a
kill midway) finds the new copy present and the old one gone, and does nothing more.
"""
from __future__ import annotations

import os
import shutil

from transforms.clients import COPY_MARKER, split_gcs, storage_client
from transforms.stages.copy_to_category import COPY_GENERATION, DEFAULT_RETRY

PART_SUFFIX = ".refile-part"


class CopyStore:
    """exists / copy / remove over local paths and gs:// URIs; one storage client, built when first needed."""

    def __init__(self):
        self._client = None

    def _gcs(self):
        if self._client is None:
            self._client = storage_client()
        return self._client

    def _blob(self, uri: str, generation: int | None = None):
        bucket, name = split_gcs(uri)
        return self._gcs().bucket(bucket).blob(name, generation=generation)

    def exists(self, path: str, generation: int | None = None) -> bool:
        if path.startswith("gs://"):
            bucket, name = split_gcs(path)
            return self._gcs().bucket(bucket).get_blob(name, generation=generation or None) is not None
        return os.path.isfile(path)

    def marker(self, path: str) -> str | None:
        """The source URI a bucket copy records (None for a local file or a missing object)."""
        if not path.startswith("gs://"):
            return None
        bucket, name = split_gcs(path)
        blob = self._gcs().bucket(bucket).get_blob(name)
        return (blob.metadata or {}).get(COPY_MARKER) if blob is not None else None

    def copy(self, src: str, dest: str, source_uri: str, generation: int | None) -> None:
        """Write `dest` from `src` (an old copy, or the original at `generation`); never a partial file."""
        if dest.startswith("gs://"):
            target = self._blob(dest)
            target.metadata = {COPY_MARKER: source_uri, COPY_GENERATION: str(generation)}
            if src.startswith("gs://"):
                source = self._blob(src, generation if src == source_uri else None)
                token, _, _ = target.rewrite(source, retry=DEFAULT_RETRY)
                while token:
                    token, _, _ = target.rewrite(source, token=token, retry=DEFAULT_RETRY)
            else:
                target.upload_from_filename(src, retry=DEFAULT_RETRY)
            return
        folder = os.path.dirname(dest)
        os.makedirs(folder, exist_ok=True)
        # One fixed temporary name per destination: a run killed while writing it leaves a
        # file the next run (which writes the same destination) overwrites and renames.
        tmp = dest + PART_SUFFIX
        try:
            with open(tmp, "wb") as out:
                if src.startswith("gs://"):
                    self._blob(src, generation if src == source_uri else None).download_to_file(out)
                else:
                    with open(src, "rb") as f:
                        shutil.copyfileobj(f, out)
            os.replace(tmp, dest)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise

    def remove(self, path: str, root: str) -> None:
        """Remove the copy at `path`, and the folders under `root` that this leaves empty."""
        if path.startswith("gs://"):
            from google.api_core.exceptions import NotFound
            try:
                self._blob(path).delete(retry=DEFAULT_RETRY)
            except NotFound:
                pass
            return
        try:
            os.remove(path)
        except FileNotFoundError:
            return
        root = os.path.abspath(root)
        folder = os.path.dirname(os.path.abspath(path))
        while folder.startswith(root + os.sep):
            try:
                os.rmdir(folder)
            except OSError:
                return
            folder = os.path.dirname(folder)


def move(store: CopyStore, old: str | None, new: str, root: str, source_uri: str, generation: int | None) -> bool:
    """Make `new` hold the copy and `old` be gone; True when `new` holds it afterwards.

    The copy comes from `old` while it exists, else from the original image (at its
    generation). False when neither exists any more: there is nothing to copy.
    """
    if old == new:
        if store.exists(new):
            return True
        old = None
    if not store.exists(new):
        if old and store.exists(old):
            store.copy(old, new, source_uri, generation)
        elif store.exists(source_uri, generation if source_uri.startswith("gs://") else None):
            store.copy(source_uri, new, source_uri, generation)
        else:
            return False
    if old and old != new and store.exists(old):
        recorded = store.marker(old)
        if recorded in (None, source_uri):   # never remove another object's copy
            store.remove(old, root)
    return True
