"""The report's two pages as static HTML: the images by category, and the errors.

No script and no external resource: CSS is inline, charts are inline SVG, and
boxes are positioned in percent of the thumbnail, because the model's
coordinates are normalised to the image, so they land right at any size.
"""
from __future__ import annotations

import datetime as dt
import re
from html import escape

from tools.report.charts import bar_chart, histogram
from tools.report.data import ReportData

LIKELIHOOD_LEVEL = {"UNKNOWN": 0, "VERY_UNLIKELY": 1, "UNLIKELY": 2, "POSSIBLE": 3, "LIKELY": 4, "VERY_LIKELY": 5}
TEXT_SHOWN = 400

CSS = """
*{box-sizing:border-box}body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:#1d2330;background:#f4f5f8}header{background:#1d2330;color:#fff;padding:16px 24px}header h1{margin:0 0 4px;
font-size:22px}header p{margin:0;color:#c7cbd6}nav{margin-top:10px;display:flex;flex-wrap:wrap;gap:6px}
nav a{color:#fff;background:#364056;border-radius:12px;padding:2px 10px;text-decoration:none;font-size:13px}
nav a.errors{background:#8a2b2b}main{padding:16px 24px}
.charts{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
figure.chart{background:#fff;border-radius:8px;padding:12px;margin:0;box-shadow:0 1px 2px #0002}
figcaption{font-weight:600;margin-bottom:8px}svg text{font-size:12px;fill:#333}svg rect{fill:#3b6fd8}
.errors-chart svg rect{fill:#c0392b}svg .axis{stroke:#999}section.category{margin-top:28px}
section.category h2{font-size:19px;margin:0 0 10px}h2 .count{font-weight:400;color:#667;font-size:14px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:14px}
article.card{background:#fff;border-radius:8px;box-shadow:0 1px 2px #0002;overflow:hidden;display:flex;
flex-direction:column}.frame{position:relative;line-height:0;background:#e7e9ee}.frame img{width:100%;height:auto;
display:block}.missing{line-height:1.4;padding:40px 10px;text-align:center;color:#777}
.box{position:absolute;border:2px solid #ffcf33;box-shadow:0 0 0 1px #0008;border-radius:2px}
.box.face{border-color:#35d07f}.box span{position:absolute;left:-2px;top:-18px;line-height:16px;font-size:11px;
background:#ffcf33;color:#000;padding:0 4px;white-space:nowrap;border-radius:2px}
.box.face span{background:#35d07f}.box.inside span{top:0;left:0}
.body{padding:8px 10px 10px}.card h3{font-size:13px;margin:0 0 6px;word-break:break-all}ul.labels{list-style:none;
margin:0 0 6px;padding:0}ul.labels li{display:grid;grid-template-columns:1fr 70px 34px;gap:6px;align-items:center;
font-size:12.5px}.meter{height:6px;background:#e3e6ee;border-radius:3px}.meter i{display:block;height:100%;
background:#3b6fd8;border-radius:3px}.score{text-align:right;color:#556;font-variant-numeric:tabular-nums}
.flags{display:flex;flex-wrap:wrap;gap:4px;margin:6px 0}.flag{font-size:11px;border-radius:9px;padding:0 7px;
background:#e8f5ec;color:#25613a}.flag.l3{background:#fff4d6;color:#7a5a00}.flag.l4,.flag.l5{background:#fde2e0;
color:#9b1c14}.flag.l0{background:#eef0f4;color:#667}.flag.unsafe{background:#9b1c14;color:#fff;font-weight:600}
.swatches{display:flex;gap:3px;margin:6px 0}.swatch{width:22px;height:22px;border-radius:4px;border:1px solid #0002}
.facts{font-size:12px;color:#445;margin:4px 0}details.text pre{white-space:pre-wrap;font-size:12px;background:#f4f5f8;
padding:6px;border-radius:4px;max-height:140px;overflow:auto}.more{color:#667;margin-top:8px}
table{border-collapse:collapse;background:#fff;width:100%;box-shadow:0 1px 2px #0002}th,td{text-align:left;
padding:6px 8px;border-bottom:1px solid #e3e6ee;vertical-align:top;font-size:13px}th{background:#eef0f4}
td.uri{word-break:break-all;max-width:380px}td.message{max-width:520px}
"""


