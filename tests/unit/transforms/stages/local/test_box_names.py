"""Boxes named by two models (box_names.py): the classifier's reading of a box's crop keeps,
renames or drops the detector's box, and a surer big box drops the classifier's rival label."""
import numpy as np
from PIL import Image

from transforms.stages.local.box_names import agreeing_labels, check_box, crop_box, crops_to_read, named_boxes
from transforms.stages.local.label_hierarchy import class_label
from transforms.stages.local.label_scale import classifier_labels

# ImageNet class indices
TABBY, PEKINESE, BABOON, VELVET, WOMBAT, WALLABY, PALACE, ZEBRA, GERMAN_SHEPHERD, SORREL = (
    281, 154, 372, 885, 106, 104, 698, 340, 235, 339)


def _box(name, score, x0=0.1, y0=0.1, x1=0.9, y1=0.9, mid=None):
    return {"name": name, "score": score, "mid": mid or f"coco:{name.lower()}", "boundingPoly": {"normalizedVertices": [
        {"x": x0, "y": y0}, {"x": x1, "y": y0}, {"x": x1, "y": y1}, {"x": x0, "y": y1}]}}


def _probs(**by_index):
    p = np.zeros(1000)
    for index, value in by_index.items():
        p[int(index.lstrip("c"))] = value
    p[p == 0] = (1.0 - p.sum()) / np.count_nonzero(p == 0)
    return p


def test_box_takes_the_crop_name__cat_box_on_a_pekinese():
    box = check_box(_box("Cat", 0.75), _probs(c154=0.9))
    assert box["name"] == "Dog" and box["mid"] == "wn:n02084071" and box["score"] > 0.75


def test_box_confirmed__cat_box_read_as_tabby():
    box = check_box(_box("Cat", 0.8), _probs(c281=0.6))
    assert box["name"] == "Cat" and box.get("confirmed")


def test_box_dropped__person_box_on_a_baboon_face():
    assert check_box(_box("Person", 0.71), _probs(c372=0.8)) is None


def test_box_dropped__tie_box_read_as_velvet():
    assert check_box(_box("Tie", 0.72), _probs(c885=0.64)) is None


def test_box_dropped__bear_box_on_a_marsupial():
    """The crop is surely a mammal, and the classifier, which knows four bears, sees none."""
    assert check_box(_box("Bear", 0.85), _probs(c106=0.3, c104=0.25)) is None


def test_box_dropped__boat_box_read_as_a_palace():
    assert check_box(_box("Boat", 0.73), _probs(c698=0.8)) is None


def test_box_kept__detector_surer_than_the_crop():
    box = _box("Giraffe", 0.91)
    assert check_box(box, _probs(c340=0.62)) is box


def test_box_kept__crop_says_nothing_sure():
    box = _box("Person", 0.8)
    assert check_box(box, np.full(1000, 1e-3)) is box


def test_reading_belongs_to_the_box_inside__dog_in_a_bicycle_box():
    bicycle, dog = _box("Bicycle", 0.86, 0.1, 0.2, 0.7, 0.7), _box("Dog", 0.74, 0.15, 0.4, 0.4, 0.9)
    kept = named_boxes([bicycle, dog], {0: _probs(c235=0.8), 1: _probs(c235=0.8)})
    assert {b["name"] for b in kept} == {"Bicycle", "Dog"}


def test_renamed_box_merged_into_the_same_box__two_dog_boxes_one_place():
    kept = named_boxes([_box("Dog", 0.9), _box("Cat", 0.75)], {1: _probs(c154=0.9)})
    assert [b["name"] for b in kept] == ["Dog"]


def test_unread_box_answers_to_the_whole_photo__small_tie_on_a_baboon():
    tie = _box("Tie", 0.78, 0.45, 0.45, 0.5, 0.5)
    assert named_boxes([tie], {}, whole=_probs(c372=0.86)) == []


def test_whole_photo_reading_is_another_box_s__person_and_dog():
    person, dog = _box("Person", 0.8, 0.3, 0.2, 0.45, 0.9), _box("Dog", 0.87, 0.1, 0.6, 0.3, 0.9)
    kept = named_boxes([person, dog], {}, whole=_probs(c235=0.8))
    assert {b["name"] for b in kept} == {"Person", "Dog"}


