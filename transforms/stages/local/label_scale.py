"""Label scores on the Vision API's scale, so that `--min_confidence` 0.7 means what it
means with `--backend=vision`: a label at 0.7 or more is one a person would agree with.

The classifier's raw scores (label_hierarchy.py: a class's softmax probability, a
generic label's summed probability) are not that. Measured on real photos (docs/local-backend.md's
"Local models" lists them): a correct top reading often has only 0.3-0.5 of the mass
(a dahlia: Daisy 0.32, Flower 0.32; a pagoda: Palace 0.38, Building 0.49), while wrong
generic labels collect scattered mass from many unrelated classes (the dahlia's
Animal 0.31 comes from a dozen insect classes, none above 0.05). Two rules:

1. One reading per photo: a classifier label is kept only if it is the top class or
   one of its ancestors (the dahlia's top class is Daisy, so Flower, Plant... stay and
   Animal goes), or if it holds at least `STRONG` of the mass by itself with one of its
   classes holding `MIN_TOP` (a second subject the classifier is sure of, not mass
   scattered over dozens of classes).
   An ImageNet class whose name is no everyday word is said only when it holds `STRONG`
   of the mass itself: below that its fine name is more likely wrong (a dahlia read as
   0.32 daisy keeps Flower and Plant, not Daisy). A class that is the only ImageNet class
   of its nearest everyday word (Moped the only Motorcycle, Granny Smith the only Apple,
   Bald eagle the only Eagle) is said by that word alone: with no other class to choose,
   the classifier puts every motorcycle, apple or eagle there, so the fine name is a guess.
   When no class holds `MIN_TOP` (a
   texture of grass: top class 0.05), the classifier has no reading: only a generic
   label holding `SURE_SPREAD` of the mass is said (the Animal that grass's scattered
   0.52 adds up to is not).
2. Calibration: raw mass p becomes `to_vision(p)`, the label's score, logit-linear with slope 1/2 through
   (0.3, 0.7): 0.2 -> 0.64, 0.3 -> 0.70, 0.5 -> 0.78, 0.8 -> 0.88, 0.95 -> 0.94. It is
   monotone, so the ranking is unchanged. The anchor is set on the photos above:
   correct top readings carry 0.32 or more; the wrong ones seen (a helmet read as a
   bobsled: Vehicle 0.28; The Scream: Container 0.20) carry less.

Ranking (`topicality`, which picks the primary category): the calibrated score times
`ranking_discount` (0.95 per step up the tree; 0.9 for a class not named in everyday
words, so Building outranks Planetarium and Dog outranks Pekinese at similar mass).
Labels from the object detector (already on this scale, detector.py) and the face
detector (handler.py) are merged with these.
"""
from __future__ import annotations

import math

import numpy as np

from transforms.stages.local.label_hierarchy import (
    ancestors,
    class_label,
    is_everyday,
    label_annotations,
    lineage,
    members,
)

ANCHOR_RAW, ANCHOR_VISION, SLOPE = 0.3, 0.7, 0.5
STRONG = 0.5
MIN_TOP, SURE_SPREAD = 0.1, 0.7
LEAF_RANK = 0.9


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def to_vision(p: float) -> float:
    """Raw classifier mass -> Vision-scale score (see the module docstring)."""
    z = SLOPE * (_logit(p) - _logit(ANCHOR_RAW)) + _logit(ANCHOR_VISION)
    return 1.0 / (1.0 + math.exp(-z))


def classifier_labels(probs: np.ndarray, limit: int = 20) -> list[dict]:
    """Vision-scale `labelAnnotations` from the classifier's 1000 probabilities."""

    top = lineage(int(np.argmax(probs)))
    no_reading = float(np.max(probs)) < MIN_TOP
    out = []
    for a in label_annotations(probs, limit=limit):
        if _fine_and_unsure(a) or _stands_for_its_word(a) or (no_reading and a["score"] < SURE_SPREAD):
            continue
        if a["mid"] in top or (a["score"] >= STRONG and _stands_out(a, probs)):
            score = to_vision(a["score"])
            out.append({**a, "score": score, "topicality": score * ranking_discount(a)})
    return out


def _stands_out(label: dict, probs: np.ndarray) -> bool:
    """A second reading is a subject when one of its classes holds `MIN_TOP` or the label
    holds `SURE_SPREAD`: dandelions' Animal 0.55, added up from dozens of classes none
    above 0.05, is no animal in the photo."""
    return label["score"] >= SURE_SPREAD or float(probs[members(label["mid"])].max()) >= MIN_TOP


def _fine_and_unsure(label: dict) -> bool:
    """An ImageNet class whose name is no everyday word ("Moped", "Maillot", "Wombat"),
    holding under `STRONG` of the mass: the fine name is then more likely wrong than right
    (a motorcycle read as 0.4 moped), so only its everyday ancestors speak."""
    is_class = label["topicality"] >= label["score"] - 1e-12
    return is_class and label["score"] < STRONG and not is_everyday(int(np.argmax(members(label["mid"]))))


def _stands_for_its_word(label: dict) -> bool:
    """A fine class (no everyday word itself) that is its nearest everyday ancestor's only
    ImageNet class: that ancestor, with the same mass, is said instead (module docstring)."""
    covered = members(label["mid"])
    if covered.sum() != 1:
        return False
    index = int(np.argmax(covered))
    if label["mid"] != class_label(index)[0]:
        return False  # the everyday word itself
    up = ancestors(index)
    return not is_everyday(index) and bool(up) and int(members(up[0]).sum()) == 1


def ranking_discount(label: dict) -> float:
    """How much a label's rank is below its score. Generic labels keep label_hierarchy's
    0.95 per step up the tree (topicality / score there). An ImageNet class whose own name
    is not an everyday word ("Daisy", "Planetarium", "Fox squirrel") ranks at `LEAF_RANK`:
    when its everyday parent holds about the same mass (Flower, Building, Squirrel), that
    is what a person files the photo under; a parent it shares with little else has
    to hold more than the class to win."""
    raw_score = max(label["score"], 1e-9)
    ratio = min(1.0, label["topicality"] / raw_score)
    if ratio >= 1.0 - 1e-9:  # a class itself (no step up the tree)
        return 1.0 if is_everyday(int(np.argmax(members(label["mid"])))) else LEAF_RANK
    return ratio
