"""The report with hostile data, opened in a real browser (Debian's headless Chromium).

Labels, OCR text, object and landmark names, object names (real files on disk
with `<`, `"` and `>` in their names), categories and error messages carry
script: a `<script>` element, an attribute break-out into `onerror`, and
`javascript:` URLs. Whatever a model answers, a user uploads or another tool
writes into the tables, the page must run none of it and show all of it as text.
"""
from __future__ import annotations

import os

import pytest

from tests.integration.streaming_support import small_jpeg
from tools.report.__main__ import main as report_main
from tools.report.browser import Chromium
from transforms.records import ImageRef, error_row
from transforms.sinks.duckdb_sink import connect, ensure_tables, upsert
from transforms.stages.parse import response_to_row

SCRIPT = "<script>window.__pwned=1</script>"
BREAKOUT = '"><img src=x onerror="window.__pwned=1">'
JS_URL = "javascript:window.__pwned=1"
HOSTILE = (SCRIPT, BREAKOUT, JS_URL)

OBSERVE = """(() => {
  document.querySelectorAll('details').forEach(d => d.open = true);
  const all = [...document.querySelectorAll('*')];
  return {
    pwned: typeof window.__pwned,
    scripts: document.scripts.length,
    handlers: all.flatMap(e => [...e.attributes].filter(a => a.name.startsWith('on'))
                                 .map(a => e.tagName + ' ' + a.name)),
    jsLinks: all.map(e => e.getAttribute('href') || e.getAttribute('src') || '')
                .filter(u => u.trim().toLowerCase().startsWith('javascript:')),
    images: [...document.images].map(i => i.getAttribute('src')),
    errorRows: [...document.querySelectorAll('tr.error')].map(r => [...r.cells].map(c => c.innerText)),
    text: document.body.innerText };
})()"""


def _vision_answer() -> dict:
    """A Vision-shaped answer whose every free-text field is hostile."""
    box = {"normalizedVertices": [{"x": x, "y": y} for x, y in ((0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8))]}
    return {
        "labelAnnotations": [{"description": text, "score": 0.9 - i / 10, "mid": f"/m/{i}"}
                             for i, text in enumerate(HOSTILE)],
        "localizedObjectAnnotations": [{"name": BREAKOUT, "score": 0.9, "boundingPoly": box}],
        "landmarkAnnotations": [{"description": SCRIPT, "score": 0.8}],
        "logoAnnotations": [{"description": JS_URL, "score": 0.8}],
        "fullTextAnnotation": {"text": "\n".join(HOSTILE)},
        "safeSearchAnnotation": {"adult": "VERY_UNLIKELY", "racy": "UNLIKELY", "violence": "VERY_UNLIKELY",
                                 "medical": "UNKNOWN", "spoof": "UNKNOWN"},
    }


def _rows(folder: str) -> list[dict]:
    """One row per hostile object name, each over a real photo saved under that very name."""
    rows = []
    for i, name in enumerate((f"{SCRIPT}.jpg", f"{BREAKOUT}.jpg", f"{JS_URL}.jpg")):
        path = os.path.join(folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)   # `</script>` makes a folder of `<script>...<`
        with open(path, "wb") as f:
            f.write(small_jpeg("chelsea"))
        ref = ImageRef(uri=path, bucket=folder, name=name, generation=i + 1, rel_path=name,
                       size_bytes=os.path.getsize(path), event_time="2024-05-01T10:00:00+00:00")
        row = response_to_row(ref, _vision_answer(), backend="vision", model_version=SCRIPT, min_confidence=0.5)
        row["primary_category"] = HOSTILE[i]   # as another tool might have written it
        rows.append(row)
    return rows


def _errors(folder: str) -> list[dict]:
    ref = ImageRef(uri=os.path.join(folder, f"{BREAKOUT}.png"), bucket=folder, name=f"{BREAKOUT}.png",
                   generation=9, rel_path="x")
    return [error_row(ref, "decode", "unsupported_format", f"{SCRIPT} is not an accepted image format"),
            error_row(None, SCRIPT, BREAKOUT, f"message {BREAKOUT}: {JS_URL}", uri=JS_URL)]


@pytest.fixture(scope="module")
def seen(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile-report")
    db, out = root / "results.duckdb", root / "report"
    (root / "photos").mkdir()
    con = connect(str(db))
    ensure_tables(con)
    upsert(con, "classifications", _rows(str(root / "photos")))
    upsert(con, "errors", _errors(str(root / "photos")))
    con.close()
    assert report_main([f"--duckdb={db}", f"--out={out}"]) == 0
    with Chromium(width=1280, height=900) as browser:
        pages = {}
        for page in ("index.html", "errors.html"):
            browser.open(str(out / page))
            pages[page] = browser.evaluate(OBSERVE)
    return {"pages": pages, "out": out, "photos": str(root / "photos")}


@pytest.mark.parametrize("page", ["index.html", "errors.html"])
def test_no_script_runs__hostile_data(seen, page):
    observed = seen["pages"][page]
    assert observed["pwned"] == "undefined"
    assert observed["scripts"] == 0
    assert observed["handlers"] == []
    assert observed["jsLinks"] == []


def test_hostile_text_shown_as_text__labels_names_ocr_categories(seen):
    text = seen["pages"]["index.html"]["text"]
    for hostile in HOSTILE:
        assert text.count(hostile) >= 3, hostile   # a label, a category, a name, the OCR text...
    assert f"{BREAKOUT} 90%" in text               # the object box's caption


def test_hostile_text_shown_as_text__error_messages(seen):
    rows = [cells[:4] for cells in seen["pages"]["errors.html"]["errorRows"]]
    assert sorted(rows) == sorted([
        ["decode", "unsupported_format", os.path.join(seen["photos"], f"{BREAKOUT}.png"),
         f"{SCRIPT} is not an accepted image format"],
        [SCRIPT, BREAKOUT, JS_URL, f"message {BREAKOUT}: {JS_URL}"]])


def test_thumbnails_are_the_report_own_files__hostile_object_names(seen):
    images = seen["pages"]["index.html"]["images"]
    assert len(images) == 3
    assert all(src.startswith("thumbs/") and src.endswith(".jpg") for src in images)
    assert all((seen["out"] / src).is_file() for src in images)

