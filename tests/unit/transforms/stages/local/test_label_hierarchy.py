"""label_annotations: generic labels from WordNet chains, consistent scores, Vision shape."""
import numpy as np
import pytest

from transforms.stages.local.label_hierarchy import class_label, label_annotations

TABBY, TIGER_CAT, EGYPTIAN_CAT, ESPRESSO, MISSILE, MOPED, MINIVAN = 281, 282, 285, 967, 657, 665, 656


def _probs(**by_index):
    p = np.zeros(1000)
    for index, value in by_index.items():
        p[int(index.lstrip("c"))] = value
    rest = 1.0 - p.sum()
    p[p == 0] = rest / np.count_nonzero(p == 0)
    return p


def _by_name(labels):
    return {a["description"]: a for a in labels}


def test_top_label_is_cat__probability_spread_over_cat_breeds():
    labels = label_annotations(_probs(c281=0.5, c282=0.3, c285=0.1))
    names = [a["description"] for a in labels]
    assert names[0] == "Cat"
    assert names.index("Mammal") < names.index("Animal") < names.index("Tabby")
    cat = _by_name(labels)["Cat"]
    assert cat["mid"] == "wn:n02121620"
    assert cat["score"] == pytest.approx(0.9, abs=1e-3)
    assert cat["topicality"] == pytest.approx(0.9 * 0.95, abs=1e-3)


def test_labels_have_vision_shape__any_input():
    for a in label_annotations(_probs(c281=0.9)):
        assert set(a) == {"mid", "description", "score", "topicality"}
        assert a["mid"].startswith("wn:n") and a["description"][0].isupper()
        assert isinstance(a["score"], float) and isinstance(a["topicality"], float)
        assert a["topicality"] <= a["score"] + 1e-12


def test_parent_scores_at_least_child__espresso():
    labels = _by_name(label_annotations(_probs(c967=0.9), limit=50))
    assert {"Espresso", "Coffee", "Drink", "Food"} <= set(labels)
    chain = ["Espresso", "Coffee", "Drink", "Food"]
    for child, parent in zip(chain, chain[1:], strict=False):
        assert labels[parent]["score"] >= labels[child]["score"] - 1e-12


def test_scores_at_most_one__random_probabilities():
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = rng.dirichlet(np.full(1000, 0.05))
        labels = label_annotations(p, limit=2000)
        assert all(0.0 <= a["score"] <= 1.0 + 1e-6 for a in labels)
        assert [a["topicality"] for a in labels] == sorted((a["topicality"] for a in labels), reverse=True)


@pytest.mark.parametrize("limit", [0, 1, 5, 20])
def test_limit_honoured__limit(limit):
    assert len(label_annotations(_probs(c281=0.5), limit=limit)) == limit


def test_class_counted_once_per_parent__class_with_two_parents():
    p = np.zeros(1000)
    p[MINIVAN] = 1.0  # minivan is-a car and is-a van, both motor vehicles
    labels = _by_name(label_annotations(p, limit=50))
    for name in ("Minivan", "Car", "Van", "Motor vehicle", "Vehicle"):
        assert labels[name]["score"] == pytest.approx(1.0)
    assert "Truck" not in labels  # WordNet's van -> truck is cut: a minivan is no truck


def test_moped_reaches_vehicle__moped_class():
    labels = _by_name(label_annotations(_probs(c665=0.8), limit=30))
    assert {"Motor vehicle", "Vehicle"} <= set(labels)


def test_class_label_names_leaf__index():
    assert class_label(TABBY) == ("wn:n02123045", "Tabby")
    assert class_label(ESPRESSO) == ("wn:n07920052", "Espresso")


def test_rejects_wrong_length__999_probabilities():
    with pytest.raises(ValueError):
        label_annotations(np.zeros(999))
