"""The quality bench's photo set (tools/photo_set.py), written from the real package files."""
import os

import pytest
from PIL import Image

from tools import photo_set


@pytest.mark.parametrize("photos", [photo_set.PHOTOS, photo_set.CHECK_PHOTOS], ids=["dev", "check"])
def test_photo_set_writes_every_photo_as_a_real_photo__from_the_fetched_packages(tmp_path, photos):
    names = photo_set.write_photo_set(str(tmp_path), photos)
    assert len(names) == len(photos) >= 25
    assert sorted(os.listdir(tmp_path)) == sorted(names)
    for name in names:
        with Image.open(tmp_path / name) as im:
            im.load()  # the whole file decodes
            assert im.format in ("JPEG", "PNG") and min(im.size) >= 150, name


def test_rewriting_the_set_leaves_unchanged_files_alone__same_mtime(tmp_path):
    photo_set.write_photo_set(str(tmp_path))
    first = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    photo_set.write_photo_set(str(tmp_path))
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == first


def test_missing_package_file_names_it_and_make_setup__no_photo_sources(tmp_path, monkeypatch):
    monkeypatch.setattr(photo_set, "SOURCES", str(tmp_path / "empty"))
    npm_photo = next(p for p in photo_set.PHOTOS if p.kind == "npm")
    with pytest.raises(photo_set.MissingSource, match=r"vladmandic-face-api-1\.7\.15\.tgz not found: `make setup`"):
        photo_set.photo_bytes(npm_photo)
    assert photo_set.main([str(tmp_path / "out")]) == 2
