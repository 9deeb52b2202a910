"""Write a folder of real sample photos for the demo and the tests.

The photos come from scikit-image's wheel (no download), so nothing binary is
committed. The folder also holds what a real bucket holds: nested folders,
names with spaces and non-ASCII characters, a PNG saved under a .jpg name, a
file that is not an image, and a truncated JPEG.

    python -m tools.samples OUT_DIR
"""
from __future__ import annotations

import io
import os
import sys

import numpy as np
from PIL import Image


def sample_photos() -> dict[str, np.ndarray]:
    from skimage import data
    left, _right, _disp = data.stereo_motorcycle()
    return {"chelsea": data.chelsea(), "coffee": data.coffee(), "astronaut": data.astronaut(),
            "rocket": data.rocket(), "motorcycle": left}


def jpeg_bytes(pixels: np.ndarray, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def write_samples(out_dir: str) -> dict[str, str]:
    """Write the sample folder; returns {relative path: what it is}."""
    photos = sample_photos()
    files: dict[str, bytes] = {
        "animals/chelsea the cat.jpg": jpeg_bytes(photos["chelsea"]),
        "food/café/coffee.jpg": jpeg_bytes(photos["coffee"]),
        "people/astronaut.jpg": jpeg_bytes(photos["astronaut"]),
        "vehicles/rocket.jpg": jpeg_bytes(photos["rocket"]),
        "vehicles/2024/motorcycle.jpeg": jpeg_bytes(photos["motorcycle"]),
    }
    png = io.BytesIO()
    Image.fromarray(photos["chelsea"]).save(png, "PNG")
    files["misnamed/actually a png.jpg"] = png.getvalue()
    files["broken/truncated.jpg"] = jpeg_bytes(photos["coffee"])[:2000]
    files["notes/readme.txt"] = "Not an image: skipped and counted, not an error.\n".encode()
    kinds = {name: "photo" for name in files}
    kinds.update({"misnamed/actually a png.jpg": "png named .jpg", "broken/truncated.jpg": "truncated jpeg",
                  "notes/readme.txt": "not an image"})
    for rel, data in files.items():
        path = os.path.join(out_dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not (os.path.exists(path) and open(path, "rb").read() == data):
            with open(path, "wb") as f:  # unchanged files keep their mtime, so re-runs upsert
                f.write(data)
    return kinds


def main(argv: list[str]) -> int:
    out = argv[0] if argv else "demo/images"
    kinds = write_samples(out)
    print(f"Wrote {len(kinds)} sample files under {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
