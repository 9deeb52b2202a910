"""Every shipped analysis on bqemulator and on DuckDB over the same data: the same
answer on both, and the answer the rows themselves give (computed here in Python).

BigQuery gets the rows through the real sink (load jobs, append-only, so re-written
images are there twice); DuckDB gets them through its upserting sink. The
de-duplicating view has to make the two agree."""
from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter, defaultdict

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.util import assert_that, equal_to

from tools import analytics
from transforms.sinks.bigquery_client import bigquery_client
from transforms.sinks.bigquery_sink import WriteToBigQueryTables
from transforms.sinks.duckdb_sink import connect, ensure_tables, upsert
from transforms.stage import StageOutput

PROJECT = "test-project"
DATASET = f"{PROJECT}:analytics"
ODD_LABEL = "o'brien \"x\"; --"     # a real label value full of SQL punctuation
LABELS = ["cat", "dog", "car", "tree", "grass", "Sky", ODD_LABEL]
OBJECTS = ["person", "bicycle", "cat"]
T0 = dt.datetime(2024, 5, 1, 22, 30, tzinfo=dt.timezone.utc)


def _iso(t: dt.datetime) -> str:
    return t.isoformat()


def make_rows(seed: int = 7):
    """Classification rows (some images written twice, the later one wins) and error rows."""
    rnd = random.Random(seed)
    latest, older = [], []
    for i in range(30):
        labels = [{"name": n, "score": round(rnd.uniform(0.5, 1.0), 3), "mid": f"/m/{n[:3]}"}
                  for n in rnd.sample(LABELS, rnd.randint(0, 4))]
        labels.sort(key=lambda lab: -lab["score"])
        objects = [{"name": rnd.choice(OBJECTS), "score": round(rnd.uniform(0.3, 1.0), 3),
                    "box": [0.1, 0.1, 0.5, 0.6]} for _ in range(rnd.randint(0, 3))]
        safe = None if i % 7 == 0 else (i % 5 != 0)
        event = T0 + dt.timedelta(hours=5 * i)
        row = {
            "uri": f"gs://photos/in/img{i:02d}.jpg", "bucket": "photos", "name": f"in/img{i:02d}.jpg",
            "generation": 1000 + i, "content_type": "image/jpeg", "size_bytes": 1000 + i,
            "width": 64, "height": 48,
            "primary_category": labels[0]["name"].replace("'", "").replace('"', "").replace(";", "")
            .replace(" ", "_").replace("-", "") if labels else "uncategorized",
            "top_label": labels[0]["name"] if labels else None,
            "category_rule": f"label:{labels[0]['name']} ({labels[0]['score']:.2f})" if labels else "fallback",
            "labels": labels, "objects": objects,
            "safe_search": None if safe is None else {"adult": "VERY_UNLIKELY", "spoof": "UNLIKELY",
                                                       "medical": "UNLIKELY", "violence": "UNLIKELY",
                                                       "racy": "UNLIKELY" if safe else "LIKELY"},
            "is_safe": safe, "faces": [], "text": None, "landmarks": [], "logos": [], "dominant_colors": [],
            "backend": "local", "model_version": "test", "event_time": _iso(event),
            "classified_at": _iso(event + dt.timedelta(minutes=10)), "category_uri": f"gs://photos/classified/x/{i}",
        }
        latest.append(row)
        if i % 4 == 0:   # an earlier, different result for the same image
            older.append(dict(row, primary_category="stale", labels=[{"name": "stale", "score": 0.99, "mid": None}],
                              classified_at=_iso(event + dt.timedelta(minutes=1))))
    t = T0 + dt.timedelta(days=1)
    err = lambda uri, gen, stage, code, minutes: {   # noqa: E731
        "uri": uri, "bucket": "photos", "name": uri.removeprefix("gs://photos/"), "generation": gen,
        "stage": stage, "code": code, "message": f"{stage} failed", "attempts": 1,
        "failed_at": _iso(t + dt.timedelta(minutes=minutes))}
    errors = [
        err("gs://photos/in/bad1.jpg", 1, "decode", "not_an_image", 1),
        err("gs://photos/in/bad2.jpg", 2, "decode", "not_an_image", 2),
        err("gs://photos/in/bad3.jpg", 3, "read", "empty_file", 3),
        err("gs://photos/in/huge.jpg", 4, "annotate", "timeout", 4),
        err("gs://photos/in/huge.jpg", 4, "decode", "too_large", 9),       # later failure of the same image wins
        err("gs://photos/in/img03.jpg", 1003, "annotate", "timeout", 0),  # since classified: left out
    ]
    return latest, older, errors


