"""Thumbnails for the report, made from the originals by the report command.

Hot-linking gs:// objects would need credentials in the browser and a network;
a report must open from disk anywhere. Originals are read through Beam's
FileSystems, so local paths and gs:// work alike; when the original is gone the
category copy is tried. Reads are I/O bound, so a small thread pool overlaps them.
Images are decoded by the pipeline's own `decode_image`: the same format allow-list
(an EPS never reaches Ghostscript), file size limit and decode budget, shared with
every decode in flight in the process, so the pool's threads cannot add up to more.
"""
from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ThreadPoolExecutor

from transforms.clients import anonymous_beam_credentials_for_emulators
from transforms.stages.imaging import MAX_FILE_BYTES, ImageError, decode_image

MAX_SIDE = 360


def thumbnail_name(row: dict) -> str:
    key = f"{row.get('bucket')}\0{row.get('name')}\0{row.get('generation')}".encode()
    return hashlib.sha1(key).hexdigest()[:20] + ".jpg"


def _read(uri: str) -> bytes:
    from apache_beam.io.filesystems import FileSystems
    with FileSystems.open(uri, compression_type="uncompressed") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ImageError("read", "file_too_large", f"the file is over the {MAX_FILE_BYTES / 2**20:.0f} MiB limit")
    return data


def make_thumbnail(data: bytes, max_side: int = MAX_SIDE) -> tuple[bytes, tuple[int, int]]:
    """JPEG bytes of the image shrunk to `max_side`, upright as a viewer shows it; ImageError if refused."""
    im, *_ = decode_image(data, max_side)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=80, optimize=True)
    return out.getvalue(), im.size


def _one(row: dict, out_dir: str) -> str | None:
    name = thumbnail_name(row)
    path = os.path.join(out_dir, name)
    if os.path.exists(path):
        return name
    for uri in (row.get("uri"), row.get("category_uri")):
        if not uri:
            continue
        try:
            jpeg, _ = make_thumbnail(_read(uri))
        except Exception:  # noqa: BLE001 - gone, unreadable or not decodable: try the next copy
            continue
        with open(path + ".part", "wb") as f:
            f.write(jpeg)
        os.replace(path + ".part", path)
        return name
    return None


def make_thumbnails(rows: list[dict], out_dir: str, threads: int = 8) -> dict[str, str | None]:
    """{uri: file name under out_dir, or None when no copy of the image could be read}."""
    os.makedirs(out_dir, exist_ok=True)
    anonymous_beam_credentials_for_emulators()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        names = list(pool.map(lambda r: _one(r, out_dir), rows))
    return {row["uri"]: name for row, name in zip(rows, names, strict=False)}
