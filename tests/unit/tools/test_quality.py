"""The quality bench's scoring (tools/quality.py): rows built here, verdicts checked."""
import pathlib

import pytest
import yaml

from tools.photo_set import CHECK_PHOTOS, PHOTOS
from tools.quality import RULES, Naming, TruthError, format_report, parse_truth, score, totals
from transforms.taxonomy import builtin_text, parse_taxonomy

BENCH = pathlib.Path(__file__).resolve().parents[3] / "bench"
TRUTH_FILE = BENCH / "quality_truth.yaml"
CHECK_TRUTH_FILE = BENCH / "quality_truth_check.yaml"

DOC = {
    "aliases": {"Motorbike": "Motorcycle", "Human face": "Face"},
    "parts": {"Face": ["Person"], "Wheel": ["Car", "Motorcycle"]},
    "photos": {
        "dog": {"source": "s", "sees": "a dog beside a bicycle, a truck behind",
                "must_have": ["Dog", "Bicycle"], "must_not": ["Cat", "Wolf"],
                "categories": ["dog", "animal", "tabby cat"],
                "objects": {"Dog": 1, "Bicycle": "some", "Car": "may"}},
        "street": {"source": "s", "sees": "a man on a motorcycle", "must_have": ["Motorcycle"],
                   "must_not": ["Boat"], "categories": ["motorcycle"], "objects": {"Person": 1, "Motorcycle": 1}},
    },
}


def row(labels=(), category="dog", boxes=()):
    return {"labels": [{"name": n, "score": 0.9, "mid": ""} for n in labels], "primary_category": category,
            "objects": [{"name": n, "score": 0.8, "box": [0, 0, 1, 1]} for n in boxes]}


@pytest.fixture(scope="module")
def parsed():
    return parse_truth(DOC)


def test_photo_is_right_on_every_count__right_labels_category_and_boxes(parsed):
    naming, truth = parsed
    v = score(truth["dog"], row(["Dog", "Mammal"], "dog", ["Dog", "Bicycle", "Car"]), naming)
    assert v.ok and v.failures == [] and v.broken == set()


def test_no_right_label_fails_and_shows_what_was_kept__only_unlisted_labels(parsed):
    naming, truth = parsed
    v = score(truth["dog"], row(["Mammal", "Vertebrate"], "dog", ["Dog", "Bicycle"]), naming)
    assert not v.ok and v.broken == {"right label"}
    assert v.failures == ["no right label (kept: Mammal, Vertebrate)"]


def test_wrong_label_fails_even_beside_a_right_one__case_insensitive(parsed):
    naming, truth = parsed
    v = score(truth["dog"], row(["Dog", "CAT"], "dog", ["Dog", "Bicycle"]), naming)
    assert v.broken == {"no wrong label"} and v.failures == ["wrong label CAT"]


def test_category_a_person_does_not_accept_fails__folder_name_form_accepted(parsed):
    naming, truth = parsed
    assert score(truth["dog"], row(["Dog"], "tabby_cat", ["Dog", "Bicycle"]), naming).ok
    v = score(truth["dog"], row(["Dog"], "planetarium", ["Dog", "Bicycle"]), naming)
    assert v.broken == {"category"} and v.failures == ["category planetarium not accepted"]


def test_missing_box_of_a_listed_class_fails__may_classes_not_required(parsed):
    naming, truth = parsed
    v = score(truth["dog"], row(["Dog"], "dog", ["Bicycle"]), naming)
    assert v.broken == {"boxes there"} and v.failures == ["missing Dog box"]


def test_box_of_an_unlisted_class_fails_with_its_count__two_cat_boxes(parsed):
    naming, truth = parsed
    v = score(truth["dog"], row(["Dog"], "dog", ["Dog", "Bicycle", "Cat", "cat"]), naming)
    assert v.broken == {"no wrong box"} and v.failures == ["wrong box Cat x2"]


