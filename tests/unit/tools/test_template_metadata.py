"""pipeline/options.py, templates/metadata.json and the options table of docs/running.md stay
in step: the last two are generated from the first (`make template-metadata`)."""
from __future__ import annotations

import json
import os
import re
import shutil

import pytest

from pipeline.options import OPTIONS, Opt
from tools import docs_gen


def _metadata() -> dict:
    with open(docs_gen.METADATA_PATH, encoding="utf-8") as f:
        return json.load(f)


def test_generated_files_are_current__as_committed():
    assert docs_gen.stale_files() == [], "run `make template-metadata` and commit the result"


def test_every_option_is_a_parameter__except_local_only_ones():
    names = [p["name"] for p in _metadata()["parameters"]]
    assert names == [o.name for o in OPTIONS if o.on_dataflow != "refused"]
    assert "duckdb" not in names


def test_parameters_have_label_help_and_optionality__gcloud_required_fields():
    for p in _metadata()["parameters"]:
        assert p["label"].strip() and p["helpText"].strip(), p["name"]
        assert isinstance(p["isOptional"], bool), p["name"]
    required = {p["name"] for p in _metadata()["parameters"] if not p["isOptional"]}
    assert required == {o.name for o in OPTIONS if o.on_dataflow == "required"} == {"bigquery_dataset"}


def test_streaming_support_declared__both_modes():
    meta = _metadata()
    assert meta["streaming"] is True
    assert meta["supportsAtLeastOnce"] is True and meta["supportsExactlyOnce"] is True


def test_regexes_accept_each_default__and_compile():
    for p in _metadata()["parameters"]:
        for regex in p.get("regexes", []):
            pattern = re.compile(regex)
            if "defaultValue" in p:
                assert pattern.fullmatch(p["defaultValue"]), (p["name"], p["defaultValue"])


@pytest.mark.parametrize("name,good,bad", [
    ("input", "gs://photos-bucket/2024/raw", "/home/me/photos"),
    ("subscription", "projects/p/subscriptions/uploads", "uploads"),
    ("bigquery_dataset", "my-project:image_classifier", "image_classifier"),
    ("backend", "vision", "torch"),
    ("min_confidence", "0.65", "70"),
    ("features", "LABEL_DETECTION,FACE_DETECTION", "labels faces"),
    ("vision_rate_limit_service", "10.128.0.5:8081", "http://ratelimit:8081"),
    ("vision_rate_limit_descriptor", "project=p1,quota=vision-images", "quota"),
])
def test_parameter_regex_separates_good_from_bad__examples(name, good, bad):
    (param,) = [p for p in _metadata()["parameters"] if p["name"] == name]
    (regex,) = param["regexes"]
    assert re.fullmatch(regex, good) and not re.fullmatch(regex, bad)


def test_check_reports_stale_files__option_added_alone(monkeypatch):
    extra = Opt("colour_space", "A new option nobody documented.", "Colour space")
    monkeypatch.setattr(docs_gen, "OPTIONS", (*OPTIONS, extra))
    assert sorted(docs_gen.stale_files()) == ["docs/running.md", "templates/metadata.json"]


def test_check_reports_stale_files__metadata_edited_by_hand(tmp_path, monkeypatch):
    copy = tmp_path / "metadata.json"
    shutil.copy(docs_gen.METADATA_PATH, copy)
    meta = json.loads(copy.read_text())
    meta["parameters"][0]["helpText"] = "edited by hand"
    copy.write_text(json.dumps(meta, indent=2) + "\n")
    monkeypatch.setattr(docs_gen, "METADATA_PATH", str(copy))
    assert docs_gen.stale_files() == [os.path.relpath(copy, docs_gen.REPO_ROOT)]
    assert docs_gen.main(["--check"]) == 1


def test_docs_table_lists_every_option__with_default():
    with open(docs_gen.OPTIONS_DOC, encoding="utf-8") as f:
        readme = f.read()
    table = readme[readme.index(docs_gen.TABLE_START):readme.index(docs_gen.TABLE_END)]
    for o in OPTIONS:
        row = next(line for line in table.splitlines() if line.startswith(f"| `--{o.name}` |"))
        if o.default is not None:
            assert f"`{o.default}`" in row


def test_docs_explain_dataflow__every_make_target():
    with open(os.path.join(docs_gen.REPO_ROOT, "docs", "dataflow.md"), encoding="utf-8") as f:
        section = f.read()
    assert section.startswith("# Run on Dataflow")
    for target in ("template-build", "template-run", "backfill-dataflow"):
        assert f"make {target}" in section
    for words in ("gcloud services enable", "gcloud storage buckets notifications create",
                  "gcloud pubsub subscriptions create", "mk --dataset", "--max-workers",
                  "streaming_mode_at_least_once", "exactly-once", "at-least-once", "Streaming Engine"):
        assert words in section, words
