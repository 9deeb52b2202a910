"""`python -m tools.refile`: a new taxonomy re-files every image from the stored results,
in a local folder, in a bucket (fake-gcs-server) and with BigQuery (bqemulator); run
twice, and killed midway then run again."""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys

import duckdb
import pytest

from pipeline.run import main
from tests.paths import REPO
from tools import analytics
from tools.refile import main as refile_main
from tools.samples import write_samples
from transforms.clients import COPY_MARKER, storage_client
from transforms.schema import bigquery_schema
from transforms.sinks.duckdb_sink import connect, ensure_tables, upsert
from transforms.stages.categories import category_name
from transforms.stages.copy_to_category import COPY_GENERATION
from transforms.taxonomy import TOP_LABEL, categorize

# Labels as the backends give them; the seed files each under its top label.
LABEL_SETS = [
    [("Cat", 0.93), ("Mammal", 0.94)], [("Espresso", 0.94), ("Coffee", 0.9)], [("Pekinese", 0.81), ("Dog", 0.86)],
    [("Alp", 0.8), ("Mountain", 0.9)], [("Planetarium", 0.75)], [("Geological formation", 0.8)],
    [("automobile", 0.98), ("vehicle", 0.95)], [("Fox squirrel", 0.77), ("Rodent", 0.8)],
]
EVERYDAY = {"cat": "animals", "espresso": "food_and_drink", "pekinese": "animals", "alp": "landscapes_and_nature",
            "planetarium": "other", "geological_formation": "landscapes_and_nature", "automobile": "vehicles",
            "fox_squirrel": "animals", "quarantine": "quarantine"}


def stored_rows(n: int, bucket: str, root: str, prefix: str = "") -> list[dict]:
    """`n` rows as the pipeline writes them with --categories=top_label (one of them unsafe)."""
    t = dt.datetime(2024, 6, 1, tzinfo=dt.timezone.utc).isoformat()
    rows = []
    for i in range(n):
        rel = f"set{i % 5}/img {i}.jpg"
        name = prefix + rel
        uri = f"gs://{bucket}/{name}" if bucket != "local" else os.path.join(prefix, rel)
        labels = [{"name": a, "score": s, "mid": None} for a, s in LABEL_SETS[i % len(LABEL_SETS)]]
        r = {"uri": uri, "bucket": bucket, "name": rel if bucket == "local" else name, "generation": 100 + i,
             "labels": labels, "objects": [], "faces": [], "text": None, "is_safe": i != 3,
             "backend": "local", "event_time": t, "classified_at": t}
        category, rule = categorize(r, TOP_LABEL)
        r.update(primary_category=category, category_rule=rule, top_label=labels[0]["name"],
                 category_uri=f"{root}/{category}/{rel}")
        rows.append(r)
    return rows


def refile_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tools.refile", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO))


def kill_after_first_batch(*args: str) -> None:
    """Start a refile and SIGKILL it as soon as it reports its first batch of rows done."""
    proc = refile_cli(*args, "--batch_size=5")
    try:
        line = proc.stdout.readline()
        assert line.startswith("updated 5 rows"), line + proc.stderr.read()
        assert proc.poll() is None            # still moving copies when it is killed
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)


# ---- local folder -----------------------------------------------------------------------

def local_setup(tmp_path, n: int):
    images, root, db = tmp_path / "in", str(tmp_path / "classified"), str(tmp_path / "r.duckdb")
    rows = stored_rows(n, "local", root, prefix=str(images) + "/")
    for r in rows:
        for path in (r["uri"], r["category_uri"]):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(r["uri"].encode())        # each copy holds its own image's bytes
    con = connect(db)
    ensure_tables(con)
    upsert(con, "classifications", rows)
    con.close()
    return db, root


def local_state(db: str, root: str):
    con = duckdb.connect(db, read_only=True)
    rows = con.execute("SELECT uri, name, primary_category, category_rule, top_label, category_uri "
                       "FROM classifications ORDER BY name").fetchall()
    con.close()
    files = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)
    return rows, files


def assert_filed_everyday(rows, files, root: str, n: int):
    assert len(rows) == n
    for uri, name, category, rule, top, copy in rows:
        seed = category_name(top) if category != "quarantine" else "quarantine"
        assert category == EVERYDAY[seed], name
        want = {"quarantine": "unsafe", "other": "fallback"}.get(category)
        assert rule == want if want else rule.startswith("label:")
        assert copy == f"{root}/{category}/{name}"
        with open(copy, "rb") as f:
            assert f.read() == uri.encode()       # the image's own copy, whole
    # One copy per row and nothing else: no orphan in an old folder, no half-written file.
    assert files == sorted(os.path.relpath(r[5], root) for r in rows)


