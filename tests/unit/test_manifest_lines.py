"""The manifest line parser: what counts as a usable object, and what becomes an error row."""
from __future__ import annotations

import pytest

from transforms.sources.read_manifest import (
    BadLine,
    csv_records,
    parse_inventory_row,
    parse_uri_line,
)


def test_parse_uri_line__generation_after_hash():
    assert parse_uri_line("gs://b/a/x.jpg#123\n") == {"bucket": "b", "name": "a/x.jpg", "generation": 123}


def test_parse_uri_line__generation_in_second_column():
    assert parse_uri_line("gs://b/x y.png,77") == {"bucket": "b", "name": "x y.png", "generation": 77}


def test_parse_uri_line__no_generation_is_none():
    assert parse_uri_line("gs://b/é/ü.jpg")["generation"] is None


def test_parse_uri_line__blank_and_comment_are_nothing():
    assert parse_uri_line("   \n") is None
    assert parse_uri_line("# made by failed_images.sql") is None


@pytest.mark.parametrize("line, code", [
    ("/local/x.jpg", "not_gcs_uri"),
    ("gs:///x.jpg", "empty_bucket"),
    ("gs://b", "empty_name"),
    ("gs://b/", "empty_name"),
    ("gs://b/x.jpg#12a", "bad_generation"),
    ("gs://b/x.jpg,-4", "bad_generation"),
    ("gs://b/x.jpg#1,2", "bad_generation"),
    ("gs://b/x.jpg,1,2", "bad_columns"),
])
def test_parse_uri_line__unusable_line_raises_its_code(line, code):
    with pytest.raises(BadLine) as e:
        parse_uri_line(line)
    assert e.value.code == code


def test_parse_inventory_row__keeps_size_type_and_time():
    row = {"bucket": "b", "name": "p/x.jpg", "generation": "5", "size": "10",
           "contentType": "image/jpeg", "updated": "2026-01-01T00:00:00Z"}
    assert parse_inventory_row(row) == {"bucket": "b", "name": "p/x.jpg", "generation": 5, "size": "10",
                                        "content_type": "image/jpeg", "updated": "2026-01-01T00:00:00Z"}


def test_parse_inventory_row__missing_name_is_bad():
    with pytest.raises(BadLine) as e:
        parse_inventory_row({"bucket": "b", "name": "", "generation": "1"})
    assert e.value.code == "missing_column"


def test_csv_records__inventory_header_numbers_lines_from_two():
    lines = ["bucket,name,generation,size,contentType,updated\n",
             "b,x.jpg,1,3,image/jpeg,2026-01-01T00:00:00Z\n",
             "b,y.jpg,zz,3,image/jpeg,2026-01-01T00:00:00Z\n",
             "b,z.jpg,1\n"]
    got = list(csv_records(lines))
    assert [n for n, _ in got] == [2, 3, 4]
    assert got[0][1]["name"] == "x.jpg"
    assert [r.code for _, r in got[1:]] == ["bad_generation", "bad_columns"]


def test_csv_records__uri_list_numbers_lines_from_one_and_skips_blanks():
    got = list(csv_records(["gs://b/x.jpg\n", "\n", "nope\n", "gs://b/y.jpg#9\n"]))
    assert [n for n, _ in got] == [1, 3, 4]
    assert isinstance(got[1][1], BadLine) and got[2][1]["generation"] == 9


def test_csv_records__empty_file_has_no_records():
    assert list(csv_records([])) == []
