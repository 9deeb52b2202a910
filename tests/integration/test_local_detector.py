"""The COCO detector and the Vision-scale labels on real photos the project cannot ship
but `make setup` fetches: Debian's darknet package (data/*.jpg, extracted here from the
.deb in .venv/debs/) and scikit-learn's two sample photos (a dahlia, a pagoda by a lake,
CC-BY 2.0). Expected boxes were read off the photos by eye (normalised x0, y0, x1, y1)."""
from __future__ import annotations

import glob
import os
import subprocess

import numpy as np
import pytest
import skimage.data
from PIL import Image
from sklearn.datasets import load_sample_image

from tests.conftest import REPO
from transforms.stages.categories import category_name
from transforms.stages.local.detector import ObjectDetector
from transforms.stages.local.handler import LocalModels
from transforms.stages.parse import _labels, _objects

DEFAULT = ["LABEL_DETECTION", "OBJECT_LOCALIZATION", "SAFE_SEARCH_DETECTION"]
ANIMALS = {"Animal", "Vertebrate", "Mammal", "Bird", "Cat", "Dog", "Horse", "Sheep", "Cow", "Insect", "Arthropod"}
# (photo, class, box read off the photo): IoU with the detector's best box of that class >= 0.5
BOXES = [
    ("dog", "Dog", (0.17, 0.38, 0.39, 0.94)),
    ("dog", "Bicycle", (0.16, 0.23, 0.74, 0.73)),
    ("person", "Person", (0.30, 0.23, 0.43, 0.88)),
    ("person", "Horse", (0.63, 0.33, 0.94, 0.81)),
    ("person", "Dog", (0.10, 0.62, 0.32, 0.81)),
    ("horses", "Horse", (0.00, 0.38, 0.41, 0.80)),
    ("giraffe", "Giraffe", (0.30, 0.05, 0.90, 0.90)),
    ("eagle", "Bird", (0.18, 0.18, 0.78, 0.86)),
    ("chelsea", "Cat", (0.0, 0.0, 1.0, 1.0)),
    ("astronaut", "Person", (0.0, 0.0, 0.85, 1.0)),
    ("horse", "Horse", (0.0, 0.05, 1.0, 0.95)),
]
# Small people on the kite photo's beach: a box must be centred inside each.
KITE_PEOPLE = [(0.084, 0.68, 0.122, 0.847), (0.16, 0.776, 0.20, 0.947)]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    debs = glob.glob(os.path.join(REPO, ".venv", "debs", "darknet_*.deb"))
    assert debs, "darknet's .deb is missing from .venv/debs: run `make setup`"
    root = tmp_path_factory.mktemp("darknet")
    subprocess.run(["dpkg-deb", "-x", debs[0], str(root)], check=True)
    data = root / "usr" / "share" / "darknet" / "data"
    out = {n: Image.open(data / f"{n}.jpg").convert("RGB") for n in ("dog", "person", "kite", "horses", "giraffe",
                                                                      "eagle", "scream")}
    out["flower"] = Image.fromarray(load_sample_image("flower.jpg"))
    out["temple"] = Image.fromarray(load_sample_image("china.jpg"))
    for n in ("astronaut", "chelsea", "coffee", "horse", "rocket"):
        out[n] = Image.fromarray(getattr(skimage.data, n)()).convert("RGB")
    return out


@pytest.fixture(scope="module")
def answers(model_dir, photos):
    models = LocalModels(model_dir, DEFAULT, threads=2)
    return dict(zip(photos, models.annotate(list(photos.values())), strict=False))


def _kept(resp):
    labels = _labels(resp, 0.7, 15)
    return labels, _objects(resp, 0.7, None), category_name(labels[0]["name"] if labels else None)


def _iou(a, b):
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.mark.parametrize("photo,name,box", BOXES, ids=[f"{p}-{n}" for p, n, _ in BOXES])
def test_coco_object_boxed_where_it_is__real_photo(answers, photo, name, box):
    _, objects, _ = _kept(answers[photo])
    found = [o for o in objects if o["name"] == name]
    assert found, f"no {name} at 0.7 on {photo}: {[(o['name'], round(o['score'], 2)) for o in objects]}"
    assert max(_iou(o["box"], box) for o in found) >= 0.5