def test_refile_moves_every_copy_once__local_folder_twice(tmp_path, capsys):
    db, root = local_setup(tmp_path, 40)
    assert refile_main(["--categories=builtin:everyday", f"--duckdb={db}"]) == 0
    assert "changed 39 rows (39 copies moved), 1 unchanged" in capsys.readouterr().out   # the unsafe one stays
    first = local_state(db, root)
    assert_filed_everyday(*first, root, 40)
    assert refile_main(["--categories=builtin:everyday", f"--duckdb={db}"]) == 0
    assert "changed 0 rows (0 copies moved), 40 unchanged" in capsys.readouterr().out
    assert local_state(db, root) == first
    assert not [d for d in os.listdir(root) if d in ("cat", "espresso", "pekinese", "alp")]   # old folders gone
    assert_sql_agrees(duckdb=db)


def assert_sql_agrees(**target):
    """The shipped SQL over the stored `category_rules` gives every row the category refile gave it."""
    columns, rows = analytics.run("taxonomy_categories", {}, **target)
    assert columns == ["uri", "generation", "category", "stored_category"] and rows
    assert [r[2] for r in rows] == [r[3] for r in rows]
    assert {r[2] for r in rows} >= {"animals", "food_and_drink", "landscapes_and_nature", "other", "quarantine"}


def test_refile_killed_midway_loses_nothing__local_folder_rerun(tmp_path):
    db, root = local_setup(tmp_path, 400)
    kill_after_first_batch("--categories=builtin:everyday", f"--duckdb={db}")
    rows, files = local_state(db, root)
    assert 0 < sum(r[2] in ("animals", "food_and_drink", "vehicles") for r in rows) < 400 * 0.75  # partly done
    proc = refile_cli("--categories=builtin:everyday", f"--duckdb={db}")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "no copy" not in out
    assert_filed_everyday(*local_state(db, root), root, 400)


def test_real_run_refiles_to_everyday_and_back__local_models(tmp_path, model_dir):
    """A run that filed by top label, re-filed by the everyday taxonomy, equals a run that used it."""
    write_samples(str(tmp_path / "in"))
    common = [f"--input={tmp_path / 'in'}", "--features=LABEL_DETECTION,OBJECT_LOCALIZATION,SAFE_SEARCH_DETECTION",
              f"--model_dir={model_dir}"]
    assert main([*common, "--categories=top_label", f"--duckdb={tmp_path / 'a.duckdb'}",
                 f"--category_root={tmp_path / 'a'}"]) == 0
    assert main([*common, f"--duckdb={tmp_path / 'b.duckdb'}", f"--category_root={tmp_path / 'b'}"]) == 0
    assert refile_main(["--categories=builtin:everyday", f"--duckdb={tmp_path / 'a.duckdb'}"]) == 0
    refiled, refiled_files = local_state(str(tmp_path / "a.duckdb"), str(tmp_path / "a"))
    direct, direct_files = local_state(str(tmp_path / "b.duckdb"), str(tmp_path / "b"))
    assert [r[1:5] for r in refiled] == [r[1:5] for r in direct] and refiled_files == direct_files
    assert refile_main(["--categories=top_label", f"--duckdb={tmp_path / 'a.duckdb'}"]) == 0
    back, _ = local_state(str(tmp_path / "a.duckdb"), str(tmp_path / "a"))
    assert {r[2] for r in back} >= {"cat", "cup"} and all(r[3] == "top_label" for r in back)


# ---- bucket (fake-gcs-server) -----------------------------------------------------------

def gcs_setup(bucket_name: str, n: int, tmp_path):
    client = storage_client()
    bucket = client.create_bucket(bucket_name)
    root = f"gs://{bucket_name}/classified"
    rows = stored_rows(n, bucket_name, root, prefix="in/")
    for r in rows:
        bucket.blob(r["name"]).upload_from_string(r["uri"].encode())
        copy = bucket.blob(r["category_uri"][len(f"gs://{bucket_name}/"):])
        copy.metadata = {COPY_MARKER: r["uri"], COPY_GENERATION: str(r["generation"])}
        copy.upload_from_string(r["uri"].encode())
    db = str(tmp_path / "r.duckdb")
    con = connect(db)
    ensure_tables(con)
    upsert(con, "classifications", rows)
    con.close()
    return client, db, root


def gcs_state(client, bucket_name: str, db: str):
    rows, _ = local_state(db, "/nonexistent")
    copies = {b.name: b for b in client.list_blobs(bucket_name, prefix="classified/")}
    return rows, copies


def assert_bucket_filed(client, bucket_name: str, db: str, root: str, n: int):
    rows, copies = gcs_state(client, bucket_name, db)
    assert len(rows) == n
    for uri, name, category, _rule, top, copy in rows:
        seed = category_name(top) if category != "quarantine" else "quarantine"
        assert category == EVERYDAY[seed], name
        assert copy == f"{root}/{category}/{name[len('in/'):]}"
        blob = copies[copy[len(f"gs://{bucket_name}/"):]]
        assert blob.download_as_bytes() == uri.encode() and blob.metadata[COPY_MARKER] == uri
    assert sorted(copies) == sorted(r[5][len(f"gs://{bucket_name}/"):] for r in rows)   # no orphan


