"""Take the docs' screenshot of a report: `python -m tools.report.screenshot INDEX_HTML OUT_PNG`.

The picture in the README and the docs is generated (`make screenshot`), never edited by
hand, so it always shows what the report really looks like. It is reduced to a
256-colour palette to keep the repository small.
"""
from __future__ import annotations

import io
import os
import sys

from PIL import Image

from tools.report.browser import Chromium

WIDTH, HEIGHT = 1280, 1100
MAX_BYTES = 300 * 1024


def shrink_png(png: bytes, max_bytes: int = MAX_BYTES) -> bytes:
    """A palette PNG, scaled down until it fits in max_bytes."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    while True:
        out = io.BytesIO()
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            out, "PNG", optimize=True)
        if out.tell() <= max_bytes or image.width < 400:
            return out.getvalue()
        image = image.resize((int(image.width * 0.85), int(image.height * 0.85)), Image.Resampling.LANCZOS)


def take(index_html: str, out_png: str, width: int = WIDTH, height: int = HEIGHT) -> int:
    with Chromium(width=width, height=height) as browser:
        browser.open(index_html)
        raw = out_png + ".raw.png"
        browser.screenshot(raw)
    with open(raw, "rb") as f:
        png = shrink_png(f.read())
    with open(out_png, "wb") as f:
        f.write(png)
    os.remove(raw)
    return len(png)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.splitlines()[0], file=sys.stderr)
        return 2
    size = take(argv[0], argv[1])
    print(f"Screenshot: {argv[1]} ({size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
