"""Which image formats Pillow may open, and naming the ones it may not.

Pillow knows dozens of formats; some of its plugins are risky on untrusted
bytes (EPS runs Ghostscript where it is installed) and most are formats the
Vision API itself refuses. Decoding therefore opens an allow-list only: the
formats Vision accepts, plus AVIF/HEIF when a plugin for them is installed on
purpose. Anything else is named from its magic bytes, without handing it to
any Pillow plugin, so an error row can say "this is an EPS" instead of "not an
image".
"""
from __future__ import annotations

from PIL import Image, features

# The formats the Vision API accepts (https://cloud.google.com/vision/docs/supported-files).
VISION_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "ICO", "TIFF")

# (prefix, name) in the order tried; a cheap look at the first bytes, never a decode.
_MAGIC = (
    (b"%!PS", "EPS"), (b"\xc5\xd0\xd3\xc6", "EPS"), (b"8BPS", "PSD"), (b"%PDF", "PDF"),
    (b"SIMPLE", "FITS"), (b"icns", "ICNS"), (b"\x01\xda", "SGI"),
    (b"#define", "XBM"), (b"/* XPM */", "XPM"), (b"gimp xcf", "XCF"), (b"DDS ", "DDS"),
    (b"qoif", "QOI"), (b"\x00\x00\x00\x0cjP  ", "JPEG2000"), (b"\xffO\xffQ", "JPEG2000"),
    (b"\x76\x2f\x31\x01", "OpenEXR"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def allowed_formats() -> tuple[str, ...]:
    """The allow-list for `Image.open(formats=...)`: Vision's formats, plus AVIF/HEIF if a plugin is present.

    AVIF counts only when Pillow was built with libavif (`PIL.features`); HEIF only when
    pillow-heif has registered itself. Neither is installed by this project by default.
    """
    extra = []
    if features.check("avif") and "AVIF" in Image.registered_extensions().values():
        extra.append("AVIF")
    if "HEIF" in Image.registered_extensions().values():
        extra.append("HEIF")
    return VISION_FORMATS + tuple(extra)


def sniff_format(data: bytes) -> str | None:
    """The name of a format the bytes look like, from magic bytes only; None when unknown."""
    head = data[:64]
    for prefix, name in _MAGIC:
        if head.startswith(prefix):
            return name
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _AVIF_BRANDS:
            return "AVIF"
        if brand in _HEIF_BRANDS:
            return "HEIF"
    if len(head) >= 3 and head[:1] == b"P" and head[1:2] in b"1234567" and head[2:3] in b" \t\r\n":
        return "PPM"
    if len(head) >= 3 and head[0] == 0x0A and head[1] in (0, 2, 3, 4, 5) and head[2] == 1:
        return "PCX"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in data[:4096].lower()):
        return "SVG"
    if text.startswith(b"<?xml"):
        return "XML"
    return None