def test_count_off_is_a_note_not_a_failure__three_dog_boxes_for_one(parsed):
    naming, truth = parsed
    v = score(truth["dog"], row(["Dog"], "dog", ["Dog", "Dog", "Dog", "Bicycle"]), naming)
    assert v.ok and v.notes == ["Dog: 3 boxes for 1"]


def test_alias_names_the_class_and_parts_count_only_beside_their_whole__face_wheel(parsed):
    naming, truth = parsed
    ok = score(truth["street"], row(["Motorcycle"], "motorcycle", ["Person", "Motorbike", "Human face", "Wheel"]),
               naming)
    assert ok.ok
    v = score(truth["dog"], row(["Dog"], "dog", ["Dog", "Bicycle", "Face", "Wheel"]), naming)
    assert v.failures == ["wrong box Face", "wrong box Wheel"]  # no person, no car boxed-as-present


def test_error_row_fails_every_rule_with_its_message__decode_error(parsed):
    naming, truth = parsed
    v = score(truth["dog"], None, naming, error="decode: not an image")
    assert v.broken == set(RULES) and v.failures == ["error row: decode: not an image"]
    assert score(truth["dog"], None, naming).failures == ["no row"]


def test_totals_and_report_count_photos_per_rule__one_right_one_wrong(parsed):
    naming, truth = parsed
    good = score(truth["dog"], row(["Dog"], "dog", ["Dog", "Bicycle"]), naming)
    bad = score(truth["street"], row(["Boat"], "boat", []), naming)
    t = totals([good, bad])
    assert t == {"right": 1, "photos": 2, "right label": 1, "no wrong label": 1, "category": 1,
                 "boxes there": 1, "no wrong box": 2}
    text = format_report([good, bad])
    assert "1 of 2 right on every count" in text
    assert "street  no   no right label (kept: Boat); wrong label Boat; category boat not accepted; " \
           "missing Person box; missing Motorcycle box" in text


@pytest.mark.parametrize("change, message", [
    ({"objects": {"Dog": 0}}, "objects.Dog must be a count > 0"),
    ({"objects": {"Dog": "lots"}}, "objects.Dog must be a count > 0"),
    ({"must_have": []}, "may not be empty"),
])
def test_truth_in_the_wrong_shape_is_refused__bad_count_or_empty_list(change, message):
    photo = {**DOC["photos"]["dog"], **change}
    with pytest.raises(TruthError, match=message):
        parse_truth({"photos": {"dog": photo}})


def test_checked_in_truth_describes_exactly_the_photo_set__every_id_once():
    naming, truth = parse_truth(yaml.safe_load(TRUTH_FILE.read_text()))
    assert sorted(truth) == sorted(p.id for p in PHOTOS)
    assert len(truth) >= 30
    assert isinstance(naming, Naming) and naming.box_class("Motorbike") == "motorcycle"


def test_checked_in_check_truth_describes_exactly_the_check_set__everyday_folders_only():
    naming, truth = parse_truth(yaml.safe_load(CHECK_TRUTH_FILE.read_text()))
    assert sorted(truth) == sorted(p.id for p in CHECK_PHOTOS)
    assert len(truth) >= 25
    assert naming.box_class("Doughnut") == "donut"
    everyday = parse_taxonomy(builtin_text("everyday"), "builtin:everyday")
    folders = {c.name for c in everyday.categories}  # the fallback, other, is never right
    assert {(pid, c) for pid, t in truth.items() for c in t.categories if c not in folders} == set()


def test_check_set_shares_no_package_and_no_id_with_the_development_set__independent():
    assert not {p.package for p in CHECK_PHOTOS} & {p.package for p in PHOTOS}
    assert {p.kind for p in CHECK_PHOTOS} <= {"wheel", "npm", "deb"}
    assert not {p.id for p in CHECK_PHOTOS} & {p.id for p in PHOTOS}
