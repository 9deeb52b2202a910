"""Write a category copy on a local disk without ever writing through a link.

Anyone who can write in the category root can plant a link there
(`classified/cat/photo.jpg -> /etc/something`, or `classified/cat -> /elsewhere`);
opening the destination by name would write the image's bytes wherever it points.
So every folder below the category root is opened with O_NOFOLLOW relative to
its parent's descriptor (a link there is refused), the bytes go to a new temporary
file beside the target (O_CREAT|O_EXCL, so nothing existing is opened), and
that file is renamed over the target: a planted link is replaced, never followed.
The category root itself is the path the user gave and may be a link.
A local source is opened with O_NOFOLLOW too, so a link swapped in after the
listing is not read. The copy keeps the source's modification time.
"""
from __future__ import annotations

import errno
import os
import shutil
import stat
import uuid

NOT_FOLLOWED = "a symbolic link is not followed: the job reads only files inside the input folder"


class NotFollowed(OSError):
    """A symbolic link where a copy would have been written or read."""


def _open_folder(parent_fd: int, name: str, shown: str) -> int:
    """Descriptor of folder `name` under `parent_fd`, created if missing, refused if it is a link."""
    try:
        os.mkdir(name, 0o777, dir_fd=parent_fd)
    except FileExistsError:
        pass
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
    except OSError as e:
        # Linux answers ENOTDIR (with O_DIRECTORY) or ELOOP for a link: look at the entry itself.
        if e.errno in (errno.ELOOP, errno.ENOTDIR) and stat.S_ISLNK(
                os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode):
            raise NotFollowed(f"{shown} is a symbolic link: copies are never written through one") from None
        raise


def _open_destination_folder(category_root: str, rel_dir: str) -> int:
    os.makedirs(category_root, exist_ok=True)
    fd = os.open(category_root, os.O_RDONLY | os.O_DIRECTORY)
    shown = category_root.rstrip("/")
    for part in [p for p in rel_dir.split("/") if p]:
        shown = f"{shown}/{part}"
        try:
            child = _open_folder(fd, part, shown)
        finally:
            os.close(fd)
        fd = child
    return fd


def open_local_source(path: str):
    """A local source file opened for reading, refused if it is a link."""
    try:
        return open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb")
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NotFollowed(f"{path} is a symbolic link: not read") from None
        raise


def write_copy(src, category_root: str, rel_dest: str, mtime_ns: int | None = None) -> None:
    """Copy file object `src` to `category_root/rel_dest` (rel_dest already made safe, '/'-separated)."""
    rel_dir, _, name = rel_dest.rpartition("/")
    folder = _open_destination_folder(category_root, rel_dir)
    temp = f".{name[:180]}.{uuid.uuid4().hex}.tmp"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder)
        try:
            with open(fd, "wb") as out:
                shutil.copyfileobj(src, out)
                out.flush()
                if mtime_ns is not None:
                    os.utime(out.fileno(), ns=(mtime_ns, mtime_ns))
            os.replace(temp, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            try:
                os.unlink(temp, dir_fd=folder)
            except OSError:
                pass
            raise
    finally:
        os.close(folder)
