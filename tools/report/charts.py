"""Small charts as inline SVG: no chart library, no CDN, nothing to load.

A report that must open from disk offline cannot fetch a charting script; a
horizontal bar chart and a histogram are a few rectangles each.
"""
from __future__ import annotations

from html import escape


def bar_chart(pairs: list[tuple[str, int]], title: str, width: int = 370, css_class: str = "") -> str:
    """Horizontal bars, one per (name, count), largest first as given."""
    if not pairs:
        return f'<figure class="chart {css_class}"><figcaption>{escape(title)}</figcaption><p>No data.</p></figure>'
    bar_h, gap, label_w, count_w = 14, 5, 130, 50
    height = len(pairs) * (bar_h + gap)
    peak = max(n for _, n in pairs) or 1
    bars = []
    for i, (name, n) in enumerate(pairs):
        y = i * (bar_h + gap)
        w = max(2.0, (width - label_w - count_w) * n / peak)
        bars.append(
            f'<g class="bar"><title>{escape(str(name))}: {n:,}</title>'
            f'<text x="{label_w - 6}" y="{y + 11}" text-anchor="end">{escape(_short(str(name)))}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="3"/>'
            f'<text x="{label_w + w + 5:.1f}" y="{y + 11}">{n:,}</text></g>')
    return (f'<figure class="chart {css_class}"><figcaption>{escape(title)}</figcaption>'
            f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}">{"".join(bars)}</svg></figure>')


def histogram(bins: list[int], title: str, lo: float = 0.0, hi: float = 1.0, width: int = 370,
              css_class: str = "") -> str:
    """Vertical bars for equal-width bins between lo and hi, with the axis ends labelled."""
    if not any(bins):
        return f'<figure class="chart {css_class}"><figcaption>{escape(title)}</figcaption><p>No data.</p></figure>'
    plot_h, axis_h = 120, 22
    step = width / len(bins)
    peak = max(bins)
    bars = []
    for i, n in enumerate(bins):
        h = plot_h * n / peak
        b_lo, b_hi = lo + (hi - lo) * i / len(bins), lo + (hi - lo) * (i + 1) / len(bins)
        bars.append(f'<g class="bar"><title>{b_lo:.2f}–{b_hi:.2f}: {n:,}</title>'
                    f'<rect x="{i * step + 1:.1f}" y="{plot_h - h:.1f}" width="{step - 2:.1f}" '
                    f'height="{h:.1f}" rx="2"/></g>')
    ticks = "".join(f'<text x="{width * f:.1f}" y="{plot_h + 16}" text-anchor="{a}">{lo + (hi - lo) * f:.1f}</text>'
                    for f, a in ((0, "start"), (0.5, "middle"), (1, "end")))
    return (f'<figure class="chart {css_class}"><figcaption>{escape(title)}</figcaption>'
            f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {plot_h + axis_h}" '
            f'width="{width}" height="{plot_h + axis_h}">{"".join(bars)}'
            f'<line x1="0" y1="{plot_h}" x2="{width}" y2="{plot_h}" class="axis"/>{ticks}</svg></figure>')


def _short(s: str, n: int = 20) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"
