"""The report, seen in a real browser (Debian's headless Chromium).

Results come from a real local-backend run over the sample photos, plus rows
parsed from real Vision API answers (faces, objects, text, colours) laid over
real photos, in one DuckDB file. The report command writes the report; Chromium
opens it from disk and the tests check what a person would see there against
what the database holds.
"""
import json
import os

import duckdb
import pytest
from skimage import data as skdata

from pipeline.run import main as run_main
from tools.report.__main__ import main as report_main
from tools.report.browser import Chromium
from tools.samples import jpeg_bytes, write_samples
from transforms.records import ImageRef
from transforms.sinks.duckdb_sink import connect, ensure_tables, upsert
from transforms.stages.parse import response_to_row

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "fixtures", "vision_responses")

OBSERVE = """(() => {
  const visible = el => { const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const inside = b => { const r = b.getBoundingClientRect(),
    f = b.closest('.frame').querySelector('img').getBoundingClientRect();
    return r.left >= f.left - 1 && r.right <= f.right + 1 && r.top >= f.top - 1 && r.bottom <= f.bottom + 1; };
  const boxes = kind => [...document.querySelectorAll('.box.' + kind)].filter(visible).map(inside);
  const sections = [...document.querySelectorAll('section.category')].filter(visible).map(sec => ({
    category: sec.dataset.category, heading: sec.querySelector('h2').innerText,
    images: [...sec.querySelectorAll('img')].filter(i => i.complete && i.naturalWidth > 0 && visible(i)).length,
    cards: sec.querySelectorAll('article.card').length }));
  const closedText = document.body.innerText;
  document.querySelectorAll('details').forEach(d => d.open = true);   // what a reader sees after a click
  return { sections, objects: boxes('object'), faces: boxes('face'),
    swatches: [...document.querySelectorAll('.swatch')].filter(visible).length,
    categoryBars: document.querySelectorAll('.per-category .bar').length,
    confidenceBars: [...document.querySelectorAll('.confidence rect')]
        .filter(r => +r.getAttribute('height') > 0).length,
    closedText, openText: document.body.innerText,
    links: [...document.querySelectorAll('[src],[href]')].map(e => e.src || e.href) };
})()"""

OBSERVE_ERRORS = """(() => ({
  rows: [...document.querySelectorAll('tr.error')].filter(r => r.getBoundingClientRect().height > 0)
        .map(r => [...r.cells].map(c => c.innerText)),
  stageBars: document.querySelectorAll('.errors-chart .bar').length }))()"""


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as f:
        return json.load(f)


def vision_rows(folder) -> list[dict]:
    """Rows parsed from real Vision answers, each laid over a real photo written to `folder`."""
    bicycle = fixture("05_labels_objects_bicycle_example.json")["responses"][0]
    batch = fixture("03_batch_label_safesearch_text_google-cloud-python_fixture.json")
    colours = batch["_image_properties_fixture_first3"]["responses"][0]
    text = batch["_text_detection_fixture"]["responses"][0]
    face = fixture("04_face_detection_google-cloud-python_fixture.json")["responses"][0]
    labels = fixture("01_label_detection_google-cloud-python_fixture.json")["responses"][0]
    photos = {
        "bike.jpg": (skdata.stereo_motorcycle()[0], {**bicycle, **colours}, None),
        "portrait.jpg": (skdata.astronaut(), {**face, **labels, **batch["responses"][1]}, (1600, 1200)),
        "poster.jpg": (skdata.page(), {**text, **labels}, (1500, 1000)),
    }
    rows = []
    for name, (pixels, response, analysed) in photos.items():
        path = os.path.join(folder, name)
        with open(path, "wb") as f:
            f.write(jpeg_bytes(pixels))
        ref = ImageRef(uri=path, bucket=folder, name=f"vision/{name}", generation=1, rel_path=name,
                       size_bytes=os.path.getsize(path), event_time="2024-05-01T10:00:00+00:00")
        rows.append(response_to_row(ref, response, backend="vision", model_version="fixture",
                                    min_confidence=0.5, analysed_size=analysed))
    return rows


@pytest.fixture(scope="module")
def report(tmp_path_factory, model_dir):
    root = tmp_path_factory.mktemp("report")
    images, db, out = root / "images", root / "results.duckdb", root / "report"
    write_samples(str(images))
    assert run_main([f"--input={images}", f"--category_root={root / 'classified'}", f"--duckdb={db}",
                     f"--model_dir={model_dir}"]) == 0
    (root / "vision").mkdir()
    con = connect(str(db))
    ensure_tables(con)
    upsert(con, "classifications", vision_rows(str(root / "vision")))
    con.close()
    os.remove(images / "vehicles" / "rocket.jpg")   # an original deleted since: the category copy is shown
    assert report_main([f"--duckdb={db}", f"--out={out}"]) == 0

    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT primary_category, objects, faces, dominant_colors, text, category_rule "
                       "FROM classifications").fetchall()
    errors = con.execute("SELECT stage, code, uri, message FROM errors").fetchall()
    con.close()
    with Chromium(width=1280, height=900) as browser:
        browser.open(str(out / "index.html"))
        shot = browser.screenshot(str(root / "report.png"))
        seen = browser.evaluate(OBSERVE)
        browser.open(str(out / "errors.html"))
        seen_errors = browser.evaluate(OBSERVE_ERRORS)
    return {"rows": rows, "errors": errors, "seen": seen, "seen_errors": seen_errors, "out": out, "shot": shot}


