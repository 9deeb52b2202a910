"""Command line of the report: `python -m tools.report --help`."""
from __future__ import annotations

import argparse
import os
import sys

from tools.report import write_report
from tools.report.data import from_bigquery, from_duckdb
from transforms.sinks.bigquery_client import parse_dataset


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.report",
        description="Write a static HTML report of the classification results (opens from disk, offline).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--duckdb", help="results database written by the pipeline")
    source.add_argument("--bigquery_dataset", help="BigQuery dataset holding the results (PROJECT:DATASET)")
    parser.add_argument("--out", required=True, help="folder to write index.html, errors.html and thumbs/ into")
    parser.add_argument("--per_category", type=int, default=48, help="images shown per category (default 48)")
    parser.add_argument("--max_errors", type=int, default=1000, help="errors listed (default 1000, newest first)")
    args = parser.parse_args(argv)
    if args.per_category < 1 or args.max_errors < 0:
        parser.error("--per_category must be at least 1 and --max_errors cannot be negative")
    if args.bigquery_dataset:
        try:
            parse_dataset(args.bigquery_dataset)
        except ValueError as e:
            parser.error(f"--bigquery_dataset: {e}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    limits = {"per_category": args.per_category, "max_errors": args.max_errors}
    try:
        data = from_duckdb(args.duckdb, **limits) if args.duckdb else from_bigquery(args.bigquery_dataset, **limits)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.duckdb:
        os.environ.setdefault("NO_GCE_CHECK", "true")
    path = write_report(data, args.out)
    print(f"Report: {path} ({data.total_images:,} images, {data.total_errors:,} errors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
