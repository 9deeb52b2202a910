"""The generic labels come only from the curated everyday vocabulary, each class reaching
only the words of its own sense (data/everyday_vocabulary.tsv -> imagenet_hierarchy.json)."""
import json

import numpy as np
import pytest

from transforms.stages.local.build.wordnet_hierarchy import OUT, read_vocabulary
from transforms.stages.local.label_hierarchy import class_label, label_annotations

TABBY, MISSILE, PROJECTILE, SANDBAR, SEASHORE, ALP, BOOK_JACKET, CUP, AIRLINER, DAISY = (
    281, 657, 744, 977, 978, 970, 921, 968, 404, 985)
VALLEY, KITE_BIRD, ACORN, FIG, PLANE_TOOL, SORREL = 979, 21, 988, 952, 726, 339
JARGON = {"Vertebrate", "Angiosperm", "Heavier-than-air craft", "Craft", "Natural elevation",
          "Geological formation", "Communication", "Dwelling", "Ungulate", "Mechanism", "Barrier (mechanism)",
          "Chordate", "Carnivore", "Placental", "Artifact", "Instrumentality", "Device", "Structure"}


def _words(index):
    p = np.zeros(1000)
    p[index] = 1.0
    return [a["description"] for a in label_annotations(p, limit=50) if a["score"] > 0]


def test_generic_labels_are_vocabulary_words__whole_hierarchy():
    vocab = read_vocabulary()
    with open(OUT, encoding="utf-8") as f:
        data = json.load(f)
    assert data["labels"] and all(vocab.words[s] == w for s, w in data["labels"].items())
    assert not set(data["labels"].values()) & JARGON


@pytest.mark.parametrize("index,words", [
    (TABBY, ["Tabby", "Cat", "Mammal", "Animal"]),
    (SANDBAR, ["Sandbar", "Beach", "Landscape"]),
    (SEASHORE, ["Seashore", "Beach", "Sea", "Shore", "Landscape"]),
    (ALP, ["Alp", "Mountain", "Landscape"]),
    (VALLEY, ["Valley", "Landscape"]),
    (KITE_BIRD, ["Bird of prey", "Bird", "Animal"]),
    (ACORN, ["Acorn"]),   # a botanical fruit, not the Fruit a person eats (nor Food)
    (FIG, ["Fig", "Fruit"]),
    (BOOK_JACKET, ["Book jacket", "Book"]),
    (AIRLINER, ["Airliner", "Airplane", "Aircraft", "Vehicle"]),
    (DAISY, ["Daisy", "Flower", "Plant"]),
    (MISSILE, ["Rocket", "Vehicle"]),  # ImageNet's missile photos are rockets of every kind
    (PROJECTILE, ["Rocket", "Vehicle"]),
    (CUP, ["Cup"]),
])
def test_class_reaches_the_everyday_words_of_its_own_sense__class(index, words):
    assert set(_words(index)) == set(words)


def test_sense_not_taken_from_a_namesake__sandbar_and_rocket():
    assert not {"Mechanism", "Barrier (mechanism)", "Barrier"} & set(_words(SANDBAR))
    assert "Weapon" not in _words(MISSILE) and "Weapon" not in _words(PROJECTILE)


def test_cup_is_not_a_drink__cup_class():
    assert class_label(CUP)[1] == "Cup" and not {"Drink", "Food", "Alcoholic beverage"} & set(_words(CUP))


@pytest.mark.parametrize("index,name", [(KITE_BIRD, "Bird of prey"), (PLANE_TOOL, "Hand plane"), (SORREL, "Horse")])
def test_class_is_not_written_as_a_namesake__misleading_lemma(index, name):
    # "Kite" is read as the toy, "Plane" as an aircraft, "Sorrel" as a herb
    assert class_label(index)[1] == name


def test_name_rows_only_rename__not_everyday_words():
    # a `name` row changes how a class is written, not how surely it must be read to be said
    from transforms.stages.local.label_hierarchy import is_everyday

    vocab = read_vocabulary()
    assert vocab.names and not set(vocab.names) & set(vocab.words)
    assert not is_everyday(KITE_BIRD) and not is_everyday(PLANE_TOOL)
