"""The decode budget: what an image may cost to decode, judged from its header, and how many decode at once.

A small file can claim a huge image (a 43-byte GIF with a 10,000 px screen, a
palette PNG, a progressive JPEG whose coefficients libjpeg keeps whole, an ICO
frame bigger than its directory says), so the memory a decode will take is
estimated from the header before any pixel is decoded, and an image over the
budget is refused. The estimate is the memory `imaging.decode_image` holds at
its peak:

    pixels x (bytes a pixel of the mode Pillow allocates + 4 for one working copy)
    + what the format's decoder keeps besides (progressive JPEG coefficients,
      libwebp's canvases, a TIFF strip, Pillow's RLE rows)

Pixels are those decoded: a JPEG's after draft scaling, a GIF's logical screen,
an animated WebP's canvas, the largest ICO frame as its own header says. Decodes
in flight in one process share one budget (`reserved`), so threads, endpoint
requests and report thumbnails together never hold more than one budget's worth.
So that the budget bounds resident memory too, large blocks are returned to the
system when freed (`_release_large_blocks`).
"""
from __future__ import annotations

import ctypes
import math
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

MAX_PIXELS = 100_000_000            # refuse to decode more than 100 Mpx
MAX_DRAFT_PIXELS = 16 * MAX_PIXELS  # JPEG draft decodes at 1/8 scale (1/64 of the pixels)
DECODE_BUDGET_BYTES = 256 * 2**20   # one image's decode, and all decodes in flight in a process
WORKING_BYTES = 4                   # one full-size working copy (palette to RGB, premultiplied alpha, 16 to 32 bit)

_MIB = 2**20
_M_MMAP_THRESHOLD = -3              # glibc's mallopt parameter
_in_flight = 0
_released = threading.Condition()
_malloc_tuned = False


def _release_large_blocks() -> None:
    """Serve allocations of 8 MiB and more (Pillow's pixel blocks, libjpeg's coefficients) from mmap, once per process.

    glibc raises its mmap threshold after such a block is freed, so later ones come from
    per-thread heaps that keep the memory: resident memory would climb to a budget per
    thread. A fixed threshold gives each freed block back at once. No-op without glibc.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    try:
        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, 8 * _MIB)
    except (OSError, AttributeError):
        pass


def stored_bytes(mode: str) -> int:
    """Bytes a pixel takes in Pillow's memory: 1 for 1/L/P, 2 for 16-bit, 4 for the rest (RGB is kept as RGBX)."""
    if mode in ("1", "L", "P"):
        return 1
    return 2 if mode.startswith("I;16") else 4


class OverBudget(Exception):
    """The image would cost more than the budget to decode; the message names the rule (a `decompression_bomb`)."""


def _refuse(rule: str) -> OverBudget:
    return OverBudget(f"{rule}; refused as a possible decompression bomb")


def _over_budget(what: str, cost: int, how: str) -> OverBudget:
    return _refuse(f"{what} would take {cost / _MIB:,.0f} MiB to decode ({how}), over the decode budget of "
                   f"{DECODE_BUDGET_BYTES / _MIB:.0f} MiB per image")


