"""The user's own categories: an ordered list of rules over a result row.

A taxonomy is parsed once, before the job starts (pipeline/settings.py), into the
frozen, picklable values below; the parse stage and `tools.refile` only call
`categorize`. The first category whose rules match wins, so the order in the
file is the order of precedence; an unsafe image goes to the quarantine category
before any rule is looked at.

A row matches a category when any one of its rules holds:
- `labels`: a kept label with one of these names scoring at or above `min_score`;
- `objects`: a located object with one of these names scoring at or above `min_score`;
- `text_chars`: text of at least this many characters (spaces ignored);
- `faces`: at least this many faces.
Names compare case-insensitively, and through the file's `synonyms`.

`TOP_LABEL` is the other rule: the top kept label is the category.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from transforms.stages.categories import category_name

BUILTIN_PREFIX = "builtin:"
BUILTIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "taxonomies")
TOP_LABEL_SPEC = "top_label"
DEFAULT_FALLBACK = "other"
MAX_CATEGORIES = 200
_TOP_KEYS = {"fallback", "synonyms", "categories"}
_CATEGORY_KEYS = {"name", "labels", "objects", "min_score", "text_chars", "faces"}


class TaxonomyError(ValueError):
    """A categories file that cannot be used; the message is one line naming the problem."""


@dataclass(frozen=True)
class Category:
    name: str
    labels: frozenset[str] = frozenset()     # canonical (folded, synonym-resolved) names
    objects: frozenset[str] = frozenset()
    min_score: float = 0.0
    text_chars: int | None = None
    faces: int | None = None


@dataclass(frozen=True)
class Taxonomy:
    source: str                              # "builtin:everyday", the file's path, or "top_label"
    categories: tuple[Category, ...] = ()
    fallback: str = DEFAULT_FALLBACK
    synonyms: tuple[tuple[str, str], ...] = ()   # (alias, canonical), folded
    top_label: bool = False                  # the seed's rule: the top kept label is the category

    def canonical(self, name: str) -> str:
        folded = _fold(name)
        return dict(self.synonyms).get(folded, folded)

    @property
    def names(self) -> tuple[str, ...]:
        """Every folder this taxonomy can file into (the fallback last)."""
        return tuple(c.name for c in self.categories) + (self.fallback,)


TOP_LABEL = Taxonomy(TOP_LABEL_SPEC, top_label=True)


def _fold(name: str) -> str:
    return " ".join(str(name).casefold().split())


def _score_text(score: float) -> str:
    return f"{score:.2f}"


def categorize(row: dict, taxonomy: Taxonomy, quarantine: str = "quarantine") -> tuple[str, str]:
    """(category, why) for a row with `labels`, `objects`, `text`, `faces` and `is_safe`.

    `why` says which rule filed it: 'unsafe', 'label:Cat (0.93)', 'object:Person (0.90)',
    'text:212 chars', 'faces:2', 'top_label' or 'fallback'.
    """
    if row.get("is_safe") is False:
        return category_name(quarantine), "unsafe"
    labels = row.get("labels") or []
    if taxonomy.top_label:
        top = labels[0]["name"] if labels else None
        return category_name(top), "top_label" if top else "fallback"
    objects = row.get("objects") or []
    text_len = len("".join((row.get("text") or "").split()))
    faces = len(row.get("faces") or [])
    for cat in taxonomy.categories:
        why = _match(cat, taxonomy, labels, objects, text_len, faces)
        if why:
            return cat.name, why
    return taxonomy.fallback, "fallback"


def _match(cat: Category, taxonomy: Taxonomy, labels, objects, text_len: int, faces: int) -> str | None:
    for kind, found in (("label", labels), ("object", objects)):
        wanted = cat.labels if kind == "label" else cat.objects
        if not wanted:
            continue
        for item in found:
            score = float(item.get("score") or 0.0)
            if score >= cat.min_score and taxonomy.canonical(item.get("name") or "") in wanted:
                return f"{kind}:{item.get('name')} ({_score_text(score)})"
    if cat.faces is not None and faces >= cat.faces:
        return f"faces:{faces}"
    if cat.text_chars is not None and text_len >= cat.text_chars:
        return f"text:{text_len} chars"
    return None


def rule_rows(taxonomy: Taxonomy) -> list[dict]:
    """The taxonomy as `category_rules` rows (transforms/schema.py), for the SQL that applies it.

    A label or object rule gives one row per name it matches, synonyms spelled out, so
    the SQL needs no synonym table. The seed's top-label rule has no rows.
    """
    if taxonomy.top_label:
        return []
    aliases: dict[str, list[str]] = {}
    for alias, canonical in taxonomy.synonyms:
        aliases.setdefault(canonical, []).append(alias)
    rows = []
    for pos, cat in enumerate(taxonomy.categories):
        base = {"position": pos, "category": cat.name}
        for kind, names in (("label", cat.labels), ("object", cat.objects)):
            for name in sorted(names):
                for spelled in [name, *aliases.get(name, [])]:
                    rows.append({**base, "kind": kind, "name": spelled, "min_score": cat.min_score, "min_count": None})
        for kind, count in (("faces", cat.faces), ("text", cat.text_chars)):
            if count is not None:
                rows.append({**base, "kind": kind, "name": None, "min_score": None, "min_count": count})
    rows.append({"position": len(taxonomy.categories), "category": taxonomy.fallback, "kind": "fallback",
                 "name": None, "min_score": None, "min_count": None})
    return rows


# ---- reading a file -------------------------------------------------------------------

def _safe_folder(value, where: str) -> str:
    if not isinstance(value, str) or not value or category_name(value) != value:
        raise TaxonomyError(f"{where}: {value!r} is not a safe folder name "
                            "(lower-case letters, digits, _ and -, at most 64 characters)")
    return value


def _names(value, where: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise TaxonomyError(f"{where} must be a list of names")
    return value


def _number(value, where: str, kind: type, low: float, high: float | None = None):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise TaxonomyError(f"{where} must be {'a whole number' if kind is int else 'a number'}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise TaxonomyError(f"{where} must be between {low} and {high}" if high is not None
                            else f"{where} must be at least {low}, got {value!r}")
    return kind(value)


def _synonyms(raw) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise TaxonomyError("synonyms must map a name to a list of other names for it")
    out: dict[str, str] = {}
    for name, aliases in raw.items():
        canonical = _fold(name)
        for alias in _names(aliases, f"synonyms.{name}"):
            folded = _fold(alias)
            if out.get(folded, canonical) != canonical:
                raise TaxonomyError(f"synonyms: {alias!r} is given for both {out[folded]!r} and {canonical!r}")
            out[folded] = canonical
    return out


def _category(raw, i: int, synonyms: dict[str, str]) -> Category:
    where = f"categories[{i}]"
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{where} must be a mapping with a name and rules")
    unknown = sorted(set(raw) - _CATEGORY_KEYS, key=str)
    if unknown:
        raise TaxonomyError(f"{where}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_CATEGORY_KEYS))})")
    name = _safe_folder(raw.get("name"), f"{where}.name")
    where = f"category {name}"

    def resolve(key):
        folded = (_fold(n) for n in _names(raw.get(key, []), f"{where}: {key}"))
        return frozenset(synonyms.get(n, n) for n in folded)
    cat = Category(
        name, resolve("labels"), resolve("objects"),
        _number(raw.get("min_score", 0.0), f"{where}: min_score", float, 0.0, 1.0),
        None if raw.get("text_chars") is None else _number(raw["text_chars"], f"{where}: text_chars", int, 1),
        None if raw.get("faces") is None else _number(raw["faces"], f"{where}: faces", int, 1))
    if not (cat.labels or cat.objects or cat.text_chars or cat.faces):
        raise TaxonomyError(f"{where} has no rule (labels, objects, text_chars or faces)")
    return cat


def parse_taxonomy(text: str, source: str) -> Taxonomy:
    """The taxonomy in YAML `text`; TaxonomyError (one line, naming `source`) when it is not usable."""
    import yaml
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or type(e).__name__
        raise TaxonomyError(f"{source}: not valid YAML{at}: {problem}") from None
    try:
        if not isinstance(raw, dict):
            raise TaxonomyError("the file must be a mapping with a 'categories' list")
        unknown = sorted(set(raw) - _TOP_KEYS, key=str)
        if unknown:
            raise TaxonomyError(f"unknown field {unknown[0]!r} (known: {', '.join(sorted(_TOP_KEYS))})")
        items = raw.get("categories")
        if not isinstance(items, list) or not items:
            raise TaxonomyError("'categories' must be a non-empty list")
        if len(items) > MAX_CATEGORIES:
            raise TaxonomyError(f"at most {MAX_CATEGORIES} categories, got {len(items)}")
        synonyms = _synonyms(raw.get("synonyms"))
        categories = tuple(_category(c, i, synonyms) for i, c in enumerate(items))
        fallback = _safe_folder(raw.get("fallback", DEFAULT_FALLBACK), "fallback")
        seen: set[str] = set()
        for name in [c.name for c in categories] + [fallback]:
            if name in seen:
                raise TaxonomyError(f"category {name!r} is named twice (the fallback counts)")
            seen.add(name)
    except TaxonomyError as e:
        raise TaxonomyError(f"{source}: {e}") from None
    return Taxonomy(source, categories, fallback, tuple(sorted(synonyms.items())))


def builtin_names() -> list[str]:
    return sorted(f[:-5] for f in os.listdir(BUILTIN_DIR) if f.endswith(".yaml"))


def builtin_text(name: str) -> str:
    if name not in builtin_names():
        raise TaxonomyError(f"no built-in taxonomy {name!r} (built in: {', '.join(builtin_names())})")
    with open(os.path.join(BUILTIN_DIR, name + ".yaml"), encoding="utf-8") as f:
        return f.read()
