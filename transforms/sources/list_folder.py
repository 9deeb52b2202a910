"""Walk a local input folder without ever leaving it.

Symbolic links are never followed, the input's own top folder excepted (it is the
path the user gave): a link can point anywhere (`/etc`, another user's files, a
loop), and what the job lists it reads, classifies, copies and shows in the
report. A link is reported as what it is, and the rest of the walk goes on.
Anything the walk cannot read (a folder without read or search permission, an
entry that vanished or cannot be looked at) is reported too, never dropped
silently and never allowed to end the listing.

The category root is recognised by its resolved path, so a symlinked input, or a
category root named through a link, still finds it and never lists the copies.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

FILE, LINK, OTHER = "file", "link", "other"
UNREADABLE_FOLDER, UNREADABLE = "unreadable_folder", "unreadable"   # also the error rows' codes


@dataclass(frozen=True)
class Entry:
    kind: str               # FILE, LINK, OTHER (socket, FIFO, device), UNREADABLE_FOLDER or UNREADABLE
    path: str               # absolute path as listed (under the input path given)
    rel: str                # path relative to the input folder, with '/'
    stat: os.stat_result | None    # the entry's own lstat, if it could be had
    error: str = ""         # UNREADABLE_FOLDER, UNREADABLE: why, e.g. "PermissionError: [Errno 13] Permission denied"


def _under(path: str, root: str) -> bool:
    return (path.rstrip("/") + "/").startswith(root.rstrip("/") + "/")


def _describe(e: OSError) -> str:
    return f"{type(e).__name__}: [Errno {e.errno}] {e.strerror}" if e.errno else f"{type(e).__name__}: {e}"


def _lstat(entry: os.DirEntry) -> os.stat_result | None:
    try:
        return entry.stat(follow_symlinks=False)
    except OSError:
        return None


def walk_folder(root: str, category_root: str):
    """Yield an Entry for every file, link and unreadable entry under root, skipping the category root."""
    real_root, real_category = os.path.realpath(root), os.path.realpath(category_root)

    def rel_of(path: str) -> str:
        return os.path.relpath(path, root).replace(os.sep, "/")

    def is_category_root(folder: str) -> bool:
        rel = os.path.relpath(folder, root)
        return _under(folder, category_root) or _under(os.path.normpath(os.path.join(real_root, rel)), real_category)

    stack: list[tuple[str, os.stat_result | None]] = [(root, None)]
    while stack:
        folder, folder_stat = stack.pop()
        if is_category_root(folder):
            continue
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as e:
            yield Entry(UNREADABLE_FOLDER, folder, rel_of(folder), folder_stat, _describe(e))
            continue
        for entry in entries:
            try:
                if entry.is_symlink():
                    yield Entry(LINK, entry.path, rel_of(entry.path), _lstat(entry))
                elif entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, _lstat(entry)))
                elif entry.is_file(follow_symlinks=False):
                    yield Entry(FILE, entry.path, rel_of(entry.path), entry.stat(follow_symlinks=False))
                else:   # a FIFO would block its reader forever: never opened
                    yield Entry(OTHER, entry.path, rel_of(entry.path), _lstat(entry))
            except OSError as e:
                yield Entry(UNREADABLE, entry.path, rel_of(entry.path), None, _describe(e))
