"""Decompression bombs for the tests and the memory benchmark: small files whose headers claim huge images.

Every kind the decode budget must refuse from the header, written at run time and
never committed. `full=True` writes complete pixel data (zeros, compressed), so a
decoder that does not refuse the file really fills the memory; the default writes
the header and a few rows, which is all the refusal reads.
"""
from __future__ import annotations

import io
import struct
import zlib

from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _zeros_zlib(row_bytes: int, rows: int, filter_byte: bool) -> bytes:
    """zlib stream of `rows` rows of zeros (a PNG filter byte, also 0, before each if asked).

    Made fast without compressing every byte: after a full flush the compressor forgets
    its history, so one compressed MiB of zeros repeats verbatim; the checksum of n zero
    bytes is ((n mod 65521) << 16) | 1.
    """
    total = (row_bytes + (1 if filter_byte else 0)) * rows
    block = b"\x00" * 2**20
    if total < 3 * len(block):
        return zlib.compress(b"\x00" * total, 9)
    z = zlib.compressobj(9)
    head = z.compress(block) + z.flush(zlib.Z_FULL_FLUSH)
    repeat = z.compress(block) + z.flush(zlib.Z_FULL_FLUSH)
    blocks, rest = divmod(total, len(block))
    tail = (z.compress(b"\x00" * rest) + z.flush())[:-4]
    return head + repeat * (blocks - 1) + tail + struct.pack(">I", ((total % 65521) << 16) | 1)


def png(width: int, height: int, color_type: int = 2, bit_depth: int = 8, palette: bool = False,
        transparency: bool = False, full: bool = False) -> bytes:
    """A PNG of zeros; color types 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    row_bytes = (width * channels * bit_depth + 7) // 8
    parts = [b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth,
                                                                 color_type, 0, 0, 0))]
    if palette:
        parts.append(_chunk(b"PLTE", bytes([255, 0, 0, 0, 0, 255])))
    if transparency:
        parts.append(_chunk(b"tRNS", b"\x00\x80"))
    parts.append(_chunk(b"IDAT", _zeros_zlib(row_bytes, height if full else 16, True)))
    return b"".join(parts + [_chunk(b"IEND", b"")])


def palette_png(side: int = 10_000, full: bool = False) -> bytes:
    """A palette PNG with transparency (tRNS): 1 byte a pixel on disk, RGBA-sized once composited."""
    return png(side, side, color_type=3, palette=True, transparency=True, full=full)


def gif_screen(side: int = 10_000) -> bytes:
    """A GIF whose logical screen is side x side around a 1 x 1 frame (43 bytes; Pillow fills the screen)."""
    buf = io.BytesIO()
    Image.new("P", (1, 1), 0).save(buf, "GIF")
    data = bytearray(buf.getvalue())
    data[6:10] = struct.pack("<HH", side, side)
    return bytes(data)


def _patch_sof(data: bytes, width: int, height: int) -> bytes:
    out = bytearray(data)
    i = 2
    while i < len(out):
        marker, length = out[i + 1], struct.unpack(">H", out[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            out[i + 5:i + 9] = struct.pack(">HH", height, width)
            return bytes(out)
        i += 2 + length
    raise ValueError("no SOF marker")


def progressive_jpeg(side: int = 20_000) -> bytes:
    """A grayscale progressive JPEG whose frame header claims side x side (libjpeg keeps every coefficient)."""
    buf = io.BytesIO()
    Image.new("L", (16, 16), 128).save(buf, "JPEG", progressive=True)
    return _patch_sof(buf.getvalue(), side, side)


def baseline_jpeg(side: int = 45_000) -> bytes:
    """A baseline JPEG claiming side x side: over the pixel limit even at 1/8 scale."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (9, 9, 9)).save(buf, "JPEG")
    return _patch_sof(buf.getvalue(), side, side)


def _ico(payload: bytes, bpp: int = 32) -> bytes:
    """An ICO of one frame whose directory says 256 x 256 (0 means 256) whatever the frame holds."""
    return (struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, bpp, len(payload), 22)
            + payload)


def ico_png(side: int = 13_000, full: bool = False) -> bytes:
    """An ICO holding an RGBA PNG frame of side x side."""
    return _ico(png(side, side, color_type=6, full=full))


