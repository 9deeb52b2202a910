"""--firestore_collection and its project and database: defaults, refusals, and Dataflow."""
from __future__ import annotations

import pytest

from pipeline import dataflow
from pipeline.options import ClassifyOptions, OptionsError
from pipeline.settings import resolve
from transforms.sinks.firestore_sink import FirestoreTarget

BACKFILL = ["--input=gs://photos/in", "--bigquery_dataset=my-project:results", "--temp_location=gs://t/tmp"]


def test_no_collection_writes_no_documents__default():
    s, _ = resolve(BACKFILL)
    assert s.firestore is None


def test_project_defaults_to_the_jobs_and_database_to_default__collection_only():
    s, _ = resolve([*BACKFILL, "--project=my-project", "--firestore_collection=image_classifications"])
    assert s.firestore == FirestoreTarget("my-project", "image_classifications", "(default)")


def test_project_and_database_given__used_as_given():
    s, _ = resolve([*BACKFILL, "--project=my-project", "--firestore_collection=imgs",
                    "--firestore_project=other-project", "--firestore_database=results-db"])
    assert s.firestore == FirestoreTarget("other-project", "imgs", "results-db")


@pytest.mark.parametrize("extra,fragment", [
    (["--firestore_collection=imgs"], "needs --firestore_project or the job's --project"),
    (["--project=my-project", "--firestore_collection=a/b"], "must be a collection id"),
    (["--project=my-project", "--firestore_collection=imgs", "--firestore_database=Bad_DB"], "database id"),
    (["--firestore_project=my-project"], "--firestore_project needs --firestore_collection"),
])
def test_bad_firestore_options_are_refused__one_line(extra, fragment):
    with pytest.raises(OptionsError, match=fragment):
        resolve([*BACKFILL, *extra])


def test_firestore_is_allowed_on_dataflow__a_cloud_service():
    argv = ["--runner=DataflowRunner", "--project=my-project", "--region=europe-west1", *BACKFILL,
            "--firestore_collection=image_classifications"]
    s, options = resolve(argv)
    dataflow.check_options(options.view_as(ClassifyOptions))   # no refusal
    assert s.firestore.project == "my-project"


def test_summary_names_the_collection__firestore_given():
    from pipeline.summary import format_summary
    target = FirestoreTarget("my-project", "image_classifications")
    text = format_summary({"classified": 2, "errors": 0, "per_category": [], "per_stage": [], "first_errors": []},
                          seconds=1.0, duckdb_path=None, category_root="/c", bigquery_dataset="my-project:r",
                          firestore=target.path)
    assert "Results: Firestore projects/my-project/databases/(default)/documents/image_classifications" in text