def test_each_card_says_why_its_image_is_there__category_rule(report):
    rules = {r[5] for r in report["rows"]}
    assert any(r.startswith("label:Cat") for r in rules)   # the everyday default, e.g. label:Cat (0.93)
    for rule in rules:
        assert f"Why here: {rule}" in report["seen"]["closedText"]


def test_each_category_shows_its_images__real_run_and_vision_answers(report):
    expected = {}
    for category, *_ in report["rows"]:
        expected[category] = expected.get(category, 0) + 1
    seen = {s["category"]: s for s in report["seen"]["sections"]}
    assert set(seen) == set(expected)
    for category, n in expected.items():
        assert seen[category]["images"] == n, category     # every thumbnail loaded from disk and visible
        assert seen[category]["heading"].startswith(category)
    assert report["seen"]["categoryBars"] == len(expected)
    assert report["seen"]["confidenceBars"] > 0


def test_boxes_drawn_over_their_images__objects_and_faces(report):
    objects = sum(len(r[1] or []) for r in report["rows"])
    faces = sum(len(r[2] or []) for r in report["rows"])
    assert objects > 0 and faces > 0
    assert len(report["seen"]["objects"]) == objects and all(report["seen"]["objects"])
    assert len(report["seen"]["faces"]) == faces and all(report["seen"]["faces"])


def test_text_and_colours_shown__vision_answers(report):
    texts = [r[4] for r in report["rows"] if r[4]]
    assert texts
    for text in texts:
        first_line = text.strip().splitlines()[0]
        assert first_line not in report["seen"]["closedText"]     # folded until the reader opens it
        assert first_line in report["seen"]["openText"]
    assert report["seen"]["swatches"] == sum(min(len(r[3] or []), 8) for r in report["rows"]) > 0


def test_errors_page_lists_every_error__truncated_sample(report):
    seen = report["seen_errors"]["rows"]
    assert len(seen) == len(report["errors"]) > 0
    for stage, code, uri, message in report["errors"]:
        assert [stage, code, uri, message] in [row[:4] for row in seen]
    assert report["seen_errors"]["stageBars"] == len({e[0] for e in report["errors"]})


def test_report_needs_nothing_but_its_folder__offline(report):
    links = report["seen"]["links"]
    assert len(links) > len(report["rows"])     # every thumbnail, the category links, the errors page
    assert all(url.startswith("file://" + str(report["out"]) + "/") for url in links)
    for page in ("index.html", "errors.html"):
        html = (report["out"] / page).read_text()
        assert "http://" not in html and "https://" not in html and "<script" not in html


def test_screenshot_written__tmp_folder(report):
    from PIL import Image
    with Image.open(report["shot"]) as shot:
        assert shot.size == (1280, 900)
        assert len(shot.getcolors(1 << 20) or range(1 << 20)) > 1000   # a rendered page, not a blank one


def test_bigquery_source_gives_the_same_figures__emulator(bq_url, tmp_path, monkeypatch):
    from google.cloud import bigquery

    from tools.report.data import from_bigquery, from_duckdb
    from transforms.records import error_row
    from transforms.schema import bigquery_schema
    from transforms.sinks.bigquery_client import bigquery_client
    monkeypatch.setenv("BIGQUERY_EMULATOR_HOST", bq_url)
    rows = vision_rows(str(tmp_path))
    errors = [error_row(None, "decode", "truncated", "the JPEG data is truncated", uri=str(tmp_path / "x.jpg"))]
    client = bigquery_client("test-project")
    client.create_dataset("report_test", exists_ok=True)
    for table, items in (("classifications", rows + rows[:1]), ("errors", errors)):   # one insert retried
        t = bigquery.Table(f"test-project.report_test.{table}",
                           schema=[bigquery.SchemaField.from_api_repr(f) for f in bigquery_schema(table)])
        client.create_table(t, exists_ok=True)
        assert client.insert_rows_json(t, items) == []
    db = tmp_path / "same.duckdb"
    con = connect(str(db))
    ensure_tables(con)
    upsert(con, "classifications", rows)
    upsert(con, "errors", errors)
    con.close()

    from_bq, from_duck = from_bigquery("test-project:report_test"), from_duckdb(str(db))
    assert from_bq.per_category == from_duck.per_category and from_bq.total_images == len(rows)
    assert from_bq.label_frequency == from_duck.label_frequency
    assert from_bq.score_histogram == from_duck.score_histogram
    assert from_bq.errors_per_stage == from_duck.errors_per_stage == [("decode", 1)]
    assert sorted(r["uri"] for r in from_bq.rows) == sorted(r["uri"] for r in from_duck.rows)
    by_uri = {r["uri"]: r for r in from_bq.rows}
    for row in from_duck.rows:
        assert len(by_uri[row["uri"]]["objects"] or []) == len(row["objects"] or [])
    assert report_main(["--bigquery_dataset=test-project:report_test", f"--out={tmp_path / 'report'}"]) == 0
    assert (tmp_path / "report" / "index.html").exists()
