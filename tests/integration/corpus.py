"""A folder of real photos and bad files, generated (nothing binary is committed).

Each entry says what the pipeline must make of it: a row in `classifications`,
an error row with a given code, or nothing at all (skipped).
"""
from __future__ import annotations

import os

from tests.unit.test_imaging import encode, png_bomb
from tools.samples import jpeg_bytes, sample_photos

ROW, SKIP = "row", "skip"


def build_corpus() -> dict[str, tuple[bytes, str]]:
    """{relative path: (bytes, expected outcome: 'row', 'skip' or an error code)}."""
    from PIL import Image
    photos = sample_photos()
    cat = jpeg_bytes(photos["chelsea"])
    return {
        "animals/chelsea.jpg": (cat, ROW),
        "animals/2024/chelsea.jpg": (cat, ROW),           # same basename, other folder
        "food/café au lait/coffee \"special\".JPG": (jpeg_bytes(photos["coffee"]), ROW),
        "misnamed/png named.jpg": (encode(Image.fromarray(photos["rocket"]), "PNG"), ROW),
        "bad/empty.jpg": (b"", "empty_file"),
        "bad/truncated.jpg": (jpeg_bytes(photos["coffee"])[:1500], "truncated"),
        "bad/text.png": (b"just some text, not a picture\n", "not_an_image"),
        "bad/bomb.png": (png_bomb(40_000), "decompression_bomb"),
        "notes/readme.txt": (b"not an image at all", SKIP),
    }


def write_corpus(root: str) -> dict[str, str]:
    expected = {}
    for rel, (data, outcome) in build_corpus().items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        expected[rel] = outcome
    return expected
