"""Detector boxes named by two models: each COCO box is cropped and read by the ImageNet
classifier, and the box keeps its name only where that reading does not contradict it.

Why: YOLOv3-tiny knows 80 COCO classes and names whatever it boxes with one of them: a
raccoon or a quokka becomes a Cat or a Bear, a mandrill's face a Person, its fur a Tie,
an empty street a Boat. The classifier knows 1000 finer classes; on a crop of the box it
says what is there. The rule (`check_box`), for a crop's reading:

- the reading is the deepest node of the crop's top class's lineage (the class itself,
  then its everyday ancestors, nearest first) that holds at least `SURE` of the crop's
  probability; no such node: nothing to say, the box stays as it is;
- it agrees when it lies under the box's class or above it (a Tabby or a Mammal under a
  Cat box): the box stays;
- otherwise it overrules the box only if it holds at least `OVERRULE` of the crop and
  is surer than the detector (its Vision-scale score, label_scale.to_vision, above the
  box's score). Then:
  * same family (an animal read on an animal box, a vehicle on a vehicle box) and the
    classifier knows the box's class: the box takes the reading's everyday name
    (Cat -> Dog on a Pekinese, Bear -> Kangaroo on a wallaby);
  * families that cannot share a box (an animal read on a person or an object; anything
    but an animal read on an animal; anything but a vehicle on a vehicle): the box is
    dropped;
  * otherwise (a Person box read as a jersey) the box stays.

Crops smaller than `MIN_SIDE` pixels are not read (the classifier sees nothing at 20 px);
at most `MAX_CROPS` boxes per image, best first, bound the cost. A box that was read and
kept is `confirmed` when the reading lies under its class. In a herd (two or more boxes of
one animal class), a lone unconfirmed box of another animal class is dropped (`_herd`).
"""
from __future__ import annotations

import collections

import numpy as np
from PIL import Image

from transforms.stages.local.label_hierarchy import ancestors, class_label, is_everyday, members, name_of
from transforms.stages.local.label_scale import to_vision
from transforms.stages.local.labeler import INPUT_SIZE

SURE = 0.5
MIN_SIDE = 40
MAX_CROPS = 4
MARGIN = 0.05
OVERRULE = 0.7
DISBELIEF = 0.05
WELL_KNOWN = 3

# Family of a reading: the first of these whose classes include the crop's top class.
FAMILIES = {
    "Person": ["wn:n00007846"],
    "Animal": ["wn:n00015388"],
    "Vehicle": ["wn:n04524313"],
    "Building": ["wn:n02913152", "wn:n04202417", "wn:n02898711", "wn:n04460130", "wn:n03743902"],
    "Scene": ["wn:n09359803", "wn:n09217230", "wn:n09426788", "wn:n09433442", "wn:n09328904", "wn:n09406793",
              "wn:n09246464", "wn:n09288635", "wn:n09468604"],   # ... and cliff, geyser, valley
    "Food": ["wn:n00021265", "wn:n07705931", "wn:n07707451"],   # food, edible fruit, vegetable
    "Plant": ["wn:n00017222", "wn:n12992868"],
    "Clothing": ["wn:n03051540"],
    "Furniture": ["wn:n03405725"],
}
# Detector class -> (the everyday label the classifier would name it by, or None where
# ImageNet has no class for it or only odd ones (its chairs are a barber chair, a throne...),
# and its family). Classes not listed have no family.
COCO = {
    "Person": (None, "Person"), "Bicycle": ("wn:n02834778", "Vehicle"), "Car": ("wn:n02958343", "Vehicle"),
    "Motorcycle": ("wn:n03790512", "Vehicle"), "Airplane": ("wn:n02691156", "Vehicle"),
    "Bus": ("wn:n02924116", "Vehicle"), "Train": (None, "Vehicle"), "Truck": ("wn:n04490091", "Vehicle"),
    "Boat": ("wn:n04530566", "Vehicle"), "Bird": ("wn:n01503061", "Animal"), "Cat": ("wn:n02121620", "Animal"),
    "Dog": ("wn:n02084071", "Animal"), "Horse": ("wn:n02374451", "Animal"), "Sheep": ("wn:n02411705", "Animal"),
    "Cow": ("wn:n02402425", "Animal"), "Elephant": ("wn:n02503517", "Animal"), "Bear": ("wn:n02131653", "Animal"),
    "Zebra": ("wn:n02391049", "Animal"), "Giraffe": (None, "Animal"), "Tie": ("wn:n03815615", "Clothing"),
    "Chair": (None, "Furniture"), "Couch": (None, "Furniture"), "Bed": (None, "Furniture"),
    "Table": (None, "Furniture"),
    "Banana": ("wn:n07753592", "Food"), "Apple": ("wn:n07739125", "Food"), "Sandwich": ("wn:n07695965", "Food"),
    "Orange": ("wn:n07747607", "Food"), "Broccoli": ("wn:n07714990", "Food"), "Carrot": (None, "Food"),
    "Hot dog": ("wn:n07697537", "Food"), "Pizza": ("wn:n07873807", "Food"),
    "Doughnut": (None, "Food"), "Cake": (None, "Food"),
}


