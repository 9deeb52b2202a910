"""Only Vision's formats reach a Pillow plugin; the others are named from their magic bytes."""
import io

import pytest
from PIL import EpsImagePlugin, Image

from transforms.stages.image_formats import VISION_FORMATS, allowed_formats, sniff_format
from transforms.stages.imaging import ImageError, decode_image


def saved(fmt: str, mode: str = "RGB", size=(16, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 128).save(buf, fmt)
    return buf.getvalue()


PSD_HEADER = b"8BPS\x00\x01" + b"\x00" * 6 + b"\x00\x03" + b"\x00\x00\x00\x10" * 2 + b"\x00\x08\x00\x03"
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
HOSTILE = {
    "EPS": saved("EPS"), "PSD": PSD_HEADER, "SVG": SVG, "PDF": saved("PDF"), "PCX": saved("PCX"),
    "SGI": saved("SGI"), "XBM": saved("XBM", "1"), "PPM": saved("PPM"), "ICNS": b"icns\x00\x00\x01\x00",
    "FITS": b"SIMPLE  =                    T" + b" " * 50, "HEIF": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_sniff_names_the_format__hostile_files(name):
    assert sniff_format(HOSTILE[name]) == name


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_decode_refuses_and_names_format__formats_outside_allow_list(name):
    if name in allowed_formats():
        pytest.fail(f"{name} is not meant to be allowed in this environment")
    with pytest.raises(ImageError) as e:
        decode_image(HOSTILE[name])
    assert (e.value.stage, e.value.code) == ("decode", "unsupported_format")
    assert e.value.message.startswith(f"{name} is not an accepted image format")


@pytest.mark.parametrize("fmt", VISION_FORMATS)
def test_sniff_does_not_claim_allowed_formats__vision_formats(fmt):
    data = saved(fmt, "P" if fmt == "GIF" else "RGB", (16, 16))
    assert sniff_format(data) is None
    assert decode_image(data)[2:] == (16, 16)


def test_eps_plugin_is_never_entered__eps_file(monkeypatch):
    def boom(self):
        raise AssertionError("the EPS plugin was opened")
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", boom)
    with pytest.raises(ImageError) as e:
        decode_image(HOSTILE["EPS"])
    assert e.value.code == "unsupported_format"


def test_format_without_magic_is_not_opened__tga():
    # TGA has no magic bytes, so the sniff cannot name it; the allow-list keeps Pillow's TGA plugin out.
    with pytest.raises(ImageError) as e:
        decode_image(saved("TGA"))
    assert e.value.code == "not_an_image"


def test_refusal_carries_no_bytes_or_size__text_file():
    data = b"root:x:0:0:root:/root:/bin/bash\n" * 40
    with pytest.raises(ImageError) as e:
        decode_image(data)
    assert "root" not in e.value.message and str(len(data)) not in e.value.message


def test_pillow_pixel_limit_untouched__after_import():
    import subprocess
    import sys
    code = ("from PIL import Image; before = Image.MAX_IMAGE_PIXELS; import transforms.stages.imaging; "
            "print(before, Image.MAX_IMAGE_PIXELS)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == out[1] == str(int(1024 * 1024 * 1024 // 4 // 3))


def test_jpeg_past_pillow_default_limit_is_decoded__header_of_200_mpx():
    # 20,000 x 10,000 pixels is over Pillow's default guard (179 Mpx) but within the per-call
    # draft-mode limit for JPEG, so it is decoded at reduced size rather than refused.
    header = saved("JPEG", size=(8, 8))
    sof = header.index(b"\xff\xc0")
    data = header[: sof + 5] + (10_000).to_bytes(2, "big") + (20_000).to_bytes(2, "big") + header[sof + 9:]
    image, ctype, width, height = decode_image(data)
    assert (ctype, width, height) == ("image/jpeg", 20_000, 10_000) and max(image.size) <= 1024
