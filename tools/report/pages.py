"""The report's two pages: the images by category, and the errors.

Jinja2 templates with autoescape (`templates/`) draw them; this module turns rows into
what the templates show. No script and no external resource: CSS is inline, charts are
inline SVG.
"""
from __future__ import annotations

import datetime as dt
import os
import re

import jinja2

from tools.report.charts import bar_chart, histogram
from tools.report.data import ReportData

LIKELIHOOD_LEVEL = {"UNKNOWN": 0, "VERY_UNLIKELY": 1, "UNLIKELY": 2, "POSSIBLE": 3, "LIKELY": 4, "VERY_LIKELY": 5}
TEXT_SHOWN = 400
SAFE_SEARCH_KEYS = ("adult", "racy", "violence", "medical", "spoof")


def slug(category: str) -> str:
    return "cat-" + re.sub(r"[^a-zA-Z0-9_-]+", "-", category or "none")


def _pct(v: float) -> str:
    return f"{100 * min(max(float(v), 0.0), 1.0):.2f}%"


def _short(s: str, n: int = 20) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(__file__), "templates")),
                         autoescape=True, undefined=jinja2.StrictUndefined)
ENV.filters.update(pct=_pct, slug=slug, short=_short)


def _box(box, kind: str, caption: str) -> dict | None:
    if not box or len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
        return None
    x0, y0, x1, y1 = box
    # inside: a caption above a box at the top edge would be cut off
    return {"kind": kind, "x0": x0, "y0": y0, "x1": x1, "y1": y1, "caption": caption, "inside": y0 < 0.1}


def _safe_search(row: dict) -> dict:
    safe = row.get("safe_search")
    if not safe:
        return {"flags": None, "unsafe": False, "unknown": []}
    flags, unknown = [], []
    for key in SAFE_SEARCH_KEYS:
        value = safe.get(key) or "UNKNOWN"
        level = LIKELIHOOD_LEVEL.get(value, 0)
        if level == 0:   # the backend cannot estimate it: one quiet flag for all of them
            unknown.append(key)
        else:
            flags.append({"key": key, "value": value, "level": level})
    return {"flags": flags, "unsafe": row.get("is_safe") is False, "unknown": unknown}


def _facts(row: dict) -> list[str]:
    facts = [f"Why here: {row['category_rule']}"] if row.get("category_rule") else []   # the rule that filed it
    if row.get("objects"):
        facts.append("Objects: " + ", ".join(f"{o.get('name') or ''} {o.get('score') or 0:.0%}"
                                             for o in row["objects"][:6]))
    if row.get("faces"):
        facts.append(f"Faces: {len(row['faces'])}")
    for key, title in (("landmarks", "Landmarks"), ("logos", "Logos")):
        if row.get(key):
            facts.append(f"{title}: " + ", ".join(x.get("name") or "" for x in row[key][:4]))
    return facts


def card(row: dict, thumb: str | None, thumbs_dir: str = "thumbs") -> dict:
    """What one image's card shows."""
    boxes = [_box(o.get("box"), "object", f"{o.get('name')} {o.get('score', 0):.0%}") for o in row.get("objects") or []]
    boxes += [_box(f.get("box"), "face", f"face {f.get('confidence') or 0:.0%}") for f in row.get("faces") or []]
    text = row.get("text") or ""
    return {"uri": row.get("uri") or "", "name": row.get("name") or row.get("uri") or "",
            "thumb": thumb, "thumbs_dir": thumbs_dir, "boxes": [b for b in boxes if b],
            "labels": [{"name": lab.get("name") or "", "score": lab.get("score") or 0}
                       for lab in row.get("labels") or []],
            "colours": (row.get("dominant_colors") or [])[:8], "facts": _facts(row),
            "text": text if len(text) <= TEXT_SHOWN else text[:TEXT_SHOWN] + "…", **_safe_search(row)}


def _generated() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def index_page(data: ReportData, thumbs: dict[str, str | None]) -> str:
    by_category: dict[str, list[dict]] = {}
    for row in data.rows:
        by_category.setdefault(row.get("primary_category") or "uncategorized", []).append(row)
    sections = [{"category": category, "n": n,
                 "cards": [card(r, thumbs.get(r["uri"])) for r in by_category.get(category, [])]}
                for category, n in data.per_category]
    charts = {"per_category": bar_chart(data.per_category, "Images per category", css_class="per-category"),
              "labels": bar_chart(data.label_frequency, "Label frequency (images with the label)",
                                  css_class="labels-chart"),
              "confidence": histogram(data.score_histogram, "Confidence of kept labels", css_class="confidence")}
    return ENV.get_template("index.html").render(title="Image classification report", data=data,
                                                 generated=_generated(), charts=charts, sections=sections)


def errors_page(data: ReportData) -> str:
    chart = bar_chart(data.errors_per_stage, "Errors by stage", css_class="errors-chart")
    return ENV.get_template("errors.html").render(title="Errors - image classification report", data=data, chart=chart)