def ico_frame_sizes(data: bytes) -> list[tuple[int, int]]:
    """(width, height) of every ICO frame as the frame's own PNG or BMP header says (the directory's can lie)."""
    count = struct.unpack_from("<H", data, 4)[0] if len(data) >= 6 else 0
    sizes = []
    for i in range(count):
        entry = 6 + 16 * i
        if entry + 16 > len(data):
            break
        offset = struct.unpack_from("<I", data, entry + 12)[0]
        frame = data[offset:offset + 24]
        if frame[:8] == b"\x89PNG\r\n\x1a\n" and len(frame) >= 24:
            sizes.append(struct.unpack_from(">II", frame, 16))
        elif len(frame) >= 12:
            width, height = struct.unpack_from("<ii", frame, 4)
            sizes.append((abs(width), abs(height) // 2))   # a BMP frame's height counts the AND mask too
    return sizes


def check_ico(data: bytes) -> int:
    """The cost of an ICO's largest frame in bytes, or OverBudget (Pillow decodes that frame while opening the file)."""
    largest = 0
    for width, height in ico_frame_sizes(data):
        if width * height > MAX_PIXELS:
            raise _refuse(f"ICO frame of {width}x{height} pixels exceeds the {MAX_PIXELS / 1e6:.0f} Mpx limit")
        cost = width * height * (4 + WORKING_BYTES)
        if cost > DECODE_BUDGET_BYTES:
            raise _over_budget(f"ICO frame of {width}x{height} pixels", cost, f"{4 + WORKING_BYTES} bytes a pixel")
        largest = max(largest, cost)
    return largest


def check_pixels(fmt: str, width: int, height: int) -> None:
    """The pixel limit on the size in the header (JPEG's is higher: draft mode decodes it at 1/8 scale)."""
    limit = MAX_DRAFT_PIXELS if fmt in ("JPEG", "MPO") else MAX_PIXELS
    if width * height > limit:
        raise _refuse(f"{fmt} of {width}x{height} pixels ({width * height / 1e6:.0f} Mpx) exceeds the "
                      f"{limit / 1e6:.0f} Mpx limit for this format")


def _jpeg_coefficients(im: Image.Image, width: int, height: int) -> int:
    """Bytes libjpeg keeps for a progressive JPEG: every DCT coefficient of the full-size image (2 bytes each)."""
    layers = getattr(im, "layer", None) or [("", 1, 1, 0)]
    h_max = max(h for _, h, _, _ in layers) or 1
    v_max = max(v for _, _, v, _ in layers) or 1
    blocks = sum(math.ceil(math.ceil(width * h / h_max) / 8) * math.ceil(math.ceil(height * v / v_max) / 8)
                 for _, h, v, _ in layers)
    return blocks * 64 * 2


def decode_cost(im: Image.Image, width: int, height: int) -> tuple[int, str]:
    """(bytes, how they were counted) for decoding `im` as opened (after draft), `width` x `height` in its header."""
    w, h = im.size
    per_pixel = stored_bytes(im.mode) + WORKING_BYTES
    how = f"{w}x{h} pixels x {per_pixel} bytes for {im.mode} and a working copy"
    cost = w * h * per_pixel
    if im.format in ("JPEG", "MPO") and im.info.get("progressive"):
        coefficients = _jpeg_coefficients(im, width, height)
        cost += coefficients
        how += f", plus {coefficients / _MIB:,.0f} MiB of progressive JPEG coefficients at {width}x{height}"
    elif im.format == "WEBP":
        cost += w * h * 12
        how += ", plus 12 bytes a pixel of libwebp canvases"
    elif im.format == "TIFF":
        cost += w * h * stored_bytes(im.mode)
        how += ", plus one strip or tile buffer as large as the image"
    elif im.format == "BMP" and im.info.get("compression") in (1, 2):
        cost += w * h * 2
        how += ", plus 2 bytes a pixel of RLE rows"
    return cost, how


def check_cost(im: Image.Image, width: int, height: int) -> int:
    """The decode's cost in bytes, or OverBudget if it is over the budget."""
    cost, how = decode_cost(im, width, height)
    if cost > DECODE_BUDGET_BYTES:
        kind = f"progressive {im.format}" if im.info.get("progressive") else im.format
        raise _over_budget(f"{kind} of {width}x{height} pixels", cost, how)
    return cost


@contextmanager
def reserved(nbytes: int) -> Iterator[None]:
    """Hold `nbytes` of the process's decode budget; waits while other decodes hold too much of it."""
    global _in_flight
    with _released:
        _release_large_blocks()
        while _in_flight and _in_flight + nbytes > DECODE_BUDGET_BYTES:
            _released.wait()
        _in_flight += nbytes
    try:
        yield
    finally:
        with _released:
            _in_flight -= nbytes
            _released.notify_all()


def in_flight() -> int:
    """Bytes of the decode budget held right now (for tests and metrics)."""
    return _in_flight
