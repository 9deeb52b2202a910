"""The end-of-run summary prints names and messages from files and objects: a name may
hold terminal escapes or line breaks, and must reach the terminal as text."""
from pipeline.summary import format_summary, printable

HOSTILE = "\x1b]2;pwned\x07\x1b[2Jfake\nClassified 999 images.jpg"


def _figures(name: str, message: str) -> dict:
    return {"per_category": [("cat", 1)], "per_stage": [("decode", 1)],
            "first_errors": [("decode", "not_an_image", name, message)],
            "classified": 1, "errors": 1, "db_totals": (1, 1)}


def test_control_characters_are_escaped__hostile_name_and_message():
    text = format_summary(_figures(HOSTILE, "bad \x9b31m data\r\n"), seconds=1.0, duckdb_path="/o/r.duckdb",
                          category_root="/o/classified\x1b[2J")
    assert not any(ch in text for ch in "\x1b\x07\r\x9b")
    assert not any(line.startswith("Classified 999") for line in text.splitlines())
    assert "\\x1b]2;pwned\\x07\\x1b[2Jfake\\nClassified 999 images.jpg" in text
    assert "bad \\x9b31m data\\r\\n" in text and "/o/classified\\x1b[2J/<category>/" in text


def test_ordinary_names_are_unchanged__unicode_quotes_spaces():
    for name in ("ünïcödé/日本語の写真.jpg", "it's \"quoted\" & spaced.jpg", "tab\tinside.jpg"[:3] + ".jpg"):
        assert printable(name) == name
    assert printable("a\tb") == "a\\tb" and printable("a\\x1b") == "a\\x1b"


def test_summary_of_nothing_written__stopped_before_the_first_write(tmp_path):
    import datetime as dt

    import duckdb

    from pipeline.summary import run_summary
    since = dt.datetime.now(dt.timezone.utc)
    assert run_summary(str(tmp_path / "none.duckdb"), since)["db_totals"] == (0, 0)
    duckdb.connect(str(tmp_path / "empty.duckdb")).close()       # the file made, no table yet
    figures = run_summary(str(tmp_path / "empty.duckdb"), since)
    assert (figures["classified"], figures["errors"], figures["db_totals"]) == (0, 0, (0, 0))