def test_rival_label_dropped_ancestors_kept__horse_box_and_dog_reading():
    labels = [{"mid": "wn:n02084071", "description": "Dog", "score": 0.86, "topicality": 0.8},
              {"mid": "wn:n01861778", "description": "Mammal", "score": 0.87, "topicality": 0.8}]
    kept = agreeing_labels(labels, [_box("Horse", 0.96, 0.0, 0.05, 1.0, 0.95)])
    assert [a["description"] for a in kept] == ["Mammal"]


def test_finer_label_kept__bird_box_and_bird_of_prey():
    labels = [{"mid": "wn:n01604330", "description": "Bird of prey", "score": 0.86, "topicality": 0.8}]
    assert agreeing_labels(labels, [_box("Bird", 0.92)]) == labels


def test_crop_covers_the_box_and_skips_tiny_ones__crop_geometry():
    image = Image.new("RGB", (400, 200))
    assert crop_box(image, (0.0, 0.0, 0.05, 0.05)) is None
    assert crop_box(image, (0.25, 0.25, 0.75, 0.75)).size == (224, 224)


def test_fruit_box_takes_the_crop_name__orange_box_on_a_fig():
    # COCO's Orange is ImageNet's orange: a crop the classifier reads surely as a fig is a Fruit
    box = check_box(_box("Orange", 0.82), _probs(c952=0.75))
    assert box["name"] == "Fruit" and box["renamed_from"] == "Orange"


def test_lone_other_animal_dropped__cow_box_among_horses():
    herd = [_box("Horse", 0.83, 0.0, 0.3, 0.2, 0.6), _box("Horse", 0.8, 0.3, 0.3, 0.5, 0.6),
            _box("Cow", 0.81, 0.6, 0.3, 0.8, 0.6)]
    assert [b["name"] for b in named_boxes(herd, {})] == ["Horse", "Horse"]


def test_other_animal_kept__crop_confirms_it_or_no_herd():
    cow_read_as_ox = {2: _probs(c345=0.8)}
    herd = [_box("Horse", 0.83, 0.0, 0.3, 0.2, 0.6), _box("Horse", 0.8, 0.3, 0.3, 0.5, 0.6),
            _box("Cow", 0.81, 0.6, 0.3, 0.8, 0.6)]
    assert sorted(b["name"] for b in named_boxes(herd, cow_read_as_ox)) == ["Cow", "Horse", "Horse"]
    pair = [_box("Horse", 0.83, 0.0, 0.3, 0.4, 0.6), _box("Dog", 0.8, 0.5, 0.3, 0.9, 0.6)]
    assert sorted(b["name"] for b in named_boxes(pair, {})) == ["Dog", "Horse"]


def test_guesses_dropped_family_word_kept__cake_box_and_eggnog_reading():
    eggnog = next(i for i in range(1000) if class_label(i)[1] == "Eggnog")
    labels = classifier_labels(_probs(**{f"c{eggnog}": 0.55}))
    assert {"Drink", "Food"} <= {a["description"] for a in labels}   # the premise: the reading says Drink
    kept = agreeing_labels(labels, [_box("Cake", 0.96, 0.2, 0.1, 0.8, 1.0)])
    assert "Food" in {a["description"] for a in kept} and "Drink" not in {a["description"] for a in kept}
    small = agreeing_labels(labels, [_box("Cake", 0.96, 0.4, 0.4, 0.6, 0.6)])   # a small box judges nothing
    assert "Drink" in {a["description"] for a in small}


def test_lone_class_read_within_the_budget__apple_box_among_five_oranges():
    image = Image.new("RGB", (800, 800))
    oranges = [_box("Orange", 0.95 - 0.03 * k, 0.1 * k, 0.1, 0.1 * k + 0.2, 0.3) for k in range(5)]
    boxes = oranges + [_box("Apple", 0.7, 0.5, 0.5, 0.8, 0.8)]
    read = [i for i, _ in crops_to_read(image, boxes)]
    assert len(read) == 4 and 5 in read and read[0] == 0
