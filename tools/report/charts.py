"""The geometry of the report's small charts; `templates/charts.html` draws them as inline SVG.

A report that must open from disk offline cannot fetch a charting script; a horizontal bar
chart and a histogram are a few rectangles each.
"""
from __future__ import annotations

BAR_H, BAR_GAP, LABEL_W, COUNT_W = 14, 5, 130, 50
PLOT_H, AXIS_H = 120, 22


def bar_chart(pairs: list[tuple[str, int]], title: str, width: int = 370, css_class: str = "") -> dict:
    """Horizontal bars, one per (name, count), largest first as given."""
    peak = max((n for _, n in pairs), default=0) or 1
    bars = [{"name": str(name), "n": n, "y": i * (BAR_H + BAR_GAP),
             "w": max(2.0, (width - LABEL_W - COUNT_W) * n / peak)} for i, (name, n) in enumerate(pairs)]
    return {"title": title, "css_class": css_class, "width": width, "height": len(pairs) * (BAR_H + BAR_GAP),
            "bar_h": BAR_H, "label_w": LABEL_W, "bars": bars}


def histogram(bins: list[int], title: str, lo: float = 0.0, hi: float = 1.0, width: int = 370,
              css_class: str = "") -> dict:
    """Vertical bars for equal-width bins between lo and hi, with the axis ends labelled."""
    step = width / max(1, len(bins))
    peak = max(bins, default=0)
    bars = [{"n": n, "x": i * step + 1, "h": PLOT_H * n / peak,
             "lo": lo + (hi - lo) * i / len(bins), "hi": lo + (hi - lo) * (i + 1) / len(bins)}
            for i, n in enumerate(bins)] if peak else []
    ticks = [{"x": width * f, "anchor": a, "value": lo + (hi - lo) * f}
             for f, a in ((0, "start"), (0.5, "middle"), (1, "end"))]
    return {"title": title, "css_class": css_class, "width": width, "plot_h": PLOT_H, "axis_h": AXIS_H,
            "step": step, "bars": bars, "ticks": ticks}
