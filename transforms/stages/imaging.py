"""Decode image bytes safely and cheaply.

The format is decided from the bytes (a PNG named .jpg is fine); an image whose
header says it would cost more than the decode budget is refused before any
pixel is decoded, and decodes in flight share one budget per process
(`decode_budget`). Large JPEGs are decoded at reduced size (draft mode) so a 12
MP photo costs about as much as a 1 MP one; other large images are shrunk in
their own mode before any conversion, so one working copy is the most a decode
holds besides the decoded frame. EXIF orientation is applied. Every failure is
an `ImageError` whose message a person can act on.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from transforms.stages import decode_budget
from transforms.stages.decode_budget import OverBudget
from transforms.stages.image_formats import allowed_formats, sniff_format

# Pillow's own guard (Image.MAX_IMAGE_PIXELS, left at its default for the whole process)
# would refuse a 20,000 px JPEG that draft mode decodes cheaply, so JPEGs are opened with
# the plugin directly and checked per call by decode_budget.check_pixels.
MAX_FILE_BYTES = 64 * 1024 * 1024
_ICO_MAGIC = b"\x00\x00\x01\x00"

_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp",
         "BMP": "image/bmp", "TIFF": "image/tiff", "ICO": "image/x-icon", "MPO": "image/jpeg",
         "AVIF": "image/avif"}


class ImageError(Exception):
    """An image that cannot be used; `code` is short, `message` is for a person."""

    def __init__(self, stage: str, code: str, message: str):
        super().__init__(message)
        self.stage, self.code, self.message = stage, code, message


def _palette_over_white(im: Image.Image) -> Image.Image:
    """A palette image as RGB with its transparent entries composited over white, in the palette itself.

    The same pixels as converting to RGBA and pasting over white, at one RGB copy
    instead of an RGBA copy, a white canvas and a mask.
    """
    rgba = im.getpalette("RGBA")
    if not rgba:
        return im.convert("RGB")
    count = len(rgba) // 4
    alpha = [rgba[4 * i + 3] for i in range(count)]
    transparency = im.info.pop("transparency", None)
    if isinstance(transparency, int) and transparency < count:
        alpha[transparency] = 0
    elif isinstance(transparency, bytes):
        for i, a in enumerate(transparency[:count]):
            alpha[i] = min(alpha[i], a)
    flat = [(rgba[4 * i + c] * alpha[i] + 255 * (255 - alpha[i]) + 127) // 255
            for i in range(count) for c in range(3)]
    im.putpalette(flat, "RGB")
    return im.convert("RGB")


def _resizable(im: Image.Image) -> Image.Image:
    """`im` in a mode thumbnail() shrinks well, at one working copy: palette to RGB, 16-bit to 32-bit, 1-bit to L."""
    if im.mode == "P":
        return _palette_over_white(im)
    if im.mode == "PA":
        return im.convert("RGBA")
    if im.mode.startswith("I;16"):
        return im.convert("I")
    if im.mode == "1":
        return im.convert("L")
    return im


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB, whatever the mode: alpha over white, CMYK converted, 16-bit scaled down (on the shrunk image)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(im, dtype=np.uint32 if im.mode == "I" else np.uint16)
        peak = max(int(arr.max()), 1)
        scaled = (arr.astype(np.float32) * (255.0 / (65535 if peak > 255 else 255))).clip(0, 255)
        return Image.fromarray(scaled.astype(np.uint8), "L").convert("RGB")
    if im.mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        lo, hi = float(arr.min()), float(arr.max())
        arr = np.subtract(arr, lo) / (hi - lo or 1.0) * 255.0
        return Image.fromarray(arr.astype(np.uint8), "L").convert("RGB")
    if im.mode == "P":
        return _palette_over_white(im)
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        background = Image.new("RGB", im.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return im.convert("RGB") if im.mode != "RGB" else im


def _open(data: bytes) -> Image.Image:
    """Open the header with an allow-listed plugin only; formats outside the list never reach Pillow.

    A JPEG is opened with its plugin directly, which skips Pillow's process-wide pixel
    guard; decode_image applies the per-format limit from the header instead. An ICO
    is checked against the budget first: Pillow decodes its largest frame while opening.
    """
    found = sniff_format(data)
    allowed = allowed_formats()
    if found and found not in allowed:
        raise ImageError("decode", "unsupported_format",
                         f"{found} is not an accepted image format (accepted: {', '.join(allowed)})")
    opening_cost = decode_budget.check_ico(data) if data[:4] == _ICO_MAGIC and "ICO" in allowed else 0
    with warnings.catch_warnings(), decode_budget.reserved(opening_cost):
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if data[:3] == b"\xff\xd8\xff":
            return JpegImagePlugin.JpegImageFile(io.BytesIO(data))
        return Image.open(io.BytesIO(data), formats=list(allowed))


def _opened(data: bytes) -> Image.Image:
    """`_open`, with every way a header can fail turned into an ImageError."""
    try:
        return _open(data)
    except ImageError:
        raise
    except OverBudget as e:
        raise ImageError("decode", "decompression_bomb", str(e)) from None
    except UnidentifiedImageError:
        # No size, no bytes: this message can reach a remote caller of the local endpoint.
        raise ImageError("decode", "not_an_image", "not a recognised image format (accepted: "
                         f"{', '.join(allowed_formats())})") from None
    except Image.DecompressionBombError as e:
        raise ImageError("decode", "decompression_bomb", f"refused as a decompression bomb: {e}") from None
    except Exception as e:  # noqa: BLE001 - Pillow raises many types on bad headers
        raise ImageError("decode", "corrupt_header", f"the image header is corrupt: {e}") from None


def _budgeted(im: Image.Image, width: int, height: int, max_side: int) -> int:
    """Set a large JPEG to decode at reduced scale, then the decode's cost in bytes, checked against the budget."""
    fmt = im.format or "unknown"
    try:
        decode_budget.check_pixels(fmt, width, height)
        if fmt in ("JPEG", "MPO") and max(width, height) > max_side:
            scale = max_side / max(width, height)
            im.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
        return decode_budget.check_cost(im, width, height)
    except OverBudget as e:
        raise ImageError("decode", "decompression_bomb", str(e)) from None


def decode_image(data: bytes, max_side: int = 1024) -> tuple[Image.Image, str, int, int]:
    """(RGB image no larger than max_side, content type, original width, original height)."""
    if not data:
        raise ImageError("decode", "empty_file", "the file is empty (0 bytes)")
    im = _opened(data)
    fmt = im.format or "unknown"
    width, height = im.size
    if width < 1 or height < 1:
        raise ImageError("decode", "empty_image", f"the image has no pixels ({width}x{height})")
    cost = _budgeted(im, width, height, max_side)
    try:
        with warnings.catch_warnings(), decode_budget.reserved(cost):
            warnings.simplefilter("ignore")
            im.load()
            if max(im.size) > max_side:
                im = _resizable(im)
                im.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
            im = ImageOps.exif_transpose(im) or im
            im = _to_rgb(im)
    except OSError as e:
        text = str(e)
        code = "truncated" if "truncated" in text or "broken data stream" in text else "corrupt_data"
        raise ImageError("decode", code, f"the {fmt} data is {'truncated' if code == 'truncated' else 'corrupt'}: "
                         f"{text}") from None
    except (ValueError, SyntaxError, IndexError, TypeError, MemoryError, Image.DecompressionBombError) as e:
        raise ImageError("decode", "corrupt_data", f"the {fmt} data cannot be decoded: {e}") from None
    return im, _MIME.get(fmt, f"image/{fmt.lower()}"), width, height
