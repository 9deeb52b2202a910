"""The taxonomy's rules: first match wins, names fold case and synonyms, unsafe first, a fallback."""
import pickle

import pytest

from transforms.taxonomy import TOP_LABEL, TaxonomyError, categorize, parse_taxonomy

FILE = """
fallback: misc
synonyms:
  Car: [Automobile]
categories:
  - name: people
    faces: 2
    objects: [Person]
    min_score: 0.8
  - name: pets
    labels: [Dog, Cat]
    min_score: 0.6
  - name: cars
    labels: [car]
  - name: notes
    text_chars: 10
"""


@pytest.fixture(scope="module")
def tax():
    return parse_taxonomy(FILE, "mine.yaml")


def row(labels=(), objects=(), text=None, faces=0, is_safe=True):
    return {"labels": [{"name": n, "score": s} for n, s in labels],
            "objects": [{"name": n, "score": s} for n, s in objects],
            "text": text, "faces": [{}] * faces, "is_safe": is_safe}


def test_first_matching_category_wins__labels_of_two_categories(tax):
    assert categorize(row([("Car", 0.9), ("Dog", 0.8)]), tax) == ("pets", "label:Dog (0.80)")


def test_names_match_whatever_their_case__vision_and_imagenet_spellings(tax):
    assert categorize(row([("CAT", 0.95)]), tax)[0] == "pets"
    assert categorize(row([("  car ", 0.95)]), tax)[0] == "cars"


def test_synonym_files_under_its_name__automobile_for_car(tax):
    assert categorize(row([("automobile", 0.98)]), tax) == ("cars", "label:automobile (0.98)")


def test_score_below_the_rule_does_not_match__min_score(tax):
    assert categorize(row([("Dog", 0.55)]), tax) == ("misc", "fallback")
    assert categorize(row(objects=[("Person", 0.79)]), tax) == ("misc", "fallback")
    assert categorize(row(objects=[("person", 0.8)]), tax) == ("people", "object:person (0.80)")


def test_face_count_and_text_length_are_rules__counts(tax):
    assert categorize(row(faces=1), tax)[0] == "misc"
    assert categorize(row(faces=2), tax) == ("people", "faces:2")
    assert categorize(row(text="a b c d e f g h i"), tax)[0] == "misc"       # 9 characters, spaces aside
    assert categorize(row(text="Invoice 2024-06-01"), tax) == ("notes", "text:17 chars")


def test_unsafe_goes_to_quarantine_before_any_rule__likely_adult(tax):
    assert categorize(row([("Dog", 0.99)], is_safe=False), tax, "held") == ("held", "unsafe")
    assert categorize(row([("Dog", 0.99)], is_safe=None), tax)[0] == "pets"   # safe search not run


def test_top_label_rule_keeps_the_seed_folders__top_label():
    assert categorize(row([("Tabby cat", 0.9), ("Cat", 0.8)]), TOP_LABEL) == ("tabby_cat", "top_label")
    assert categorize(row(), TOP_LABEL) == ("uncategorized", "fallback")


def test_taxonomy_crosses_to_workers__pickle(tax):
    again = pickle.loads(pickle.dumps(tax))
    assert again == tax and categorize(row([("automobile", 0.9)]), again)[0] == "cars"


@pytest.mark.parametrize("text,fragment", [
    ("categories: [name: x\n", "not valid YAML at line"),
    ("- just\n- a list\n", "must be a mapping"),
    ("categories: []\n", "non-empty list"),
    ("colour: red\ncategories: [{name: a, labels: [x]}]\n", "unknown field 'colour'"),
    ("categories: [{name: a, labels: [x], min_scor: 0.5}]\n", "categories[0]: unknown field 'min_scor'"),
    ("categories: [{name: ../etc, labels: [x]}]\n", "'../etc' is not a safe folder name"),
    ("categories: [{name: Cats, labels: [x]}]\n", "'Cats' is not a safe folder name"),
    ("fallback: 'a b'\ncategories: [{name: a, labels: [x]}]\n", "fallback: 'a b' is not a safe folder name"),
    ("1: x\ntrue: y\ncategories: [{name: a, labels: [x]}]\n", "unknown field 1"),
    ("categories: [{name: a, labels: [x]}, {name: a, labels: [y]}]\n", "'a' is named twice"),
    ("fallback: a\ncategories: [{name: a, labels: [x]}]\n", "'a' is named twice"),
    ("categories: [{name: a}]\n", "category a has no rule"),
    ("categories: [{name: a, labels: [x], min_score: 2}]\n", "min_score must be between 0.0 and 1.0"),
    ("categories: [{name: a, faces: 'two'}]\n", "faces must be a whole number"),
    ("categories: [{name: a, labels: {x: 1}}]\n", "labels must be a list of names"),
    ("synonyms: {Car: [Auto], Van: [auto]}\ncategories: [{name: a, labels: [x]}]\n", "'auto' is given for both"),
])
def test_bad_file_is_refused_with_one_line__each_kind(text, fragment):
    with pytest.raises(TaxonomyError) as e:
        parse_taxonomy(text, "mine.yaml")
    message = str(e.value)
    assert fragment in message and message.startswith("mine.yaml: ") and "\n" not in message
