"""Category names and copy destinations can never leave the category root."""
import pytest

from transforms.stages.categories import MAX_LEN, UNCATEGORIZED, category_name
from transforms.stages.copy_to_category import category_destination, safe_relative_path


@pytest.mark.parametrize("label,expected", [
    ("Tabby Cat", "tabby_cat"), ("Café", "café"), ("a/b", "a_b"), ("../x", "x"), ("..", UNCATEGORIZED),
    ("", UNCATEGORIZED), (None, UNCATEGORIZED), ("line\nbreak\x00", "line_break"), ("  spaced  ", "spaced"),
    ("C:\\Windows", "c_windows"), ("-.-", UNCATEGORIZED),
])
def test_category_name_is_one_safe_folder__odd_labels(label, expected):
    assert category_name(label) == expected


def test_category_name_is_bounded__500_character_label():
    name = category_name("x" * 500)
    assert 0 < len(name) <= MAX_LEN


@pytest.mark.parametrize("rel", ["../../etc/passwd", "a/../../b.jpg", "/abs/path.jpg", "./a//b.jpg", "..", ""])
def test_destination_stays_under_root__climbing_paths(rel):
    dest = category_destination("/data/classified", "cat", rel)
    assert dest.startswith("/data/classified/cat/")
    assert "/../" not in dest + "/" and not dest.endswith("/..")


def test_relative_path_is_kept__nested_names_do_not_collide():
    a = category_destination("gs://b/classified", "cat", "2023/photo.jpg")
    b = category_destination("gs://b/classified", "cat", "2024/photo.jpg")
    assert a != b and a == "gs://b/classified/cat/2023/photo.jpg"
    assert safe_relative_path("naïve name with spaces.jpg") == "naïve name with spaces.jpg"
