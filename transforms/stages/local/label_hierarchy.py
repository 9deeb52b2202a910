"""Turn 1000 ImageNet probabilities into Vision-API-shaped `labelAnnotations`.

Why: the classifier only knows fine-grained ImageNet classes ("tabby", "tiger cat"),
and a cat photo spreads its probability over several of them. Vision users expect
generic labels too, in everyday words ("Cat", "Mammal", "Animal"), and a generic label
is often the most certain thing to say. `data/imagenet_hierarchy.json` (generated from
WordNet and the curated `data/everyday_vocabulary.tsv` by
`python -m transforms.stages.local.build.wordnet_hierarchy`) gives each class its chains of
everyday ancestors: only words that vocabulary lists, reached through the class's own sense.

Scoring, so that scores are consistent:
- a class scores its own probability;
- a generic label scores the SUM of the probabilities of the distinct classes under it
  (a class with two routes to one label counts once), so a parent never scores below
  its child and no score exceeds 1.

Ranking by `topicality` (how useful a label is), a mild preference for the specific:
- each class under a label contributes its probability discounted by 0.95^k, where k
  is the number of generic steps from that class up to the label (the class itself
  k=0, its first kept ancestor k=1, ...; the smallest k over its chains);
- so topicality = score x 0.95^k when every contributing class sits at the same depth,
  and a probability-weighted mix when they do not.
For tabby 0.5, tiger cat 0.3, Egyptian cat 0.1: Cat 0.9 x 0.95 = 0.855 ranks first,
then Mammal, Animal, and only then Tabby 0.5.

`mid` is "wn:" + the WordNet 3.0 synset id (the Vision API's /m/ ids are Freebase ids
that cannot be derived offline).
"""
from __future__ import annotations

import json
import os
import threading

import numpy as np

DECAY = 0.95
DATA_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "imagenet_hierarchy.json")
NUM_CLASSES = 1000

_lock = threading.Lock()
_tables: "_Tables | None" = None


def _capitalise(name: str) -> str:
    return name[:1].upper() + name[1:]


class _Tables:
    """The hierarchy as arrays: leaf names, and dense label x class matrices for scoring."""

    def __init__(self, data: dict):
        classes = sorted(data["classes"], key=lambda c: c["index"])
        if [c["index"] for c in classes] != list(range(NUM_CLASSES)):
            raise ValueError(f"{DATA_FILE} must list classes 0..{NUM_CLASSES - 1}")
        self.class_mids = [f"wn:{c['synset']}" for c in classes]
        self.class_names = [_capitalise(c["name"]) for c in classes]
        label_ids = sorted(data["labels"])
        row = {lid: i for i, lid in enumerate(label_ids)}
        self.label_mids = [f"wn:{lid}" for lid in label_ids]
        self.label_names = [_capitalise(data["labels"][lid]) for lid in label_ids]
        self.member = np.zeros((len(label_ids), NUM_CLASSES), dtype=np.float64)
        self.discount = np.zeros_like(self.member)
        self.row = {f"wn:{lid}": i for lid, i in row.items()}
        self.everyday = [bool(c.get("everyday")) for c in classes]
        self.ancestors: list[list[str]] = []
        for c in classes:
            depth: dict[str, int] = {}
            for chain in c["chains"]:
                for k, lid in enumerate(chain, start=1):
                    depth[lid] = min(k, depth.get(lid, k))
            for lid, k in depth.items():
                self.member[row[lid], c["index"]] = 1.0
                self.discount[row[lid], c["index"]] = DECAY ** k
            self.ancestors.append([f"wn:{lid}" for lid in sorted(depth, key=lambda n: (depth[n], n))])


def _load() -> _Tables:
    global _tables
    if _tables is None:
        with _lock:
            if _tables is None:
                with open(DATA_FILE, encoding="utf-8") as f:
                    _tables = _Tables(json.load(f))
    return _tables


def class_label(index: int) -> tuple[str, str]:
    """(mid, description) of ImageNet class `index`, e.g. ("wn:n02123045", "Tabby")."""
    t = _load()
    return t.class_mids[index], t.class_names[index]


def label_annotations(probs: np.ndarray, limit: int = 20) -> list[dict]:
    """Vision `labelAnnotations` for one image's 1000 softmax probabilities, best topicality first."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    if p.shape[0] != NUM_CLASSES:
        raise ValueError(f"expected {NUM_CLASSES} probabilities, got {p.shape[0]}")
    if limit <= 0:
        return []
    t = _load()
    label_scores = t.member @ p
    label_topicality = t.discount @ p
    scores = np.concatenate([p, label_scores])
    topicality = np.concatenate([p, label_topicality])
    mids = t.class_mids + t.label_mids
    names = t.class_names + t.label_names
    # Highest topicality first; ties broken by score, then mid, so output is deterministic.
    order = sorted(range(len(mids)), key=lambda i: (-topicality[i], -scores[i], mids[i]))[:limit]
    return [
        {"mid": mids[i], "description": names[i],
         "score": min(float(scores[i]), 1.0), "topicality": min(float(topicality[i]), 1.0)}
        for i in order
    ]


def lineage(index: int) -> set[str]:
    """The mids of ImageNet class `index` and of all its kept generic ancestors."""
    t = _load()
    rows = np.nonzero(t.member[:, index])[0]
    return {t.class_mids[index]} | {t.label_mids[r] for r in rows}


def ancestors(index: int) -> list[str]:
    """The mids of ImageNet class `index`'s everyday ancestors, nearest first."""
    return list(_load().ancestors[index])


def members(mid: str) -> np.ndarray:
    """Boolean [1000]: the ImageNet classes a label (or a class's own mid) covers."""
    t = _load()
    if mid in t.row:
        return t.member[t.row[mid]] > 0
    out = np.zeros(NUM_CLASSES, dtype=bool)
    if mid in t.class_mids:
        out[t.class_mids.index(mid)] = True
    return out


def name_of(mid: str) -> str:
    """The display name of a label or class mid."""
    t = _load()
    if mid in t.row:
        return t.label_names[t.row[mid]]
    return t.class_names[t.class_mids.index(mid)]


def is_everyday(index: int) -> bool:
    """Whether class `index`'s own name is an everyday word of the vocabulary ("Zebra", not "Tabby")."""
    return _load().everyday[index]