def slug(category: str) -> str:
    return "cat-" + re.sub(r"[^a-zA-Z0-9_-]+", "-", category or "none")


def _pct(v: float) -> str:
    return f"{100 * min(max(float(v), 0.0), 1.0):.2f}%"


def _box(box, kind: str, caption: str) -> str:
    if not box or len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
        return ""
    x0, y0, x1, y1 = box
    style = f"left:{_pct(x0)};top:{_pct(y0)};width:{_pct(x1 - x0)};height:{_pct(y1 - y0)}"
    inside = " inside" if y0 < 0.1 else ""   # a caption above a box at the top edge would be cut off
    return (f'<div class="box {kind}{inside}" style="{style}" title="{escape(caption)}">'
            f'<span>{escape(caption)}</span></div>')


def _frame(row: dict, thumb: str | None, thumbs_dir: str) -> str:
    name = escape(row.get("name") or row.get("uri") or "")
    if not thumb:
        return f'<div class="frame"><div class="missing">image not available<br>{name}</div></div>'
    boxes = [_box(o.get("box"), "object", f"{o.get('name')} {o.get('score', 0):.0%}") for o in row.get("objects") or []]
    boxes += [_box(f.get("box"), "face", f"face {f.get('confidence') or 0:.0%}") for f in row.get("faces") or []]
    return (f'<div class="frame"><img src="{thumbs_dir}/{thumb}" alt="{name}">'
            f'{"".join(boxes)}</div>')


def _labels(row: dict) -> str:
    items = [f'<li><span class="label">{escape(lab.get("name") or "")}</span>'
             f'<span class="meter"><i style="width:{_pct(lab.get("score") or 0)}"></i></span>'
             f'<span class="score">{(lab.get("score") or 0):.2f}</span></li>' for lab in row.get("labels") or []]
    if not items:
        return '<p class="facts">No label above the threshold.</p>'
    return f'<ul class="labels">{"".join(items)}</ul>'


def _flags(row: dict) -> str:
    safe = row.get("safe_search")
    if not safe:
        return ""
    flags = ['<span class="flag unsafe">unsafe</span>'] if row.get("is_safe") is False else []
    unknown = []
    for key in ("adult", "racy", "violence", "medical", "spoof"):
        value = safe.get(key) or "UNKNOWN"
        level = LIKELIHOOD_LEVEL.get(value, 0)
        if level == 0:   # the backend cannot estimate it: one quiet flag for all of them
            unknown.append(key)
            continue
        flags.append(f'<span class="flag l{level}" title="{key}: {escape(value)}">{key}: '
                     f'{escape(value.lower().replace("_", " "))}</span>')
    if unknown:
        flags.append(f'<span class="flag l0" title="the backend does not estimate these">'
                     f'not estimated: {", ".join(unknown)}</span>')
    return f'<div class="flags">{"".join(flags)}</div>'


def _swatches(row: dict) -> str:
    colours = row.get("dominant_colors") or []
    if not colours:
        return ""
    spans = [f'<span class="swatch" style="background:rgb({c.get("red") or 0},{c.get("green") or 0},'
             f'{c.get("blue") or 0})" title="rgb({c.get("red")}, {c.get("green")}, {c.get("blue")}) · '
             f'{(c.get("pixel_fraction") or 0):.0%} of pixels"></span>' for c in colours[:8]]
    return f'<div class="swatches">{"".join(spans)}</div>'


def _facts(row: dict) -> str:
    parts = []
    if row.get("objects"):
        parts.append("Objects: " + ", ".join(f"{escape(o.get('name') or '')} {o.get('score') or 0:.0%}"
                                             for o in row["objects"][:6]))
    if row.get("faces"):
        parts.append(f"Faces: {len(row['faces'])}")
    for key, title in (("landmarks", "Landmarks"), ("logos", "Logos")):
        if row.get(key):
            parts.append(f"{title}: " + ", ".join(escape(x.get("name") or "") for x in row[key][:4]))
    html = "".join(f'<p class="facts">{p}</p>' for p in parts)
    if row.get("text"):
        text = row["text"] if len(row["text"]) <= TEXT_SHOWN else row["text"][:TEXT_SHOWN] + "…"
        html += f'<details class="text"><summary>Text found</summary><pre>{escape(text)}</pre></details>'
    return html


