"""The decode budget refuses bombs from the header, lets ordinary large images through, and caps decodes in flight.

Memory is measured in a child process (peak resident size before and after), so a
refusal that came only after the pixels were decoded would show up as hundreds of MiB.
"""
import io
import json
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from tools import bombs
from transforms.stages import decode_budget
from transforms.stages.decode_budget import DECODE_BUDGET_BYTES
from transforms.stages.imaging import ImageError, decode_image

MIB = 2**20
CHILD = """
import json, resource, sys
from tools.bombs import every_kind
from transforms.stages.imaging import ImageError, decode_image

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

kinds = every_kind(full=True)   # complete pixel data: a decode that is not refused really fills the memory
start, seen = peak(), {}
for name, data in kinds.items():
    try:
        decode_image(data)
        seen[name] = {"code": "decoded", "message": ""}
    except ImageError as e:
        seen[name] = {"code": e.code, "message": e.message}
    seen[name]["grown"] = peak() - start
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def refusals():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=300)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("name", sorted(bombs.every_kind()))
def test_bomb_is_refused_from_its_header__every_kind(refusals, name):
    seen = refusals[name]
    if name.endswith(".icns"):
        assert seen["code"] == "unsupported_format", seen
    else:
        assert seen["code"] == "decompression_bomb", seen
        assert "decode budget" in seen["message"] or "Mpx limit" in seen["message"] \
            or "exceeds limit" in seen["message"], seen["message"]
    # Peak memory of the whole run so far: no pixel of any bomb was decoded.
    assert seen["grown"] < 48 * MIB, f"{name}: peak grew by {seen['grown'] / MIB:.0f} MiB"


@pytest.mark.parametrize("name,rule", [
    ("gif-10000-screen-1x1-frame.gif", "GIF of 10000x10000 pixels would take 477 MiB to decode"),
    ("png-palette-transparency-10000.png", "10000x10000 pixels x 5 bytes for P and a working copy"),
    ("jpeg-progressive-20000.jpg", "763 MiB of progressive JPEG coefficients at 20000x20000"),
    ("ico-bmp-frame-9000.ico", "ICO frame of 9000x9000 pixels would take 618 MiB"),
    ("webp-10000-canvas-1x1-frame.webp", "libwebp canvases"),
])
def test_refusal_names_the_rule__budget_message(name, rule):
    with pytest.raises(ImageError) as e:
        decode_image(bombs.every_kind()[name])
    assert rule in e.value.message and "over the decode budget of 256 MiB per image" in e.value.message


def test_ico_frame_size_comes_from_the_frame__directory_says_256():
    data = bombs.ico_png(13_000)
    assert data[6:8] == b"\x00\x00"   # the directory's 0 x 0 means 256 x 256
    assert decode_budget.ico_frame_sizes(data) == [(13_000, 13_000)]


def test_progressive_jpeg_counts_every_coefficient__subsampled_color():
    buf = io.BytesIO()
    Image.new("RGB", (1600, 1200), (10, 20, 30)).save(buf, "JPEG", progressive=True, subsampling="4:2:0")
    im = Image.open(io.BytesIO(buf.getvalue()))
    cost, how = decode_budget.decode_cost(im, 1600, 1200)
    # Y at full size, Cb and Cr at a quarter: 1.5 samples a pixel, 2 bytes each.
    assert cost == 1600 * 1200 * (4 + 4) + 1600 * 1200 * 3 // 2 * 2
    assert "progressive JPEG coefficients" in how


CHILD_ORDINARY = """
import io, json, resource, sys
import numpy as np
from PIL import Image
from transforms.stages import decode_budget
from transforms.stages.imaging import decode_image

w, h, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = np.random.default_rng(0)
tile = rng.integers(0, 255, (h // 8, w // 8, 3), dtype=np.uint8)
im = Image.fromarray(np.tile(tile, (8, 8, 1)))
if mode == "P":
    im = im.quantize(64)
    im.info["transparency"] = 0
buf = io.BytesIO()
im.save(buf, "PNG", transparency=0) if mode == "P" else im.save(buf, "PNG")
data = buf.getvalue()
del im, tile
opened = Image.open(io.BytesIO(data))
estimate = decode_budget.decode_cost(opened, w, h)[0]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out, ctype, ow, oh = decode_image(data)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(json.dumps({"estimate": estimate, "grown": grown, "size": out.size, "mode": out.mode}))
"""


@pytest.mark.parametrize("w,h,mode", [(4000, 3000, "RGB"), (6000, 4000, "P")])
def test_large_ordinary_image_decodes_within_its_estimate__12mp_rgb_24mp_palette(w, h, mode):
    out = subprocess.run([sys.executable, "-c", CHILD_ORDINARY, str(w), str(h), mode],
                         capture_output=True, text=True, check=True, timeout=300)
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["size"][0] == 1024 and abs(seen["size"][1] - 1024 * h / w) < 1 and seen["mode"] == "RGB"
    assert seen["estimate"] <= DECODE_BUDGET_BYTES
    assert seen["grown"] <= seen["estimate"], f"grew {seen['grown'] / MIB:.0f} MiB, " \
                                              f"estimated {seen['estimate'] / MIB:.0f} MiB"


def test_palette_transparency_is_white__composited_in_the_palette():
    im = Image.new("P", (2000, 1500), 1)
    im.putpalette([255, 0, 0, 0, 0, 255])
    buf = io.BytesIO()
    im.save(buf, "PNG", transparency=bytes([255, 0]))   # index 1 fully transparent
    out, *_ = decode_image(buf.getvalue())
    assert out.getpixel((10, 10)) == (255, 255, 255) and out.size == (1024, 768)


def test_decode_waits_while_the_budget_is_held__process_wide_cap():
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 90, np.uint8)).save(buf, "PNG")
    done = []
    with decode_budget.reserved(DECODE_BUDGET_BYTES):
        worker = threading.Thread(target=lambda: done.append(decode_image(buf.getvalue())))
        worker.start()
        worker.join(timeout=1.0)
        assert worker.is_alive() and not done   # another decode holds the whole budget
    worker.join(timeout=30)
    assert len(done) == 1 and done[0][0].size == (64, 64)
    assert decode_budget.in_flight() == 0
