"""Whether two runs of the pipeline gave the same answers, photo by photo.

Used to check that a speed-up (int8 models, one detector pass, ...) leaves what a user
sees unchanged: run the same photos with and without it and compare the rows. Per
photo, three counts:
- labels: the same kept label names (case-folded; scores may move);
- category: the same primary category;
- boxes: the boxes pair up one to one, each pair of the same name at IoU >= `MIN_IOU`
  (greedy, best IoU first); a box left without a partner is a difference.
A photo missing from one run differs on every count. Everything here is pure: rows in,
a report out (bench/bench_answers_check.py runs the pipeline and reads the rows).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

MIN_IOU = 0.8
COUNTS = ("labels", "category", "boxes")


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x_min, y_min, x_max, y_max) boxes; 0 for empty ones."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def pair_boxes(a: Sequence[Mapping], b: Sequence[Mapping], min_iou: float = MIN_IOU) -> tuple[int, list[str]]:
    """(number of pairs, descriptions of the boxes left unpaired) of two runs' boxes of one photo."""
    candidates = sorted(((iou(x["box"], y["box"]), i, j) for i, x in enumerate(a) for j, y in enumerate(b)
                         if str(x["name"]).casefold() == str(y["name"]).casefold()), reverse=True)
    used_a: set[int] = set()
    used_b: set[int] = set()
    for overlap, i, j in candidates:
        if overlap < min_iou:
            break
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
    left = ([f"only in A: {x['name']} {_box(x['box'])}" for i, x in enumerate(a) if i not in used_a]
            + [f"only in B: {y['name']} {_box(y['box'])}" for j, y in enumerate(b) if j not in used_b])
    return len(used_a), left


def _box(box: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:.2f}" for v in box) + "]"


def _labels(row: Mapping) -> set[str]:
    return {str(lab["name"]).casefold() for lab in row.get("labels") or []}


@dataclass
class Difference:
    photo: str
    differs: set[str] = field(default_factory=set)  # of COUNTS
    notes: list[str] = field(default_factory=list)


def compare_row(photo: str, a: Mapping | None, b: Mapping | None, min_iou: float = MIN_IOU) -> Difference:
    """How one photo's row of run B differs from run A's."""
    d = Difference(photo)
    if a is None or b is None:
        d.differs.update(COUNTS)
        d.notes.append(f"no row in {'A' if a is None else 'B'}")
        return d
    la, lb = _labels(a), _labels(b)
    if la != lb:
        d.differs.add("labels")
        d.notes.append(f"labels only in A: {sorted(la - lb)}, only in B: {sorted(lb - la)}")
    if a.get("primary_category") != b.get("primary_category"):
        d.differs.add("category")
        d.notes.append(f"category {a.get('primary_category')} -> {b.get('primary_category')}")
    _, left = pair_boxes(a.get("objects") or [], b.get("objects") or [], min_iou)
    if left:
        d.differs.add("boxes")
        d.notes.extend(left)
    return d


@dataclass(frozen=True)
class Summary:
    photos: int
    same: dict[str, int]           # count -> photos the same on it
    boxes_a: int
    boxes_b: int
    boxes_paired: int
    differences: list[Difference]

    def share(self, count: str) -> float:
        return self.same[count] / self.photos if self.photos else 1.0


def compare_runs(a: Mapping[str, Mapping], b: Mapping[str, Mapping], min_iou: float = MIN_IOU) -> Summary:
    """Rows keyed by photo (file name) of run A and run B -> how much they agree."""
    photos = sorted(set(a) | set(b))
    diffs = [compare_row(p, a.get(p), b.get(p), min_iou) for p in photos]
    paired = sum(pair_boxes((a.get(p) or {}).get("objects") or [], (b.get(p) or {}).get("objects") or [],
                            min_iou)[0] for p in photos)
    return Summary(len(photos), {c: sum(c not in d.differs for d in diffs) for c in COUNTS},
                   sum(len(r.get("objects") or []) for r in a.values()),
                   sum(len(r.get("objects") or []) for r in b.values()), paired,
                   [d for d in diffs if d.differs])


def format_summary(s: Summary) -> str:
    lines = ["| count | photos the same | share |", "|---|---|---|"]
    for c in COUNTS:
        lines.append(f"| {c} | {s.same[c]} / {s.photos} | {s.share(c):.1%} |")
    lines.append(f"\nboxes: A {s.boxes_a}, B {s.boxes_b}, paired at IoU >= {MIN_IOU}: {s.boxes_paired}")
    for d in s.differences:
        lines.append(f"- {d.photo}: " + "; ".join(d.notes))
    return "\n".join(lines)
