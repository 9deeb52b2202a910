"""Score result rows against what a person sees in each photo (bench/quality_truth.yaml).

A photo is right on every count when all five rules hold:
- right label: at least one kept label is in must_have;
- no wrong label: no kept label is in must_not;
- category: the primary category is one a person accepts;
- boxes there: each COCO class listed with a count or "some" has at least one box;
- no wrong box: every box is of a class listed (count, "some" or "may"), or is a part
  (a face, a wheel) of a class listed with a count or "some".
Where a count is given and the boxes of that class differ from it, a note says so; the
note does not fail the photo (the rule's tolerance is one box per class present).

Names are matched case-insensitively with spaces, '_' and '-' alike, so the category
folder "tabby_cat" matches "Tabby cat". Everything here is pure: rows in, verdicts out.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

RULES = ("right label", "no wrong label", "category", "boxes there", "no wrong box")
SOME, MAY = "some", "may"


def key(name: str) -> str:
    """The form two names are compared in: case-folded, runs of space/_/- as one space."""
    return re.sub(r"[\s_-]+", " ", str(name).casefold()).strip()


@dataclass(frozen=True)
class Truth:
    id: str
    source: str
    sees: str
    must_have: tuple[str, ...]
    must_not: tuple[str, ...]
    categories: tuple[str, ...]
    objects: dict[str, int | str]  # COCO class -> count, "some" or "may"


@dataclass(frozen=True)
class Naming:
    aliases: dict[str, str] = field(default_factory=dict)  # box name -> class it means
    parts: dict[str, tuple[str, ...]] = field(default_factory=dict)  # part -> wholes it belongs to

    def box_class(self, name: str) -> str:
        by_key = {key(a): b for a, b in self.aliases.items()}
        return key(by_key.get(key(name), name))


@dataclass
class Verdict:
    photo: str
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)  # the RULES that failed

    @property
    def ok(self) -> bool:
        return not self.broken

    def fail(self, rule: str, message: str) -> None:
        self.broken.add(rule)
        self.failures.append(message)


class TruthError(ValueError):
    """The truth file is not in the shape the rules need."""


def parse_truth(doc: dict) -> tuple[Naming, dict[str, Truth]]:
    """The truth file's parsed YAML -> (naming rules, {photo id: Truth}); raises TruthError."""
    if not isinstance(doc, dict) or not isinstance(doc.get("photos"), dict):
        raise TruthError("truth file needs a 'photos' mapping")
    naming = Naming({str(a): str(b) for a, b in (doc.get("aliases") or {}).items()},
                    {str(p): tuple(map(str, w)) for p, w in (doc.get("parts") or {}).items()})
    photos = {}
    for pid, t in doc["photos"].items():
        missing = [k for k in ("source", "sees", "must_have", "must_not", "categories", "objects")
                   if k not in (t or {})]
        if missing:
            raise TruthError(f"{pid}: missing {', '.join(missing)}")
        if not t["must_have"] or not t["categories"]:
            raise TruthError(f"{pid}: must_have and categories may not be empty")
        objects = dict(t["objects"] or {})
        for cls, n in objects.items():
            if not (n in (SOME, MAY) or (isinstance(n, int) and not isinstance(n, bool) and n > 0)):
                raise TruthError(f"{pid}: objects.{cls} must be a count > 0, 'some' or 'may', not {n!r}")
        photos[str(pid)] = Truth(str(pid), str(t["source"]), str(t["sees"]), tuple(map(str, t["must_have"])),
                                 tuple(map(str, t["must_not"])), tuple(map(str, t["categories"])),
                                 {str(c): n for c, n in objects.items()})
    return naming, photos


def score(truth: Truth, row: dict | None, naming: Naming, error: str | None = None) -> Verdict:
    """One photo's verdict from its result row ({labels, primary_category, objects}).

    `row` None means no result row: `error` (the error row's message) or "no row" fails
    every rule.
    """
    v = Verdict(truth.id)
    if row is None:
        for rule in RULES:
            v.broken.add(rule)
        v.failures.append(f"error row: {error}" if error else "no row")
        return v
    labels = [str(lab["name"]) for lab in row.get("labels") or [] if lab.get("name")]
    label_keys = {key(n): n for n in labels}
    if not label_keys.keys() & {key(n) for n in truth.must_have}:
        shown = ", ".join(labels[:5]) or "none"
        v.fail("right label", f"no right label (kept: {shown})")
    for wrong in truth.must_not:
        if key(wrong) in label_keys:
            v.fail("no wrong label", f"wrong label {label_keys[key(wrong)]}")
    category = str(row.get("primary_category") or "")
    if key(category) not in {key(c) for c in truth.categories}:
        v.fail("category", f"category {category or '(none)'} not accepted")
    _score_boxes(truth, row.get("objects") or [], naming, v)
    return v


def _score_boxes(truth: Truth, objects: list[dict], naming: Naming, v: Verdict) -> None:
    listed = {key(c): (c, n) for c, n in truth.objects.items()}
    present = {k for k, (_c, n) in listed.items() if n != MAY}
    boxes = Counter(naming.box_class(str(o.get("name") or "")) for o in objects)
    for k, (cls, n) in listed.items():
        if n == MAY:
            continue
        if not boxes[k]:
            v.fail("boxes there", f"missing {cls} box")
        elif isinstance(n, int) and boxes[k] != n:
            v.notes.append(f"{cls}: {boxes[k]} boxes for {n}")
    wholes = {key(p): {key(w) for w in ws} for p, ws in naming.parts.items()}
    for k, count in sorted(boxes.items()):
        if k in listed or wholes.get(k, set()) & present:
            continue
        shown = next((str(o.get("name")) for o in objects if naming.box_class(str(o.get("name") or "")) == k), k)
        v.fail("no wrong box", f"wrong box {shown}" + (f" x{count}" if count > 1 else ""))


def totals(verdicts: list[Verdict]) -> dict[str, int]:
    """{'right': photos right on every count, 'photos': n, <rule>: photos that keep it}."""
    out = {"right": sum(v.ok for v in verdicts), "photos": len(verdicts)}
    for rule in RULES:
        out[rule] = sum(rule not in v.broken for v in verdicts)
    return out


def format_report(verdicts: list[Verdict]) -> str:
    """The per-photo table and the totals, as printed by the bench."""
    width = max([len("photo")] + [len(v.photo) for v in verdicts])
    lines = [f"{'photo':<{width}}  ok   failures (notes)", f"{'-' * width}  ---  {'-' * 40}"]
    for v in verdicts:
        text = "; ".join(v.failures) or "-"
        if v.notes:
            text += f" ({'; '.join(v.notes)})"
        lines.append(f"{v.photo:<{width}}  {'yes' if v.ok else 'no ':<3}  {text}")
    t = totals(verdicts)
    lines.append("")
    lines.append(f"{t['right']} of {t['photos']} right on every count")
    lines.append("  " + ", ".join(f"{rule}: {t[rule]}/{t['photos']}" for rule in RULES))
    return "\n".join(lines)
