"""atheris harness: `transforms.stages.imaging.decode_image` on arbitrary bytes.

Every image a user uploads reaches decode_image. An `ImageError` (a `decode/*`
error row) is the expected answer to bad bytes; any other exception escapes,
and libFuzzer keeps the input as `crash-<sha1>`: it would fail the bundle.
Pillow's Python plugins (the allow-listed ones are what can run) and our code are
instrumented for coverage; its C decoders are not. Run by `make fuzz`.
"""
from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["PIL", "transforms"]):
    from PIL import Image
    Image.init()   # import every plugin here, inside the instrumentation
    from transforms.stages.imaging import ImageError, decode_image

MAX_SIDE = 256


def test_one_input(data: bytes) -> None:
    try:
        image, content_type, width, height = decode_image(data, max_side=MAX_SIDE)
    except ImageError:
        return
    # What the pipeline relies on from a successful decode.
    assert image.mode == "RGB" and max(image.size) <= MAX_SIDE and min(image.size) >= 1, image
    assert width >= 1 and height >= 1 and content_type.startswith("image/"), (width, height, content_type)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