def test_refile_twice_and_after_a_kill__fake_gcs(gcs_server, tmp_path):
    client, db, root = gcs_setup("refile-photos", 60, tmp_path)
    kill_after_first_batch("--categories=builtin:everyday", f"--duckdb={db}")
    for _ in range(2):
        proc = refile_cli("--categories=builtin:everyday", f"--duckdb={db}")
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert_bucket_filed(client, "refile-photos", db, root, 60)
    assert "changed 0 rows (0 copies moved), 60 unchanged" in out


# ---- BigQuery (bqemulator) --------------------------------------------------------------

@pytest.fixture
def bq_table(bq_gcs, tmp_path):
    from google.cloud import bigquery

    from transforms.sinks.bigquery_client import bigquery_client
    client = storage_client()
    bucket = client.create_bucket("refile-bq")
    root = "gs://refile-bq/classified"
    rows = stored_rows(24, "refile-bq", root, prefix="in/")
    for r in rows:
        bucket.blob(r["name"]).upload_from_string(r["uri"].encode())
        copy = bucket.blob(r["category_uri"][len("gs://refile-bq/"):])
        copy.metadata = {COPY_MARKER: r["uri"], COPY_GENERATION: str(r["generation"])}
        copy.upload_from_string(r["uri"].encode())
    bq = bigquery_client("test-project")
    bq.create_dataset("refile")
    table = bigquery.Table("test-project.refile.classifications",
                           schema=[bigquery.SchemaField.from_api_repr(f) for f in bigquery_schema("classifications")])
    bq.create_table(table)
    assert bq.insert_rows_json("test-project.refile.classifications", rows) == []
    return {"bq": bq, "gcs": client, "root": root}


def test_refile_updates_bigquery_rows_and_moves_copies__bqemulator_twice(bq_table, capsys):
    for _ in range(2):
        assert refile_main(["--categories=builtin:everyday", "--bigquery_dataset=test-project:refile"]) == 0
        rows = [dict(r) for r in bq_table["bq"].query(
            "SELECT uri, name, primary_category, category_rule, top_label, category_uri "
            "FROM `test-project.refile.classifications` ORDER BY name").result()]
        copies = {b.name for b in bq_table["gcs"].list_blobs("refile-bq", prefix="classified/")}
        assert len(rows) == 24
        for r in rows:
            seed = category_name(r["top_label"]) if r["primary_category"] != "quarantine" else "quarantine"
            assert r["primary_category"] == EVERYDAY[seed]
            assert r["category_uri"] == f"{bq_table['root']}/{r['primary_category']}/{r['name'][3:]}"
        assert copies == {r["category_uri"][len("gs://refile-bq/"):] for r in rows}
    assert "changed 0 rows (0 copies moved), 24 unchanged" in capsys.readouterr().out
    assert_sql_agrees(bigquery_dataset="test-project:refile")


# ---- a taxonomy of one's own ------------------------------------------------------------

MINE = """
fallback: misc
synonyms: {Dog: [Pekinese]}
categories:
  - name: pets
    labels: [Cat, Dog]
  - name: scenery
    labels: [Mountain]
    min_score: 0.85
"""


def test_rules_only_previews_a_new_taxonomy_in_sql__nothing_moves(tmp_path):
    from transforms.taxonomy import parse_taxonomy
    db, root = local_setup(tmp_path, 16)
    (tmp_path / "mine.yaml").write_text(MINE)
    before = local_state(db, root)
    assert refile_main([f"--categories={tmp_path / 'mine.yaml'}", f"--duckdb={db}", "--rules_only"]) == 0
    assert local_state(db, root) == before
    mine = parse_taxonomy(MINE, "mine.yaml")
    con = duckdb.connect(db, read_only=True)
    cur = con.execute("SELECT uri, labels, objects, faces, text, is_safe FROM classifications ORDER BY uri")
    want = [(r[0], categorize(dict(zip([d[0] for d in cur.description], r, strict=True)), mine)[0])
            for r in cur.fetchall()]
    con.close()
    _, rows = analytics.run("taxonomy_categories", {}, duckdb=db)
    assert [(r[0], r[2]) for r in rows] == want
    assert {c for _, c in want} == {"pets", "scenery", "misc", "quarantine"}


def test_taxonomy_from_a_bucket__gs_path_and_missing_object(gcs_server, tmp_path, capsys):
    bucket = storage_client().create_bucket("taxonomies")
    bucket.blob("mine.yaml").upload_from_string(MINE)
    (tmp_path / "in").mkdir()
    from pipeline.settings import resolve
    s, _ = resolve([f"--input={tmp_path / 'in'}", "--categories=gs://taxonomies/mine.yaml"])
    assert s.taxonomy.names == ("pets", "scenery", "misc") and s.taxonomy.source == "gs://taxonomies/mine.yaml"
    assert main([f"--input={tmp_path / 'in'}", "--categories=gs://taxonomies/nope.yaml",
                 f"--duckdb={tmp_path / 'r.duckdb'}"]) == 2
    assert capsys.readouterr().err.strip() == "error: --categories gs://taxonomies/nope.yaml: no such object"
    assert not (tmp_path / "r.duckdb").exists()