def test_small_people_and_kite_found__kite_beach(answers):
    _, objects, _ = _kept(answers["kite"])
    people = [o["box"] for o in objects if o["name"] == "Person"]
    for gx0, gy0, gx1, gy1 in KITE_PEOPLE:
        assert any(gx0 <= (b[0] + b[2]) / 2 <= gx1 and gy0 <= (b[1] + b[3]) / 2 <= gy1 for b in people)
    assert "Kite" in {o["name"] for o in objects}


def test_no_object_invented__painting_and_rocket(answers):
    for photo in ("scream", "rocket"):
        assert _kept(answers[photo])[1] == []


def test_detector_classes_become_labels__dog_photo(answers):
    names = {a["name"] for a in _kept(answers["dog"])[0]}
    assert {"Dog", "Bicycle"} <= names


@pytest.mark.parametrize("photo,label,category", [
    ("flower", "Flower", "flower"), ("temple", "Building", "building"), ("chelsea", "Cat", "cat"),
    ("astronaut", "Person", "person"), ("eagle", "Bird", "bird"), ("horse", "Horse", "horse"),
    ("rocket", "Rocket", "rocket"), ("coffee", "Coffee", None)])
def test_generic_label_kept_and_category_is_the_subject__real_photo(answers, photo, label, category):
    labels, _, cat = _kept(answers[photo])
    assert label in {a["name"] for a in labels}
    assert cat != "uncategorized" and (category is None or cat == category)


@pytest.mark.parametrize("photo", ["flower", "temple", "coffee", "scream", "rocket"])
def test_no_animal_or_person_it_does_not_show__ordinary_photo(answers, photo):
    names = {a["name"] for a in _kept(answers[photo])[0]} | {o["name"] for o in _kept(answers[photo])[1]}
    assert not names & (ANIMALS | {"Person", "Face"})


def test_face_label_not_certain_by_fiat__portrait(answers):
    labels = {a["description"]: a["score"] for a in answers["astronaut"]["labelAnnotations"]}
    assert 0.7 <= labels["Face"] < 0.99


def test_margin_pass_finds_frame_filling_objects__cat_horse_astronaut(model_dir, photos):
    """Plain 320 px letterbox alone scores these 0.70-0.76 (416 px finds none of them);
    the second pass on a margin must lift each by at least 0.1."""
    plain = ObjectDetector(model_dir, threads=2, scales=((320, 1.0),))
    both = ObjectDetector(model_dir, threads=2)
    cases = [("chelsea", "Cat"), ("horse", "Horse"), ("astronaut", "Person")]
    images = [photos[p] for p, _ in cases]
    for (_, name), p_objs, b_objs in zip(cases, plain.detect_batch(images), both.detect_batch(images), strict=False):
        p_best = max([o["score"] for o in p_objs if o["name"] == name], default=0.0)
        b_best = max([o["score"] for o in b_objs if o["name"] == name], default=0.0)
        assert b_best >= 0.85 and b_best >= p_best + 0.1


def test_batch_equals_one_by_one__detector(model_dir, photos):
    det = ObjectDetector(model_dir, threads=2)
    images = [photos["dog"], photos["chelsea"], photos["kite"]]
    batch = det.detect_batch(images)
    for im, got in zip(images, batch, strict=False):
        (alone,) = det.detect_batch([im])
        assert [o["name"] for o in alone] == [o["name"] for o in got]
        assert np.allclose([o["score"] for o in alone], [o["score"] for o in got], atol=1e-4)


JARGON = {"Vertebrate", "Carnivore", "Ungulate", "Angiosperm", "Craft", "Heavier-than-air craft", "Dwelling",
          "Residence", "Wheeled vehicle", "Geological formation", "Natural elevation", "Mechanism", "Weapon",
          "Garment", "Liquid", "Equine", "Rescue equipment"}


def test_labels_are_everyday_words__every_photo(answers):
    for photo, resp in answers.items():
        names = {a["name"] for a in _kept(resp)[0]}
        assert not names & JARGON, f"{photo}: {sorted(names & JARGON)}"


def test_surer_box_drops_the_classifier_s_rival__horse_silhouette(answers):
    """The classifier reads the silhouette as a dog; the detector's horse box, surer and
    filling the photo, wins: Dog goes, Mammal and Animal (true of a horse) stay."""
    names = {a["name"] for a in _kept(answers["horse"])[0]}
    assert "Horse" in names and "Dog" not in names and {"Mammal", "Animal"} <= names
