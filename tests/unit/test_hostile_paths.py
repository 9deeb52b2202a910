"""Hostile names never reach outside their root: the category folder built from a
label, the copy's path built from an object name, the report's thumbnail file."""
import os
import posixpath
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from tools.report.thumbnails import thumbnail_name
from transforms.stages.categories import MAX_LEN, category_name
from transforms.stages.copy_to_category import category_destination, safe_relative_path

# Pieces an attacker would try: climbing, absolute paths, Windows separators, NUL,
# look-alikes of '/' and '.', control characters, a trailing '/'.
HOSTILE_PIECES = ["..", ".", "/", "\\", "\0", "../", "..\\", "/etc/passwd", "C:\\Windows", "\u2215", "\u2044",
                  "\uff0e\uff0e", "\u2024\u2024", "\u202e", "~", "%2e%2e%2f", "\n", " ", "a", "\u00e9"]
hostile_text = st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=8)), max_size=40).map("".join)
long_text = st.integers(min_value=300, max_value=1000).map(lambda n: ("../" * n)[:n])
names = st.one_of(hostile_text, long_text, st.text(max_size=1000))

ROOT = "/data/classified"


@settings(max_examples=400)
@given(names)
def test_category_is_one_plain_folder_name__any_label(label):
    name = category_name(label)
    assert name and len(name) <= MAX_LEN
    assert re.fullmatch(r"[\w-]+", name), name            # no '/', '\\', '.', NUL, space or control
    assert name not in (".", "..")


@settings(max_examples=400)
@given(label=names, rel=names)
def test_copy_stays_under_its_category_folder__any_label_and_object_name(label, rel):
    category = category_name(label)
    for root in (ROOT, "gs://bucket/classified"):
        dest = category_destination(root, category, rel)
        folder = f"{root}/{category}/"
        assert dest.startswith(folder)
        tail = dest[len(folder):]
        assert tail and not tail.startswith("/")
        assert ".." not in tail.split("/") and "." not in tail.split("/")
        assert "\\" not in tail
        if root.startswith("/"):
            resolved = posixpath.normpath(dest)
            assert resolved.startswith(folder), resolved


@given(names)
def test_relative_path_has_no_empty_or_climbing_segment__any_name(rel):
    segments = safe_relative_path(rel).split("/")
    assert all(seg and seg not in (".", "..") for seg in segments)


@given(st.fixed_dictionaries({"bucket": names, "name": names, "generation": st.one_of(st.integers(), names)}))
def test_thumbnail_file_is_a_flat_name_in_the_report_folder__any_row(row):
    name = thumbnail_name(row)
    assert re.fullmatch(r"[0-9a-f]{20}\.jpg", name)
    out = "/tmp/report/thumbs"
    assert os.path.dirname(os.path.normpath(os.path.join(out, name))) == out