@pytest.fixture(scope="module")
def data(bq_gcs, gcs_server, tmp_path_factory):
    from transforms.clients import anonymous_beam_credentials_for_emulators, storage_client
    anonymous_beam_credentials_for_emulators()
    storage_client().create_bucket("analytics-tmp")
    client = bigquery_client(PROJECT)
    client.create_dataset("analytics")
    latest, older, errors = make_rows()
    options = PipelineOptions(["--runner=FnApiRunner", "--temp_location=gs://analytics-tmp/tmp",
                               f"--project={PROJECT}"])
    with beam.Pipeline(options=options) as p:
        tables = StageOutput(p | "Rows" >> beam.Create(older + latest),
                             p | "Errors" >> beam.Create(errors))
        written = tables | WriteToBigQueryTables(DATASET, streaming=False)
        # Load jobs: the rows are handed on once their load job has finished.
        count = beam.combiners.Count.Globally
        assert_that(written.ok | "CountRows" >> count(), equal_to([len(older + latest)]), label="rows")
        assert_that(written.errors | "CountErrors" >> count(), equal_to([len(errors)]), label="errors")
    db = str(tmp_path_factory.mktemp("analytics") / "results.duckdb")
    con = connect(db)
    ensure_tables(con)
    upsert(con, "errors", errors)
    upsert(con, "classifications", older)
    upsert(con, "classifications", latest)
    con.close()
    return {"db": db, "latest": latest, "older": older, "errors": errors}


def norm(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [norm(v) for v in value]
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items()}
    return value


def both(name, data, params=None, ordered=True):
    """Run on both targets; they must agree (in order, unless the SQL sets none)."""
    bq = analytics.run(name, params, bigquery_dataset=DATASET)
    duck = analytics.run(name, params, duckdb=data["db"])
    assert bq[0] == duck[0], f"{name}: columns differ"
    key = (lambda rows: rows) if ordered else (lambda rows: sorted(rows, key=json.dumps))
    assert key(norm(bq[1])) == key(norm(duck[1])), f"{name}: BigQuery and DuckDB disagree"
    return [dict(zip(duck[0], norm(list(r)), strict=False)) for r in duck[1]]


# ---- the expected answers, from the rows -----------------------------------------------

def expect_top_labels(rows, min_conf=0.0, top=20):
    hits = defaultdict(list)
    for r in rows:
        for lab in r["labels"]:
            if lab["score"] >= min_conf:
                hits[lab["name"]].append(lab["score"])
    out = [{"label": k, "images": len(v), "avg_score": round(sum(v) / len(v), 4)} for k, v in hits.items()]
    return sorted(out, key=lambda d: (-d["images"], d["label"]))[:top]


def test_every_analysis_file_is_listed_with_its_question__sql_folder():
    names = set(analytics.catalog())
    assert {"latest_classifications", "top_labels", "category_counts", "daily_volume", "label_cooccurrence",
            "label_search", "objects_per_category", "errors_by_stage"} <= names
    for a in analytics.catalog().values():
        assert a.summary and a.answers, f"{a.name}: header must say what it answers"


def test_view_keeps_the_latest_row_per_image__rows_written_twice(data):
    raw = list(bigquery_client(PROJECT).query(
        "SELECT COUNT(*) AS n FROM `test-project.analytics.classifications`").result())[0]["n"]
    assert raw == len(data["latest"]) + len(data["older"])   # BigQuery keeps both writes
    rows = both("latest_classifications", data, ordered=False)
    assert len(rows) == len(data["latest"])
    by_uri = {r["uri"]: r for r in rows}
    for want in data["latest"]:
        got = by_uri[want["uri"]]
        assert got["primary_category"] == want["primary_category"]
        assert got["labels"] == norm(want["labels"]) and got["objects"] == norm(want["objects"])


def test_top_labels_match_the_rows__default_and_threshold(data):
    assert both("top_labels", data) == expect_top_labels(data["latest"])
    assert both("top_labels", data, {"min_confidence": "0.8", "top": "3"}) == \
        expect_top_labels(data["latest"], 0.8, 3)


def test_category_counts_match_the_rows__shares_sum_to_one(data):
    counts = Counter(r["primary_category"] for r in data["latest"])
    want = sorted(({"category": c, "images": n, "share": round(n / len(data["latest"]), 4)}
                   for c, n in counts.items()), key=lambda d: (-d["images"], d["category"]))
    got = both("category_counts", data)
    assert got == want
    assert "stale" not in [g["category"] for g in got]


def test_category_reasons_group_the_rules_without_scores__per_category(data):
    import re
    groups = defaultdict(list)
    for r in data["latest"]:
        groups[(r["primary_category"], re.sub(r" \([0-9.]+\)$", "", r["category_rule"]))].append(r["top_label"])
    want = sorted(({"category": c, "rule": rule, "images": len(tops),
                    "example_top_label": min((t for t in tops if t is not None), default=None)}
                   for (c, rule), tops in groups.items()), key=lambda d: (d["category"], -d["images"], d["rule"]))
    assert both("category_reasons", data) == want
    assert any(w["rule"] == f"label:{ODD_LABEL}" for w in want)   # SQL punctuation in a label survives


