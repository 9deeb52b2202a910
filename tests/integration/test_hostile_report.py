"""The report with hostile data, opened in a real browser (Debian's headless Chromium).

Thumbnails are made by the pipeline's decoder: formats outside its allow-list and
images over its decode budget get none, and the thumbnailer's threads share the budget.

Labels, OCR text, object and landmark names, object names (real files on disk
with `<`, `"` and `>` in their names), categories and error messages carry
script: a `<script>` element, an attribute break-out into `onerror`, and
`javascript:` URLs. Whatever a model answers, a user uploads or another tool
writes into the tables, the page must run none of it and show all of it as text.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import EpsImagePlugin

from tests.integration.streaming_support import small_jpeg
from tests.unit.transforms.stages.test_image_formats import HOSTILE as HOSTILE_FILES
from tools import bombs
from tools.report.__main__ import main as report_main
from tools.report.browser import Chromium
from tools.report.thumbnails import make_thumbnail
from transforms.records import ImageRef, error_row
from transforms.sinks.duckdb_sink import connect, ensure_tables, upsert
from transforms.stages.imaging import ImageError
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



THUMBNAIL_CHILD = """
import json, os, resource, sys
from tools.report.thumbnails import make_thumbnails
folder, out = sys.argv[1], sys.argv[2]
rows = [{"uri": os.path.join(folder, n), "bucket": folder, "name": n, "generation": 1}
        for n in sorted(os.listdir(folder))]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
names = make_thumbnails(rows, out, threads=8)
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
print(json.dumps({"names": {os.path.basename(u): n for u, n in names.items()}, "grown": grown}))
"""


@pytest.fixture(scope="module")
def thumbnailed(tmp_path_factory):
    """make_thumbnails with 8 threads over a PPM, an EPS, an ICO bomb, two 100 Mpx PNGs and a photo."""
    root = tmp_path_factory.mktemp("thumbs")
    folder = root / "in"
    folder.mkdir()
    files = {"image.ppm": HOSTILE_FILES["PPM"], "image.eps": HOSTILE_FILES["EPS"],
             "icon.ico": bombs.ico_png(9_000, full=True), "rgb-100mpx.png": bombs.png(10_000, 10_000, full=True),
             "palette-100mpx.png": bombs.palette_png(10_000, full=True), "cat.jpg": small_jpeg("chelsea")}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    out = subprocess.run([sys.executable, "-c", THUMBNAIL_CHILD, str(folder), str(root / "thumbs")],
                         capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_refused_images_get_no_thumbnail__ppm_eps_ico_bomb_100_mpx(thumbnailed):
    names = thumbnailed["names"]
    assert names["cat.jpg"] and names["cat.jpg"].endswith(".jpg")
    assert {n for n, thumb in names.items() if thumb is None} == {
        "image.ppm", "image.eps", "icon.ico", "rgb-100mpx.png", "palette-100mpx.png"}


def test_thumbnailer_memory_stays_small__bombs_with_8_threads(thumbnailed):
    assert thumbnailed["grown"] < 128 * 2**20, f"peak grew by {thumbnailed['grown'] / 2**20:.0f} MiB"


@pytest.mark.parametrize("fmt", ["EPS", "PPM"])
def test_thumbnail_refuses_format_outside_allow_list__eps_never_reaches_ghostscript(fmt, monkeypatch):
    def entered(self):
        raise AssertionError("the EPS plugin was opened")
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", entered)
    with pytest.raises(ImageError) as e:
        make_thumbnail(HOSTILE_FILES[fmt])
    assert e.value.code == "unsupported_format" and e.value.message.startswith(f"{fmt} is not an accepted")
