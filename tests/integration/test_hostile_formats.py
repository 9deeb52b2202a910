"""Files in formats outside the allow-list and decompression bombs, through a real pipeline run (local
backend): each is one error row, `decode/unsupported_format` naming the format or `decode/decompression_bomb`
naming the rule; the photo beside them is a row."""
import duckdb
import pytest

from pipeline.run import main
from tests.unit.transforms.stages.test_image_formats import HOSTILE, saved
from tools.bombs import every_kind
from tools.samples import jpeg_bytes, sample_photos

NAMED = {f"hostile.{name.lower()}.jpg": (data, name) for name, data in HOSTILE.items()}
BOMBS = {f"bomb.{name}.png": data for name, data in every_kind().items() if not name.endswith(".icns")}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory, model_dir):
    root = tmp_path_factory.mktemp("formats")
    images = root / "in"
    images.mkdir()
    for rel, (data, _) in NAMED.items():
        (images / rel).write_bytes(data)
    for rel, data in BOMBS.items():
        (images / rel).write_bytes(data)
    (images / "no-magic.tga.jpg").write_bytes(saved("TGA"))
    (images / "cat.jpg").write_bytes(jpeg_bytes(sample_photos()["chelsea"]))
    db = root / "r.duckdb"
    assert main([f"--input={images}", f"--duckdb={db}", f"--category_root={root / 'classified'}",
                 "--features=LABEL_DETECTION", f"--model_dir={model_dir}"]) == 0
    con = duckdb.connect(str(db), read_only=True)
    rows = {r[0] for r in con.execute("SELECT name FROM classifications").fetchall()}
    errors = {e[0]: e[1:] for e in con.execute("SELECT name, stage, code, message FROM errors").fetchall()}
    con.close()
    return rows, errors


def test_each_refused_format_is_an_error_row_naming_it__eps_psd_svg_and_more(outcome):
    rows, errors = outcome
    for rel, (_, name) in NAMED.items():
        key = next(k for k in errors if k.endswith(rel))
        stage, code, message = errors[key]
        assert (stage, code) == ("decode", "unsupported_format"), rel
        assert message.startswith(f"{name} is not an accepted image format"), message


def test_format_without_magic_is_not_an_image_and_photo_is_a_row__tga_and_jpeg(outcome):
    rows, errors = outcome
    assert any(k.endswith("no-magic.tga.jpg") for k in errors)
    assert [errors[k][1] for k in errors if k.endswith("no-magic.tga.jpg")] == ["not_an_image"]
    assert any(r.endswith("cat.jpg") for r in rows) and len(errors) == len(NAMED) + len(BOMBS) + 1


def test_each_bomb_is_an_error_row_naming_the_rule__every_kind(outcome):
    rows, errors = outcome
    for rel in BOMBS:
        assert not any(r.endswith(rel) for r in rows), rel
        [(stage, code, message)] = [errors[k] for k in errors if k.endswith(rel)]
        assert (stage, code) == ("decode", "decompression_bomb"), (rel, code, message)
        assert "over the decode budget of 256 MiB" in message or "Mpx limit" in message \
            or "exceeds limit" in message, message
