"""The built-in taxonomy (the default) files photos where a person would look for them:
real photos through the local models, and recorded real Vision answers through the
Vision-compatible endpoint and the real google-cloud-vision client."""
from __future__ import annotations

import hashlib
import io
import json
import os

import duckdb
import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_sample_image

from pipeline.run import main
from tests.paths import REPO
from tools.samples import jpeg_bytes, sample_photos
from tools.vision_endpoint import control, running_endpoint

FEATURES = "--features=LABEL_DETECTION,OBJECT_LOCALIZATION,SAFE_SEARCH_DETECTION,FACE_DETECTION,TEXT_DETECTION"
FIXTURES = os.path.join(REPO, "tests", "fixtures", "vision_responses")


def _rows(db) -> dict[str, tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {r[0]: r[1:] for r in con.execute(
            "SELECT name, primary_category, category_rule, top_label, category_uri FROM classifications").fetchall()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def local_run(tmp_path_factory, model_dir):
    root = tmp_path_factory.mktemp("taxonomy_local")
    photos = sample_photos()
    files = {"chelsea.jpg": photos["chelsea"], "coffee.jpg": photos["coffee"], "astronaut.jpg": photos["astronaut"],
             "rocket.jpg": photos["rocket"], "trips/motorcycle.jpg": photos["motorcycle"],
             "garden/flower.jpg": load_sample_image("flower.jpg"), "travel/temple.jpg": load_sample_image("china.jpg")}
    for rel, pixels in files.items():
        (root / "in" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "in" / rel).write_bytes(jpeg_bytes(pixels))
    assert main([f"--input={root / 'in'}", f"--category_root={root / 'classified'}", f"--duckdb={root / 'r.duckdb'}",
                 FEATURES, f"--model_dir={model_dir}"]) == 0
    return {"rows": _rows(root / "r.duckdb"), "root": root}


EXPECTED_LOCAL = {"chelsea.jpg": "animals", "coffee.jpg": "food_and_drink", "astronaut.jpg": "people",
                  "rocket.jpg": "vehicles", "trips/motorcycle.jpg": "vehicles",
                  "garden/flower.jpg": "plants_and_flowers", "travel/temple.jpg": "buildings"}


def test_real_photos_land_in_everyday_folders__local_models_default_taxonomy(local_run):
    rows = local_run["rows"]
    assert {name: r[0] for name, r in rows.items()} == EXPECTED_LOCAL
    for name, (category, _rule, _top, uri) in rows.items():
        assert uri == str(local_run["root"] / "classified" / category / name)
        assert os.path.isfile(uri)


def test_row_says_why__rule_and_top_label_kept(local_run):
    category, rule, top, _ = local_run["rows"]["chelsea.jpg"]
    assert rule.startswith(("label:", "object:")) and top          # e.g. label:Cat (0.93), top label "Cat"
    assert rule.split(":", 1)[1].split(" (")[0].casefold() in {"cat", "animal", "mammal", "feline"}
    _, rule, _, _ = local_run["rows"]["astronaut.jpg"]
    assert rule.startswith(("faces:", "object:Person", "label:Person", "label:Face", "object:Face"))


def _tiny_jpeg(i: int) -> bytes:
    """A small distinct JPEG: sent to the endpoint as it is, so its sha256 names its recorded answer."""
    im = Image.fromarray((np.indices((40, 40)).sum(axis=0) * (i + 3) % 256).astype(np.uint8)).convert("RGB")
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def _fixture(name: str) -> dict:
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


def recorded_answers() -> dict[str, tuple[dict, str]]:
    """{file name: (a real Vision answer, the folder a person expects for that picture)}."""
    batch = _fixture("03_batch_label_safesearch_text_google-cloud-python_fixture.json")
    return {
        "car.jpg": (_fixture("01_label_detection_google-cloud-python_fixture.json")["responses"][0], "vehicles"),
        "bicycle.jpg": (_fixture("05_labels_objects_bicycle_example.json")["responses"][0], "vehicles"),
        "portrait.jpg": (_fixture("04_face_detection_google-cloud-python_fixture.json")["responses"][0], "people"),
        "wordmark.jpg": (batch["_text_detection_fixture"]["responses"][0], "documents_and_text"),
        "landmark.jpg": (_fixture("02_landmark_detection_google-cloud-python_fixture.json")["responses"][0], "other"),
        "nothing found.jpg": (batch["responses"][1], "other"),
    }


def test_recorded_vision_answers_land_in_everyday_folders__vision_endpoint(tmp_path):
    answers, expected = {}, {}
    for i, (name, (resp, category)) in enumerate(recorded_answers().items()):
        data = _tiny_jpeg(i)
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_bytes(data)
        answers[hashlib.sha256(data).hexdigest()] = resp
        expected[name] = category
    with running_endpoint("--fixed_labels", "--enable_control") as url:
        control(url, "faults", {"recorded_answers": answers})
        assert main([f"--input={tmp_path / 'in'}", f"{FEATURES},LANDMARK_DETECTION", "--backend=vision",
                     f"--vision_endpoint={url}", f"--duckdb={tmp_path / 'r.duckdb'}",
                     f"--category_root={tmp_path / 'classified'}"]) == 0
        served = sum(c["images"] for c in control(url, "stats")["log"] if c["status"] == 200)
    rows = _rows(tmp_path / "r.duckdb")
    assert served == len(expected)
    assert {name: r[0] for name, r in rows.items()} == expected
    assert rows["car.jpg"][1:3] == ("label:automobile (0.98)", "automobile")   # Vision's 2016 lower-case label
    assert rows["bicycle.jpg"][1] == "label:Bicycle (0.98)"
    assert rows["portrait.jpg"][1] == "faces:1"
    assert rows["wordmark.jpg"][1] == "text:19 chars"
    assert rows["landmark.jpg"][1] == "fallback"
    for name, (category, *_rest, uri) in rows.items():
        assert uri == str(tmp_path / "classified" / category / name) and os.path.isfile(uri)
