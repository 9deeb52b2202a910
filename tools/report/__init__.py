"""A static HTML report of the results: thumbnails by category with their labels,
boxes, safe-search flags, text and colours; an errors page; a few charts.

People would rather look at classified images than read rows. The report is a
folder (index.html, errors.html, thumbs/) that opens from disk with no server
and no network, so it can be zipped, mailed or published as a CI artifact.

    python -m tools.report (--duckdb=PATH | --bigquery_dataset=P:D) --out=DIR
"""
from __future__ import annotations

import os

from tools.report.data import ReportData
from tools.report.pages import errors_page, index_page
from tools.report.thumbnails import make_thumbnails

THUMBS_DIR = "thumbs"


def write_report(data: ReportData, out_dir: str) -> str:
    """Write the report for `data` under out_dir; returns the path of index.html."""
    os.makedirs(out_dir, exist_ok=True)
    thumbs = make_thumbnails(data.rows, os.path.join(out_dir, THUMBS_DIR))
    pages = {"index.html": index_page(data, thumbs), "errors.html": errors_page(data)}
    for name, html in pages.items():
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            f.write(html)
    return os.path.abspath(os.path.join(out_dir, "index.html"))
