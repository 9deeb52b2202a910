"""tools/answers.py: when two runs' rows count as the same answers."""
from __future__ import annotations

import pytest

from tools.answers import compare_row, compare_runs, format_summary, iou, pair_boxes


def row(category="cat", labels=("Cat", "Pet"), objects=()):
    return {"primary_category": category, "labels": [{"name": n, "score": 0.9} for n in labels],
            "objects": [{"name": n, "score": 0.8, "box": list(b)} for n, b in objects]}


def test_iou__known_overlaps():
    assert iou((0, 0, 1, 1), (0, 0, 1, 1)) == pytest.approx(1.0)
    assert iou((0, 0, 1, 1), (0.5, 0, 1.5, 1)) == pytest.approx(1 / 3)
    assert iou((0, 0, 1, 1), (2, 2, 3, 3)) == 0.0
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_compare_row__same_answers_with_moved_scores_and_label_case():
    a = row(labels=("Cat", "Pet"), objects=[("Cat", (0.1, 0.1, 0.9, 0.9))])
    b = row(labels=("pet", "cat"), objects=[("cat", (0.11, 0.1, 0.9, 0.91))])
    b["labels"][0]["score"] = 0.71
    assert compare_row("p", a, b).differs == set()


def test_compare_row__a_label_lost_or_gained_differs():
    d = compare_row("p", row(labels=("Cat", "Pet")), row(labels=("Cat", "Dog")))
    assert d.differs == {"labels"}
    assert "only in A: ['pet'], only in B: ['dog']" in d.notes[0]


def test_compare_row__another_category_differs():
    assert compare_row("p", row(category="cat"), row(category="dog")).differs == {"category"}


def test_compare_row__box_moved_below_iou_threshold_differs():
    a = row(objects=[("Cat", (0.0, 0.0, 0.5, 0.5))])
    b = row(objects=[("Cat", (0.1, 0.1, 0.6, 0.6))])  # IoU 0.47
    d = compare_row("p", a, b)
    assert d.differs == {"boxes"}
    assert any(n.startswith("only in A: Cat") for n in d.notes)


def test_compare_row__box_of_another_name_does_not_pair():
    a = row(objects=[("Cat", (0, 0, 1, 1))])
    b = row(objects=[("Dog", (0, 0, 1, 1))])
    assert compare_row("p", a, b).differs == {"boxes"}


def test_pair_boxes__one_to_one_so_an_extra_box_is_left_over():
    a = [{"name": "Person", "box": [0, 0, 0.5, 1]}]
    b = [{"name": "Person", "box": [0, 0, 0.5, 1]}, {"name": "Person", "box": [0.01, 0, 0.5, 1]}]
    paired, left = pair_boxes(a, b)
    assert paired == 1 and len(left) == 1 and left[0].startswith("only in B: Person")


def test_pair_boxes__best_overlap_pairs_first():
    a = [{"name": "Cup", "box": [0, 0, 1, 1]}, {"name": "Cup", "box": [0.05, 0, 1, 1]}]
    b = [{"name": "Cup", "box": [0.05, 0, 1, 1]}, {"name": "Cup", "box": [0, 0, 1, 1]}]
    assert pair_boxes(a, b) == (2, [])


def test_compare_runs__photo_missing_in_one_run_differs_on_every_count():
    s = compare_runs({"x.jpg": row(), "y.jpg": row()}, {"x.jpg": row()})
    assert s.photos == 2 and s.same == {"labels": 1, "category": 1, "boxes": 1}
    assert s.share("category") == 0.5
    assert [d.photo for d in s.differences] == ["y.jpg"] and "no row in B" in s.differences[0].notes


def test_format_summary__table_and_each_difference():
    s = compare_runs({"x.jpg": row(category="cat")}, {"x.jpg": row(category="dog")})
    text = format_summary(s)
    assert "| category | 0 / 1 | 0.0% |" in text and "| labels | 1 / 1 | 100.0% |" in text
    assert "- x.jpg: category cat -> dog" in text
