"""Backfill of a local folder on the embedded default: real models, real photos, bad files, run twice."""
import os

import duckdb
import pytest

from pipeline.run import main
from tests.integration.corpus import ROW, SKIP, write_corpus

FEATURES = "--features=LABEL_DETECTION,SAFE_SEARCH_DETECTION"


@pytest.fixture(scope="module")
def backfill(tmp_path_factory, model_dir):
    root = tmp_path_factory.mktemp("backfill")
    images, db = root / "images", root / "results.duckdb"
    expected = write_corpus(str(images))
    # A stale copy inside the input's category-root would loop if it were listed.
    inside_root = images / "classified" / "cat"
    inside_root.mkdir(parents=True)
    (inside_root / "old copy.jpg").write_bytes((images / "animals" / "chelsea.jpg").read_bytes())
    argv = [f"--input={images}", f"--category_root={images / 'classified'}", f"--duckdb={db}", FEATURES,
            f"--model_dir={model_dir}"]
    outputs = []
    for _ in range(2):
        assert main(argv) == 0
        con = duckdb.connect(str(db), read_only=True)
        outputs.append({
            "rows": con.execute("SELECT name, primary_category, category_uri, labels, is_safe, content_type "
                                "FROM classifications ORDER BY name").fetchall(),
            "errors": con.execute("SELECT name, stage, code, message FROM errors ORDER BY name").fetchall(),
        })
        con.close()
    return {"expected": expected, "runs": outputs, "classified": images / "classified", "images": images}


def test_every_file_accounted_for_exactly_once__two_runs(backfill):
    expected = backfill["expected"]
    for run in backfill["runs"]:
        row_names = [r[0] for r in run["rows"]]
        error_names = [e[0] for e in run["errors"]]
        assert sorted(row_names) == sorted(n for n, o in expected.items() if o == ROW)
        assert sorted(error_names) == sorted(n for n, o in expected.items() if o not in (ROW, SKIP))
        assert not set(row_names) & set(error_names)


def test_bad_files_become_error_rows_naming_the_problem__decode_stage(backfill):
    expected = backfill["expected"]
    for name, stage, code, message in backfill["runs"][1]["errors"]:
        assert stage == "decode" and code == expected[name]
        assert len(message) > 10


def test_photos_get_labels_a_person_would_use__real_models(backfill):
    rows = {r[0]: r for r in backfill["runs"][1]["rows"]}
    # The default taxonomy (builtin:everyday) files them under everyday folders.
    assert rows["animals/chelsea.jpg"][1] == "animals"
    assert rows["food/café au lait/coffee \"special\".JPG"][1] == "food_and_drink"
    assert rows["misnamed/png named.jpg"][5] == "image/png"
    assert all(r[4] is True for r in rows.values())


def test_copies_keep_the_relative_path__same_basename(backfill):
    copies = sorted(os.path.relpath(os.path.join(d, f), backfill["classified"])
                    for d, _, fs in os.walk(backfill["classified"]) for f in fs)
    assert "animals/animals/chelsea.jpg" in copies and "animals/animals/2024/chelsea.jpg" in copies
    # One copy per classified image plus the stale one planted before: nothing doubled, the stale one not copied.
    assert len(copies) == len(backfill["runs"][1]["rows"]) + 1
    for name, _, category_uri, *_ in backfill["runs"][1]["rows"]:
        assert os.path.exists(category_uri)
        with open(category_uri, "rb") as a, open(backfill["images"] / name, "rb") as b:
            assert a.read() == b.read()
