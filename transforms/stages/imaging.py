"""Decode image bytes safely and cheaply.

The format is decided from the bytes (a PNG named .jpg is fine), decompression
bombs are refused before any pixel is decoded, EXIF orientation is applied, and
large JPEGs are decoded at reduced size (draft mode) so a 12 MP photo costs
about as much as a 1 MP one. Every failure is an `ImageError` whose message a
person can act on.
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from transforms.stages.image_formats import allowed_formats, sniff_format

MAX_PIXELS = 100_000_000            # refuse to fully decode more than 100 Mpx
MAX_DRAFT_PIXELS = 16 * MAX_PIXELS  # JPEG draft decodes at 1/8 scale (1/64 of the pixels)
# Pillow's own guard (Image.MAX_IMAGE_PIXELS, left at its default for the whole process)
# would refuse a 20,000 px JPEG that draft mode decodes cheaply, so JPEGs are opened with
# the plugin directly and checked per call against MAX_DRAFT_PIXELS (below).
MAX_FILE_BYTES = 64 * 1024 * 1024

_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp",
         "BMP": "image/bmp", "TIFF": "image/tiff", "ICO": "image/x-icon", "MPO": "image/jpeg",
         "AVIF": "image/avif"}


class ImageError(Exception):
    """An image that cannot be used; `code` is short, `message` is for a person."""

    def __init__(self, stage: str, code: str, message: str):
        super().__init__(message)
        self.stage, self.code, self.message = stage, code, message


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB, whatever the mode: alpha over white, CMYK converted, 16-bit scaled down."""
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
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", im.size, (255, 255, 255))
        background.paste(im.convert("RGBA"), mask=im.convert("RGBA").getchannel("A"))
        return background
    return im.convert("RGB") if im.mode != "RGB" else im


def _open(data: bytes) -> Image.Image:
    """Open the header with an allow-listed plugin only; formats outside the list never reach Pillow.

    A JPEG is opened with its plugin directly, which skips Pillow's process-wide pixel
    guard; decode_image applies the per-format limit from the header instead.
    """
    found = sniff_format(data)
    allowed = allowed_formats()
    if found and found not in allowed:
        raise ImageError("decode", "unsupported_format",
                         f"{found} is not an accepted image format (accepted: {', '.join(allowed)})")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if data[:3] == b"\xff\xd8\xff":
            return JpegImagePlugin.JpegImageFile(io.BytesIO(data))
        return Image.open(io.BytesIO(data), formats=list(allowed))


def decode_image(data: bytes, max_side: int = 1024) -> tuple[Image.Image, str, int, int]:
    """(RGB image no larger than max_side, content type, original width, original height)."""
    if not data:
        raise ImageError("decode", "empty_file", "the file is empty (0 bytes)")
    try:
        im = _open(data)
    except ImageError:
        raise
    except UnidentifiedImageError:
        # No size, no bytes: this message can reach a remote caller of the local endpoint.
        raise ImageError("decode", "not_an_image", "not a recognised image format (accepted: "
                         f"{', '.join(allowed_formats())})") from None
    except Image.DecompressionBombError as e:
        raise ImageError("decode", "decompression_bomb", f"refused as a decompression bomb: {e}") from None
    except Exception as e:  # noqa: BLE001 - Pillow raises many types on bad headers
        raise ImageError("decode", "corrupt_header", f"the image header is corrupt: {e}") from None

    fmt = im.format or "unknown"
    width, height = im.size
    limit = MAX_DRAFT_PIXELS if fmt in ("JPEG", "MPO") else MAX_PIXELS
    if width * height > limit:
        raise ImageError("decode", "decompression_bomb",
                         f"{fmt} of {width}x{height} pixels ({width * height / 1e6:.0f} Mpx) exceeds the "
                         f"{limit / 1e6:.0f} Mpx limit for this format; refused as a possible decompression bomb")
    if width < 1 or height < 1:
        raise ImageError("decode", "empty_image", f"the image has no pixels ({width}x{height})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt in ("JPEG", "MPO") and max(width, height) > max_side:
                scale = max_side / max(width, height)
                im.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
            im.load()
            im = ImageOps.exif_transpose(im) or im
            im = _to_rgb(im)
            if max(im.size) > max_side:
                im.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    except OSError as e:
        text = str(e)
        code = "truncated" if "truncated" in text or "broken data stream" in text else "corrupt_data"
        raise ImageError("decode", code, f"the {fmt} data is {'truncated' if code == 'truncated' else 'corrupt'}: "
                         f"{text}") from None
    except (ValueError, SyntaxError, IndexError, TypeError, MemoryError, Image.DecompressionBombError) as e:
        raise ImageError("decode", "corrupt_data", f"the {fmt} data cannot be decoded: {e}") from None
    return im, _MIME.get(fmt, f"image/{fmt.lower()}"), width, height
