"""Decoding decides the format from the bytes and refuses what it cannot use, with a message."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from transforms.stages.imaging import ImageError, decode_image


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def gradient(w=64, h=48) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)
    return Image.fromarray(np.stack([np.tile(x, (h, 1))] * 3, axis=-1), "RGB")


def png_bomb(side: int) -> bytes:
    """A tiny PNG that claims side x side pixels (its header alone is enough to refuse it)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    row = b"\x00" + b"\x00" * side
    body = zlib.compress(row * 16, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


@pytest.mark.parametrize("data,code,fragment", [
    (b"", "empty_file", "empty"),
    (b"hello, I am a text file\n", "not_an_image", "not a recognised image format"),
    (png_bomb(40_000), "decompression_bomb", "decompression bomb"),
])
def test_unusable_bytes_raise_with_message__bad_inputs(data, code, fragment):
    with pytest.raises(ImageError) as e:
        decode_image(data)
    assert e.value.code == code and fragment in e.value.message


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP"])
def test_truncated_file_is_an_error__each_format(fmt):
    data = encode(gradient(256, 256).convert("P") if fmt == "GIF" else gradient(256, 256), fmt)
    with pytest.raises(ImageError) as e:
        decode_image(data[: len(data) // 2])
    assert e.value.stage == "decode"
    assert e.value.code in ("truncated", "corrupt_data", "corrupt_header")


def test_format_comes_from_bytes__png_named_jpg():
    _, content_type, w, h = decode_image(encode(gradient(), "PNG"))
    assert content_type == "image/png" and (w, h) == (64, 48)


def test_exif_orientation_is_applied__rotated_photo():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    im, _, w, h = decode_image(encode(gradient(80, 40), "JPEG", exif=exif.tobytes()))
    assert (w, h) == (80, 40) and im.size == (40, 80)


def test_large_jpeg_is_shrunk__draft_decoding():
    im, _, w, h = decode_image(encode(gradient(4000, 3000), "JPEG"), max_side=1024)
    assert (w, h) == (4000, 3000) and max(im.size) <= 1024 and im.mode == "RGB"


@pytest.mark.parametrize("make", [
    lambda: Image.new("CMYK", (32, 32), (0, 255, 255, 0)),
    lambda: Image.fromarray((np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 60)),
    lambda: Image.new("RGBA", (32, 32), (255, 0, 0, 0)),
    lambda: Image.new("LA", (32, 32), (10, 255)),
    lambda: Image.new("1", (32, 32), 1),
])
def test_odd_modes_become_rgb__cmyk_16bit_alpha(make):
    im = make()
    fmt = "TIFF" if im.mode == "CMYK" else "PNG"
    out, *_ = decode_image(encode(im, fmt))
    assert out.mode == "RGB" and out.size == (32, 32)


def test_16_bit_image_keeps_its_contrast__not_clipped_white():
    arr = np.zeros((16, 16), dtype=np.uint16)
    arr[:, 8:] = 65535
    out, *_ = decode_image(encode(Image.fromarray(arr), "PNG"))
    px = np.asarray(out)
    assert px[0, 0, 0] < 10 and px[0, 15, 0] > 245


def test_transparent_pixels_are_white__alpha_over_white():
    out, *_ = decode_image(encode(Image.new("RGBA", (4, 4), (255, 0, 0, 0)), "PNG"))
    assert out.getpixel((0, 0)) == (255, 255, 255)


def test_first_frame_is_used__animated_gif():
    frames = [Image.new("P", (20, 20), i) for i in range(3)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    out, content_type, *_ = decode_image(data)
    assert content_type == "image/gif" and out.size == (20, 20)


def test_one_pixel_image_decodes__tiny():
    out, _, w, h = decode_image(encode(Image.new("RGB", (1, 1), (9, 9, 9)), "PNG"))
    assert (w, h) == (1, 1) and out.size == (1, 1)