def test_daily_volume_counts_images_and_unsafe_per_day__utc_days(data):
    groups = defaultdict(lambda: [0, 0])
    for r in data["latest"]:
        key = (dt.datetime.fromisoformat(r["event_time"]).date().isoformat(), r["primary_category"])
        groups[key][0] += 1
        groups[key][1] += r["is_safe"] is False
    want = [{"day": d, "category": c, "images": n, "unsafe": u, "unsafe_share": round(u / n, 4)}
            for (d, c), (n, u) in sorted(groups.items())]
    assert both("daily_volume", data) == want
    since = "2024-05-03"
    assert both("daily_volume", data, {"since": since}) == [w for w in want if w["day"] >= since]


def test_label_cooccurrence_counts_pairs_once__per_image(data):
    pairs = Counter()
    for r in data["latest"]:
        names = sorted({lab["name"] for lab in r["labels"]})
        pairs.update((a, b) for i, a in enumerate(names) for b in names[i + 1:])
    want = sorted(({"label_a": a, "label_b": b, "images": n} for (a, b), n in pairs.items()),
                  key=lambda d: (-d["images"], d["label_a"], d["label_b"]))[:50]
    assert both("label_cooccurrence", data) == want


def test_label_search_finds_every_image_above_confidence__case_insensitive(data):
    want = sorted(({"uri": r["uri"], "category": r["primary_category"], "label": lab["name"], "score": lab["score"],
                    "category_uri": r["category_uri"]}
                   for r in data["latest"] for lab in r["labels"] if lab["name"] == "cat" and lab["score"] >= 0.75),
                  key=lambda d: (-d["score"], d["uri"]))
    assert want, "the data must contain matches"
    assert both("label_search", data, {"label": "CAT", "min_confidence": "0.75"}) == want


def test_objects_per_category_match_the_rows__instances_and_images(data):
    inst, imgs = Counter(), defaultdict(set)
    for r in data["latest"]:
        for o in r["objects"]:
            inst[(r["primary_category"], o["name"])] += 1
            imgs[(r["primary_category"], o["name"])].add(r["uri"])
    want = sorted(({"category": c, "object": o, "instances": n, "images": len(imgs[(c, o)])}
                   for (c, o), n in inst.items()), key=lambda d: (d["category"], -d["instances"], d["object"]))
    assert both("objects_per_category", data) == want


def test_errors_by_stage_counts_latest_failure_per_image__classified_left_out(data):
    got = [(g["stage"], g["code"], g["images"]) for g in both("errors_by_stage", data)]
    assert got == [("decode", "not_an_image", 2), ("decode", "too_large", 1), ("read", "empty_file", 1)]


@pytest.mark.parametrize("hostile", [
    "cat' OR '1'='1", "x'; DROP TABLE classifications; --", "\\'; SELECT 1; --", "`; DROP VIEW x; --", ODD_LABEL])
def test_hostile_label_is_only_a_value__quotes_and_semicolons(data, hostile):
    rows = both("label_search", data, {"label": hostile, "min_confidence": "0"})
    want = sum(1 for r in data["latest"] for lab in r["labels"] if lab["name"].lower() == hostile.lower())
    assert len(rows) == want and all(r["label"] == hostile for r in rows)
    assert len(both("latest_classifications", data, ordered=False)) == len(data["latest"])   # nothing dropped


def test_malformed_parameter_is_refused__before_any_query(data):
    with pytest.raises(analytics.AnalyticsError, match="min_confidence"):
        analytics.run("label_search", {"label": "cat", "min_confidence": "0.5; DROP TABLE x"}, duckdb=data["db"])
    with pytest.raises(analytics.AnalyticsError, match="not a PROJECT:DATASET"):
        analytics.run("top_labels", bigquery_dataset="test-project:ds`; DROP TABLE x")


def test_cli_prints_json_and_csv__both_targets(data, capsys):
    assert analytics.main(["category_counts", f"--duckdb={data['db']}", "--format=json"]) == 0
    duck = json.loads(capsys.readouterr().out)
    assert analytics.main(["category_counts", f"--bigquery_dataset={DATASET}", "--format=json"]) == 0
    assert json.loads(capsys.readouterr().out) == duck
    assert analytics.main(["label_search", "--param", "label=cat", f"--duckdb={data['db']}", "--format=csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "uri,category,label,score,category_uri" and len(lines) > 1
    assert analytics.main(["label_search", f"--duckdb={data['db']}"]) == 2
    assert "needs --param label" in capsys.readouterr().err
