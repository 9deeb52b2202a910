"""A Dataflow launch that could not work is refused before anything is submitted,
by the rules written on the options themselves (pipeline/options.py)."""
from __future__ import annotations

import pytest

from pipeline.options import OPTIONS, Opt
from pipeline.run import main

DATAFLOW = ["--runner=DataflowRunner", "--project=my-project", "--region=europe-west1", "--temp_location=gs://t/tmp"]
OK = ["--input=gs://photos/in", "--bigquery_dataset=my-project:results"]


@pytest.mark.parametrize("argv,message", [
    (["--input=/tmp", "--bigquery_dataset=my-project:results"],
     "on Dataflow --input must be a gs:// path, got /tmp"),
    ([*OK, "--category_root=/tmp/classified"], "must be a gs:// path"),
    ([*OK, "--model_dir=./models"], "on Dataflow --model_dir must be a gs:// path"),
    (["--input=gs://photos/in"], "on Dataflow --bigquery_dataset is required"),
    ([*OK, "--duckdb=out/r.duckdb"], "--duckdb cannot be used on Dataflow: a file on one worker's disk"),
])
def test_launch_is_refused__what_dataflow_workers_cannot_reach(argv, message, capsys):
    assert main([*DATAFLOW, *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_every_rule_is_one_the_launcher_knows__options_list():
    assert {o.on_dataflow for o in OPTIONS} <= {"optional", "required", "gcs", "refused"}
    assert all(o.dataflow_why for o in OPTIONS if o.on_dataflow in ("required", "refused"))
    with pytest.raises(ValueError, match="unknown on_dataflow rule"):
        Opt("x", "help", "X", on_dataflow="sometimes")