def ico_bmp(side: int = 9_000) -> bytes:
    """An ICO holding a 32-bit BMP frame (DIB header: height counts the AND mask twice) of side x side."""
    dib = struct.pack("<IiiHHIIiiII", 40, side, 2 * side, 1, 32, 0, 0, 0, 0, 0, 0)
    return _ico(dib + b"\x00" * 64)


def bmp_rle(side: int = 10_000) -> bytes:
    """An 8-bit RLE BMP of side x side that ends at once (Pillow's RLE decoder pads the rest)."""
    palette = b"\x00\x00\x00\x00" * 2
    pixels = b"\x00\x01"   # end of bitmap
    offset = 14 + 40 + len(palette)
    dib = struct.pack("<IiiHHIIiiII", 40, side, side, 1, 8, 1, len(pixels), 0, 0, 2, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + dib + palette + pixels


def tiff(side: int = 10_000, full: bool = False) -> bytes:
    """A deflate-compressed 8-bit grayscale TIFF of side x side in one strip."""
    strip = _zeros_zlib(side, side if full else 16, False)
    tags = [(256, 4, side), (257, 4, side), (258, 3, 8), (259, 3, 8), (262, 3, 1), (273, 4, 0),
            (277, 3, 1), (278, 4, side), (279, 4, len(strip))]
    ifd_size = 2 + 12 * len(tags) + 4
    strip_offset = 8 + ifd_size
    entries = b"".join(struct.pack("<HHI", tag, kind, 1) + (struct.pack("<I", strip_offset if tag == 273 else value)
                                                            if kind == 4 else struct.pack("<HH", value, 0))
                       for tag, kind, value in tags)
    return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", len(tags)) + entries + b"\0\0\0\0" + strip


def webp_canvas(side: int = 10_000) -> bytes:
    """An animated WebP whose canvas is side x side around one 1 x 1 frame (libwebp allocates the canvas)."""
    buf = io.BytesIO()
    Image.new("RGBA", (1, 1), (0, 0, 0, 0)).save(buf, "WEBP", lossless=True)
    data = buf.getvalue()
    vp8l = data[12:]   # the VP8L chunk: fourcc, size, payload (padded)

    def riff_chunk(kind: bytes, payload: bytes) -> bytes:
        return kind + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) % 2 else b"")

    def u24(v: int) -> bytes:
        return struct.pack("<I", v)[:3]
    vp8x = riff_chunk(b"VP8X", bytes([0x12, 0, 0, 0]) + u24(side - 1) + u24(side - 1))   # animation + alpha
    anim = riff_chunk(b"ANIM", b"\xff\xff\xff\xff\x00\x00")
    anmf = riff_chunk(b"ANMF", u24(0) + u24(0) + u24(0) + u24(0) + u24(100) + b"\x00" + vp8l)
    body = b"WEBP" + vp8x + anim + anmf
    return b"RIFF" + struct.pack("<I", len(body)) + body


def icns(side: int = 13_000) -> bytes:
    """An ICNS holding a PNG frame of side x side (outside the allow-list: refused by format)."""
    frame = png(side, side, color_type=6)
    entry = b"ic10" + struct.pack(">I", 8 + len(frame)) + frame
    return b"icns" + struct.pack(">I", 8 + len(entry)) + entry


def every_kind(full: bool = False) -> dict[str, bytes]:
    """{file name: bytes} for each bomb kind; the name says what it is."""
    return {
        "gif-10000-screen-1x1-frame.gif": gif_screen(),
        "png-palette-transparency-10000.png": palette_png(full=full),
        "png-rgb-10000.png": png(10_000, 10_000, full=full),
        "png-16bit-gray-10000.png": png(10_000, 10_000, color_type=0, bit_depth=16, full=full),
        "png-50000.png": png(50_000, 50_000),
        "jpeg-progressive-20000.jpg": progressive_jpeg(),
        "jpeg-baseline-45000.jpg": baseline_jpeg(),
        "ico-png-frame-13000.ico": ico_png(full=full),
        "ico-bmp-frame-9000.ico": ico_bmp(),
        "bmp-rle-10000.bmp": bmp_rle(),
        "tiff-deflate-10000.tif": tiff(full=full),
        "webp-10000-canvas-1x1-frame.webp": webp_canvas(),
        "icns-png-frame-13000.icns": icns(),
    }
