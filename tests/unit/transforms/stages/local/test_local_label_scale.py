"""Vision-scale label scores: the calibration and the one-reading rule (label_scale.py),
and the detector's box merging and score map (detector.py)."""
import numpy as np
import pytest

from transforms.stages.local.detector import merge_nested, vision_score
from transforms.stages.local.label_hierarchy import class_label
from transforms.stages.local.label_scale import classifier_labels, to_vision

DAISY, BEE, ANT, FLY = 985, 309, 310, 308


def test_anchor_and_monotone__calibration():
    assert to_vision(0.3) == pytest.approx(0.7) and vision_score(0.25) == pytest.approx(0.7)
    xs = np.linspace(0.01, 0.99, 50)
    assert np.all(np.diff([to_vision(x) for x in xs]) > 0) and np.all(np.diff([vision_score(x) for x in xs]) > 0)


def test_flower_is_not_animal__daisy_with_scattered_insect_mass():
    assert class_label(DAISY)[1] == "Daisy" and class_label(BEE)[1] == "Bee"
    p = np.full(1000, 0.0)
    p[DAISY], p[BEE], p[ANT], p[FLY] = 0.34, 0.12, 0.11, 0.1
    p += (1 - p.sum()) / 1000
    labels = {a["description"]: a for a in classifier_labels(p)}
    assert "Animal" not in labels and "Insect" not in labels
    assert labels["Flower"]["score"] >= 0.7
    assert "Daisy" not in labels  # a fine class held at 0.34 is more likely wrong than right: only Flower speaks


def test_sure_fine_class_kept_but_everyday_parent_first__daisy_at_0_8():
    p = np.full(1000, 0.0)
    p[DAISY] = 0.8
    p += (1 - p.sum()) / 1000
    labels = classifier_labels(p)
    names = [a["description"] for a in sorted(labels, key=lambda a: -a["topicality"])]
    assert "Daisy" in names and names.index("Flower") < names.index("Daisy")


def test_strong_second_reading_kept__insects_hold_half_the_mass():
    p = np.full(1000, 0.0)
    p[DAISY], p[BEE], p[ANT], p[FLY] = 0.40, 0.2, 0.2, 0.15
    p += (1 - p.sum()) / 1000
    labels = {a["description"]: a["score"] for a in classifier_labels(p)}
    assert "Flower" in labels and labels.get("Insect", 0) >= 0.7 and "Bee" not in labels


def test_torso_merged_into_person_but_herd_kept__nested_boxes():
    person = np.array([[28, 21, 43, 90], [31, 40, 41, 70]], np.float32)
    merged = merge_nested(person, np.array([0.6, 0.9]))
    assert len(merged) == 1 and merged[0][1] == pytest.approx(0.9) and merged[0][0][1] == 21
    herd = np.array([[1, 34, 49, 80], [31, 41, 45, 68]], np.float32)  # off-centre: another horse
    assert len(merge_nested(herd, np.array([0.5, 0.4]))) == 2


def test_nothing_said__no_class_stands_out():
    """Grass texture: half the mass on a hundred animal classes, none above 0.05."""
    p = np.full(1000, 0.48 / 880)
    p[:120] = 0.52 / 120  # ImageNet's first classes are animals
    assert classifier_labels(p) == []


def test_sure_generic_said__mass_spread_over_many_breeds():
    p = np.full(1000, 0.2 / 880)
    p[151:271] = 0.8 / 120  # the dog breeds
    names = {a["description"] for a in classifier_labels(p)}
    assert "Dog" in names and "Animal" in names


def test_scattered_second_reading_not_said__daisy_and_mass_over_many_animals():
    """Dandelions: Daisy 0.15 on top, and Animal 0.55 added up from a hundred animal
    classes none above 0.01: Flower is said, Animal is not."""
    p = np.full(1000, 0.30 / 879)
    p[:120] = 0.55 / 120
    p[DAISY] = 0.15
    names = {a["description"] for a in classifier_labels(p)}
    assert "Flower" in names and "Animal" not in names


def _class(name: str) -> int:
    return next(i for i in range(1000) if class_label(i)[1] == name)


@pytest.mark.parametrize("fine,word", [("Moped", "Motorcycle"), ("Granny Smith", "Apple"), ("Espresso", "Coffee"),
                                       ("Bald eagle", "Eagle")])
def test_everyday_word_said_not_the_fine_class__only_class_of_its_word(fine, word):
    p = np.full(1000, 0.0)
    p[_class(fine)] = 0.9
    p += (1 - p.sum()) / 1000
    names = {a["description"] for a in classifier_labels(p)}
    assert word in names and fine not in names


def test_fine_class_said__its_word_has_other_classes():
    p = np.full(1000, 0.0)
    p[_class("Pekinese")] = 0.9
    p += (1 - p.sum()) / 1000
    names = {a["description"] for a in classifier_labels(p)}
    assert {"Pekinese", "Dog"} <= names
