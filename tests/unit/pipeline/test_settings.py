"""The command line is validated before any job starts."""
import os
import subprocess
import sys

import pytest

from pipeline.options import OptionsError
from pipeline.settings import resolve
from tests import paths

REPO = paths.REPO


def test_defaults_follow_the_contract__folder_input(tmp_path):
    (tmp_path / "in").mkdir()
    s, _ = resolve([f"--input={tmp_path / 'in'}"])
    assert s.backend == "local" and s.streaming is False
    assert s.features == ("LABEL_DETECTION", "OBJECT_LOCALIZATION", "SAFE_SEARCH_DETECTION")
    assert (s.min_confidence, s.max_labels) == (0.7, 15)
    assert s.duckdb.endswith(os.path.join("out", "results.duckdb"))
    assert s.category_root == str(tmp_path / "classified")


def test_bucket_input_defaults_to_bucket_category_root__gcs_input():
    s, _ = resolve(["--input=gs://photos/2024"])
    assert s.category_root == "gs://photos/classified"


def test_subscription_implies_streaming__no_streaming_flag():
    s, options = resolve(["--subscription=projects/p/subscriptions/s", "--category_root=gs://b/classified"])
    assert s.streaming is True
    from apache_beam.options.pipeline_options import StandardOptions
    assert options.view_as(StandardOptions).streaming is True


def test_bigquery_alone_writes_no_duckdb__dataset_given():
    s, _ = resolve(["--input=gs://b", "--bigquery_dataset=my-project:results", "--temp_location=gs://b/tmp"])
    assert s.duckdb is None and s.bigquery_dataset == "my-project:results"


@pytest.mark.parametrize("argv,fragment", [
    ([], "exactly one of --input"),
    (["--input=gs://b", "--subscription=projects/p/subscriptions/s"], "exactly one of --input"),
    (["--input=gs://b", "--streaming"], "--streaming contradicts --input"),
    (["--input=gs://b", "--colour=red"], "unknown option --colour"),
    (["--input=gs://b", "--features=LABEL_DETECTION,COLOUR"], "unknown feature COLOUR"),
    (["--input=gs://b", "--features=LANDMARK_DETECTION"], "cannot serve LANDMARK_DETECTION: use --backend=vision"),
    (["--input=gs://b", "--features=LOGO_DETECTION"], "cannot serve LOGO_DETECTION"),
    (["--input=gs://b", "--min_confidence=1.5"], "between 0 and 1"),
    (["--input=gs://b", "--max_labels=0"], "at least 1"),
    (["--input=gs://b", "--backend=vision", "--vision_endpoint=localhost:9"], "http(s) URL"),
    (["--input=/no/such/folder"], "is not a folder"),
    (["--input=gs://b/classified/x", "--category_root=gs://b/classified"], "inside --category_root"),
    (["--input=gs://b", "--category_root=/tmp/c"], "must be a gs:// path"),
    (["--subscription=projects/p/subscriptions/s"], "--category_root is required"),
])
def test_bad_command_line_is_refused__one_line_message(argv, fragment):
    with pytest.raises(OptionsError) as e:
        resolve(argv)
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_cli_exits_2_with_one_line__unknown_option():
    out = subprocess.run([sys.executable, "-m", "pipeline", "--input=gs://b", "--nope=1"],
                         capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == ["error: unknown option --nope=1 (see --help)"]


def test_help_lists_every_option__help_flag():
    from pipeline.options import OPTIONS
    out = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0
    for opt in OPTIONS:
        assert f"--{opt.name}" in out.stdout


def test_input_inside_category_root_is_refused__input_is_a_link_into_it(tmp_path):
    inside = tmp_path / "classified" / "cat"
    inside.mkdir(parents=True)
    os.symlink(inside, tmp_path / "in")
    with pytest.raises(OptionsError, match="inside --category_root"):
        resolve([f"--input={tmp_path / 'in'}", f"--category_root={tmp_path / 'classified'}"])
