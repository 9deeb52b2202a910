"""--categories is read and checked before the job starts: a bad file is one line, and nothing runs."""
import pytest

from pipeline.run import main
from pipeline.settings import resolve
from transforms.taxonomy import categorize

BAD_FILES = {
    "not YAML": ("categories:\n  - name: pets\n    labels: [Dog\n", "not valid YAML at line"),
    "unknown field": ("categories:\n  - name: pets\n    labels: [Dog]\n    colour: brown\n", "unknown field 'colour'"),
    "unsafe name": ("categories:\n  - name: ../../etc\n    labels: [Dog]\n", "is not a safe folder name"),
    "unsafe fallback": ("fallback: Other Stuff\ncategories:\n  - name: pets\n    labels: [Dog]\n",
                        "is not a safe folder name"),
    "no rule": ("categories:\n  - name: pets\n", "has no rule"),
    "not UTF-8": (b"categories:\n  - name: caf\xe9\n", "not UTF-8 text"),
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_categories_file_stops_the_job_before_it_starts__one_line(kind, tmp_path, capsys):
    content, fragment = BAD_FILES[kind]
    path = tmp_path / "mine.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    (tmp_path / "in").mkdir()
    rc = main([f"--input={tmp_path / 'in'}", f"--categories={path}", f"--duckdb={tmp_path / 'r.duckdb'}"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith(f"error: --categories {path}: ") and fragment in err and "\n" not in err
    assert not (tmp_path / "r.duckdb").exists() and not (tmp_path / "classified").exists()


@pytest.mark.parametrize("spec,fragment", [
    ("builtin:fancy", "no built-in taxonomy 'fancy' (built in: everyday)"),
    ("/no/such/taxonomy.yaml", "no such file"),
])
def test_unknown_taxonomy_is_refused__one_line(spec, fragment, tmp_path, capsys):
    (tmp_path / "in").mkdir()
    assert main([f"--input={tmp_path / 'in'}", f"--categories={spec}", f"--duckdb={tmp_path / 'r.duckdb'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert fragment in err and "\n" not in err


def test_category_named_like_the_quarantine_is_refused__mixing(tmp_path):
    from pipeline.options import OptionsError
    (tmp_path / "mine.yaml").write_text("categories:\n  - name: quarantine\n    labels: [Dog]\n")
    (tmp_path / "in").mkdir()
    with pytest.raises(OptionsError, match="unsafe images would mix"):
        resolve([f"--input={tmp_path / 'in'}", f"--categories={tmp_path / 'mine.yaml'}"])


def test_default_is_the_everyday_taxonomy__no_flag(tmp_path):
    (tmp_path / "in").mkdir()
    s, _ = resolve([f"--input={tmp_path / 'in'}"])
    assert s.taxonomy.source == "builtin:everyday"
    assert s.taxonomy.names == ("people", "animals", "food_and_drink", "plants_and_flowers", "vehicles",
                                "buildings", "landscapes_and_nature", "documents_and_text", "other")


def test_own_file_is_parsed_once_into_the_settings__local_yaml(tmp_path):
    (tmp_path / "mine.yaml").write_text("fallback: misc\nsynonyms: {Dog: [Puppy]}\n"
                                        "categories:\n  - name: dogs\n    labels: [Dog]\n    min_score: 0.5\n")
    (tmp_path / "in").mkdir()
    s, _ = resolve([f"--input={tmp_path / 'in'}", f"--categories={tmp_path / 'mine.yaml'}"])
    row = {"labels": [{"name": "puppy", "score": 0.6}], "is_safe": True}
    assert categorize(row, s.taxonomy) == ("dogs", "label:puppy (0.60)")
    assert categorize({"labels": [], "is_safe": True}, s.taxonomy) == ("misc", "fallback")