def card(row: dict, thumb: str | None, thumbs_dir: str = "thumbs") -> str:
    name = row.get("name") or row.get("uri") or ""
    return (f'<article class="card" data-uri="{escape(row.get("uri") or "")}">'
            f'{_frame(row, thumb, thumbs_dir)}<div class="body">'
            f'<h3 title="{escape(row.get("uri") or "")}">{escape(name)}</h3>'
            f'{_labels(row)}{_flags(row)}{_swatches(row)}{_facts(row)}</div></article>')


def _page(title: str, header: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
            f'<style>{CSS}</style></head><body><header>{header}</header><main>{body}</main></body></html>')


def _generated() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def index_page(data: ReportData, thumbs: dict[str, str | None]) -> str:
    by_category: dict[str, list[dict]] = {}
    for row in data.rows:
        by_category.setdefault(row.get("primary_category") or "uncategorized", []).append(row)
    nav = "".join(f'<a href="#{slug(c)}">{escape(c)} ({n:,})</a>' for c, n in data.per_category)
    nav += f'<a class="errors" href="errors.html">errors ({data.total_errors:,})</a>'
    header = (f'<h1>Image classification report</h1><p>{data.total_images:,} images in '
              f'{len(data.per_category):,} categories · {data.total_errors:,} errors · from '
              f'{escape(data.source)} · {_generated()}</p><nav>{nav}</nav>')
    charts = ('<section class="charts" id="charts">'
              + bar_chart(data.per_category, "Images per category", css_class="per-category")
              + bar_chart(data.label_frequency, "Label frequency (images with the label)", css_class="labels-chart")
              + histogram(data.score_histogram, "Confidence of kept labels", css_class="confidence")
              + "</section>")
    sections = []
    for category, n in data.per_category:
        rows = by_category.get(category, [])
        more = (f'<p class="more">Showing {len(rows):,} of {n:,} images.</p>' if len(rows) < n else "")
        cards = "".join(card(r, thumbs.get(r["uri"])) for r in rows)
        sections.append(f'<section class="category" id="{slug(category)}" data-category="{escape(category)}">'
                        f'<h2>{escape(category)} <span class="count">{n:,} image{"" if n == 1 else "s"}</span></h2>'
                        f'<div class="grid">{cards}</div>{more}</section>')
    if not sections:
        sections.append("<p>No classified images yet.</p>")
    return _page("Image classification report", header, charts + "".join(sections))


def errors_page(data: ReportData) -> str:
    header = (f'<h1>Errors</h1><p>{data.total_errors:,} images could not be classified · from '
              f'{escape(data.source)}</p><nav><a href="index.html">back to the images</a></nav>')
    chart = ('<section class="charts">' + bar_chart(data.errors_per_stage, "Errors by stage", css_class="errors-chart")
             + "</section>")
    rows = "".join(
        f'<tr class="error"><td>{escape(e.get("stage") or "")}</td><td>{escape(e.get("code") or "")}</td>'
        f'<td class="uri">{escape(e.get("uri") or "")}</td><td class="message">{escape(e.get("message") or "")}</td>'
        f'<td>{e.get("attempts") or ""}</td><td>{escape(str(e.get("failed_at") or ""))}</td></tr>'
        for e in data.errors)
    shown = (f'<p class="more">Showing the {len(data.errors):,} most recent of {data.total_errors:,}.</p>'
             if len(data.errors) < data.total_errors else "")
    table = ('<h2>Most recent errors</h2><table><thead><tr><th>stage</th><th>code</th><th>image</th>'
             f'<th>message</th><th>attempts</th><th>failed at</th></tr></thead><tbody>{rows}</tbody></table>'
             if rows else "<p>No errors.</p>")
    return _page("Errors - image classification report", header, chart + table + shown)
