"""Every kind of bad input we can make ends as a correct row or an error row naming
the problem, in a real pipeline run: no crash, no hang."""
import io
import os

import duckdb
import numpy as np
import pytest
from PIL import Image

from pipeline.run import main
from tests.unit.test_imaging import encode, png_bomb
from tools.samples import jpeg_bytes, sample_photos

ROW = "row"
LONG_DIR = "/".join(["a-fairly-long-folder-name-" + str(i) for i in range(8)])


def corrupt(data: bytes) -> bytes:
    """Same length, garbage in the middle: header intact, data broken."""
    mid = len(data) // 3
    return data[:mid] + bytes((b * 7 + 13) % 256 for b in data[mid:mid + len(data) // 3]) + data[mid + len(data) // 3:]


def exif_rotated(pixels) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 8
    return encode(Image.fromarray(pixels), "JPEG", exif=exif.tobytes())


def huge_jpeg() -> bytes:
    """20,000 pixels on a side: decoded at 1/8 scale (draft), so it is a normal row."""
    im = Image.new("L", (20_000, 20_000), 128)
    return encode(im, "JPEG", quality=50)


def build_bad_corpus() -> dict[str, tuple[bytes, str, str | None]]:
    """{path: (bytes, expected 'row' or error code, expected content type for rows)}."""
    photos = sample_photos()
    cat = photos["chelsea"]
    gif = encode(Image.fromarray(cat).convert("P"), "GIF")
    webp = encode(Image.fromarray(cat), "WEBP")
    png = encode(Image.fromarray(cat), "PNG")
    frames = [Image.fromarray(np.roll(cat, i * 20, axis=1)).convert("P") for i in range(3)]
    anim = io.BytesIO()
    frames[0].save(anim, "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0)
    cmyk = encode(Image.fromarray(cat).convert("CMYK"), "JPEG")
    sixteen = encode(Image.fromarray((np.asarray(Image.fromarray(cat).convert("L"), dtype=np.uint16) * 257)), "PNG")
    return {
        "empty.jpg": (b"", "empty_file", None),
        "truncated.jpg": (jpeg_bytes(cat)[:3000], "truncated", None),
        "truncated.png": (png[: len(png) // 2], "truncated", None),
        "truncated.gif": (gif[: len(gif) // 2], "truncated", None),
        "truncated.webp": (webp[: len(webp) // 2], "corrupt_data", None),
        "corrupt.png": (corrupt(png), "corrupt_data", None),
        "text.jpg": (b"<html>this is not an image</html>", "not_an_image", None),
        "bomb.png": (png_bomb(50_000), "decompression_bomb", None),
        "png named as.gif": (png, ROW, "image/png"),
        "tiny 1x1.png": (encode(Image.new("RGB", (1, 1), (200, 10, 10)), "PNG"), ROW, "image/png"),
        "huge 20000px.jpg": (huge_jpeg(), ROW, "image/jpeg"),
        "animated.gif": (anim.getvalue(), ROW, "image/gif"),
        "cmyk.jpg": (cmyk, ROW, "image/jpeg"),
        "sixteen-bit.png": (sixteen, ROW, "image/png"),
        "rotated exif.jpg": (exif_rotated(cat), ROW, "image/jpeg"),
        "it's \"quoted\" & spaced.jpg": (jpeg_bytes(cat), ROW, "image/jpeg"),
        "ünïcödé/日本語の写真.jpg": (jpeg_bytes(cat), ROW, "image/jpeg"),
        "dots/..hidden..jpg": (jpeg_bytes(cat), ROW, "image/jpeg"),
        f"{LONG_DIR}/{'x' * 200}.jpg": (jpeg_bytes(cat), ROW, "image/jpeg"),
    }


def _code_ok(expected: str, got: str) -> bool:
    # Pillow reports some broken files as truncated, others as corrupt: both name the problem.
    broken = {"truncated", "corrupt_data", "corrupt_header"}
    return got == expected or (expected in broken and got in broken)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory, model_dir):
    root = tmp_path_factory.mktemp("bad")
    images = root / "in"
    corpus = build_bad_corpus()
    for rel, (data, _, _) in corpus.items():
        path = images / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    db = root / "r.duckdb"
    assert main([f"--input={images}", f"--duckdb={db}", f"--category_root={root / 'classified'}",
                 "--features=LABEL_DETECTION,SAFE_SEARCH_DETECTION", f"--model_dir={model_dir}"]) == 0
    con = duckdb.connect(str(db), read_only=True)
    rows = {r[0]: r for r in con.execute(
        "SELECT name, content_type, width, height, category_uri FROM classifications").fetchall()}
    errors = {e[0]: e for e in con.execute("SELECT name, stage, code, message FROM errors").fetchall()}
    con.close()
    return corpus, rows, errors


def test_each_bad_input_has_exactly_one_outcome__whole_corpus(outcome):
    corpus, rows, errors = outcome
    assert set(rows) | set(errors) == set(corpus)
    assert not set(rows) & set(errors)


def test_unusable_files_are_error_rows_naming_the_problem__decode_stage(outcome):
    corpus, _, errors = outcome
    for name, (_, expected, _) in corpus.items():
        if expected != ROW:
            assert name in errors, f"{name} should be an error row"
            _, stage, code, message = errors[name]
            assert stage == "decode" and _code_ok(expected, code), (name, code, message)
            assert message and "Traceback" not in message


def test_odd_but_valid_images_are_classified__rows_with_real_sizes(outcome):
    corpus, rows, errors = outcome
    for name, (_, expected, content_type) in corpus.items():
        if expected == ROW:
            assert name in rows, f"{name}: {errors.get(name)}"
            assert rows[name][1] == content_type
            assert os.path.exists(rows[name][4])
    assert rows[next(n for n in rows if n.startswith("huge"))][2:4] == (20_000, 20_000)
    assert rows["tiny 1x1.png"][2:4] == (1, 1)