def _family_table() -> np.ndarray:
    out = np.full(1000, "", dtype=object)
    for family, mids in reversed(list(FAMILIES.items())):  # the first listed wins
        for mid in mids:
            out[members(mid)] = family
    return out


_FAMILY: np.ndarray | None = None


def family_of(index: int) -> str | None:
    global _FAMILY
    if _FAMILY is None:
        _FAMILY = _family_table()
    return _FAMILY[index] or None


def crop_box(image: Image.Image, box: tuple[float, float, float, float]) -> Image.Image | None:
    """The box grown by `MARGIN` on each side and stretched to the classifier's square input
    (a square around a tall person would take in the dog beside them), or None when the
    box is under `MIN_SIDE` pixels."""
    w, h = image.size
    x0, y0, x1, y1 = box[0] * w, box[1] * h, box[2] * w, box[3] * h
    if min(x1 - x0, y1 - y0) < MIN_SIDE:
        return None
    dx, dy = (x1 - x0) * MARGIN, (y1 - y0) * MARGIN
    area = (round(max(0.0, x0 - dx)), round(max(0.0, y0 - dy)), round(min(float(w), x1 + dx)),
            round(min(float(h), y1 + dy)))
    return image.crop(area).resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BILINEAR)


def reading(probs: np.ndarray) -> tuple[str, float, int] | None:
    """(mid, probability mass, top class) of the deepest sure node of the top class's lineage."""
    top = int(np.argmax(probs))
    for mid in [class_label(top)[0]] + ancestors(top):
        mass = float(probs[members(mid)].sum())
        if mass >= SURE:
            return mid, mass, top
    return None


def everyday_name(mid: str, top: int, probs: np.ndarray) -> tuple[str, str, float]:
    """(mid, name, mass) a box is renamed to: the reading itself where it is an everyday word
    ("Zebra"), else its nearest everyday ancestor ("Pekinese" -> "Dog")."""
    if mid != class_label(top)[0] or is_everyday(top):
        return mid, name_of(mid), float(probs[members(mid)].sum())
    up = ancestors(top)
    if not up:
        return mid, name_of(mid), float(probs[top])
    return up[0], name_of(up[0]), float(probs[members(up[0])].sum())


def _conflict(box_family: str | None, read_family: str | None) -> bool:
    if read_family is None or box_family == read_family:
        return False
    return read_family == "Animal" or box_family in ("Animal", "Vehicle")


def check_box(box: dict, probs: np.ndarray, inside: frozenset[str] = frozenset(),
              whole_image: bool = False) -> dict | None:
    """The box as the reading `probs` of its crop leaves it: kept (maybe `confirmed`),
    renamed, or None. `inside` holds the families of the other boxes lying mostly inside
    this one: a reading of one of those (the dog sitting in a bicycle's box) is theirs.
    With `whole_image`, `probs` read the whole photo, not the box: it may drop the box on a
    family conflict but never names it."""
    own, box_family = COCO.get(box["name"], (None, None))
    own_set = members(own) if own is not None else np.zeros(len(probs), dtype=bool)
    own_mass = float(probs[own_set].sum())
    read = reading(probs)
    if read is not None:
        mid, mass, top = read
        read_set, read_family = members(mid), family_of(top)
        if own is not None and not (read_set & ~own_set).any():
            return box if whole_image else {**box, "confirmed": True}  # the reading lies under the box's class
        generic = own is not None and not (own_set & ~read_set).any()  # Mammal read on a Cat box
        surer = to_vision(mass) > box["score"] and read_family not in inside
        if (own is not None and not whole_image and not generic and surer and read_family == box_family
                and mass >= OVERRULE):
            new_mid, name, new_mass = everyday_name(mid, top, probs)
            return {**box, "name": name, "mid": new_mid, "score": to_vision(new_mass),
                    "renamed_from": box["name"], "confirmed": True}
    if own_set.sum() >= WELL_KNOWN and own_mass < DISBELIEF and (not whole_image or read is not None):
        # the classifier knows this class in several forms and finds none of it here
        if not whole_image or (read_family == box_family and mass >= OVERRULE and surer):
            return None
    if read is None or generic or not surer:
        return box
    if own is not None and not whole_image and own_mass < DISBELIEF:
        return None  # the classifier knows the box's class, finds none of it and is sure of another thing
    if mass >= OVERRULE and _conflict(box_family, read_family):
        return None
    return box


def crops_to_read(image: Image.Image, boxes: list[dict]) -> list[tuple[int, Image.Image]]:
    """(index in `boxes`, square crop) of the boxes worth reading: the `MAX_CROPS` best big
    enough, the best of each class first (a lone Apple box among six oranges is the one in
    doubt; a fifth orange's crop tells little more than the first's)."""
    out = []
    by_score = sorted(range(len(boxes)), key=lambda j: -boxes[j]["score"])
    seen: collections.Counter[str] = collections.Counter()
    rank = {}   # box index -> how many better boxes share its class
    for j in by_score:
        rank[j] = seen[boxes[j]["name"]]
        seen[boxes[j]["name"]] += 1
    for i in sorted(by_score, key=lambda j: rank[j]):
        v = boxes[i]["boundingPoly"]["normalizedVertices"]
        crop = crop_box(image, (v[0]["x"], v[0]["y"], v[2]["x"], v[2]["y"]))
        if crop is not None:
            out.append((i, crop))
        if len(out) == MAX_CROPS:
            break
    return out


def _inside(box: dict, boxes: list[dict]) -> frozenset[str]:
    """Families of the other boxes with at least half their area inside `box`."""
    from transforms.stages.local.objects import _box

    bx0, by0, bx1, by1 = _box(box)
    out = set()
    for other in boxes:
        if other is box:
            continue
        ox0, oy0, ox1, oy1 = _box(other)
        inter = max(0.0, min(bx1, ox1) - max(bx0, ox0)) * max(0.0, min(by1, oy1) - max(by0, oy0))
        family = COCO.get(other["name"], (None, None))[1]
        if family and inter >= 0.5 * max((ox1 - ox0) * (oy1 - oy0), 1e-9):
            out.add(family)
    return frozenset(out)


def named_boxes(boxes: list[dict], readings: dict[int, np.ndarray], whole: np.ndarray | None = None) -> list[dict]:
    """The boxes after `check_box` with each read crop's probabilities (index -> [1000]).
    A box whose crop says nothing sure (or was not read) answers to the whole photo's
    reading `whole` instead, unless another box is of that reading's family (the
    classifier's Dog on a photo of a person and a dog is the dog box's)."""
    from transforms.stages.local.objects import iou

    whole_read = reading(whole) if whole is not None else None
    checked: list[dict | None] = []
    for i, box in enumerate(boxes):
        others = {COCO.get(b["name"], (None, None))[1] for j, b in enumerate(boxes) if j != i}
        if i in readings and reading(readings[i]) is not None:
            checked.append(check_box(box, readings[i], _inside(box, boxes)))
        elif whole is not None and whole_read is not None and family_of(whole_read[2]) not in others:
            checked.append(check_box(box, whole, whole_image=True))
        else:
            checked.append(box)
    out: list[dict] = []
    for box in sorted((b for b in checked if b is not None), key=lambda b: "renamed_from" in b):
        # a renamed box on the place of a box already of that name is the same object
        if "renamed_from" in box and any(o["name"] == box["name"] and iou(o, box) >= 0.5 for o in out):
            continue
        out.append(box)
    return sorted(_herd(out), key=lambda b: -b["score"])


def _herd(boxes: list[dict]) -> list[dict]:
    """The boxes less a lone animal of another kind among a herd: an animal box its crop did
    not confirm, alone of its class where two or more boxes share another animal class (a
    Cow among five horses). A herd is mostly one kind, and the lone box is the detector's
    guess on one more far-off animal."""
    kinds = collections.Counter(b["name"] for b in boxes if COCO.get(b["name"], (None, None))[1] == "Animal")
    return [b for b in boxes
            if not (kinds[b["name"]] == 1 and not b.get("confirmed")
                    and any(n != b["name"] and c >= 2 for n, c in kinds.items()))]


BIG = 0.3


def agreeing_labels(labels: list[dict], boxes: list[dict]) -> list[dict]:
    """The classifier's labels less those a surer, big detector box contradicts: a box of the
    same family covering `BIG` of the photo, scoring above the label, whose class the label
    neither lies under nor contains (the classifier's Dog 0.86 on a horse the detector boxes at 0.96
    goes; its Mammal and Animal stay). Where the classifier has no class for the box's
    (Cake, Giraffe, Couch), its readings of that family are its guesses at the box's thing
    (a cupcake read as eggnog, a Drink): only the family's own word (Food, Animal) stays."""
    from transforms.stages.local.objects import _box

    judges = []
    for b in boxes:
        own, family = COCO.get(b["name"], (None, None))
        x0, y0, x1, y1 = _box(b)
        if family is not None and (x1 - x0) * (y1 - y0) >= BIG:
            judges.append((members(own) if own is not None else None, family, b["score"]))
    out = []
    for label in labels:
        covered = members(label["mid"])
        family = family_of(int(np.argmax(covered))) if covered.any() else None
        if not any(family == f and score > label["score"] and _contradicts(label["mid"], covered, own, f)
                   for own, f, score in judges):
            out.append(label)
    return out


def _contradicts(mid: str, covered: np.ndarray, own: np.ndarray | None, family: str) -> bool:
    """Whether a label of the box's family says something else than the box: it neither lies
    under the box's class nor contains it; for a class the classifier lacks, unless it is
    the family's own word."""
    if own is None:
        return mid not in FAMILIES[family]
    return bool((own & ~covered).any() and (covered & ~own).any())
