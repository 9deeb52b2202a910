"""Re-file every classified image under a new taxonomy, from the stored results alone.

    python -m tools.refile --categories=SPEC (--duckdb=PATH | --bigquery_dataset=PROJECT:DATASET)
                           [--category_root=ROOT] [--quarantine_category=quarantine] [--dry_run | --rules_only]

Each row's category is computed again from its stored labels, objects, text and
faces (no Vision call, no model run); the category copy moves to the new folder
and the row records the new category, the rule and the new copy's place.

Safe to kill and run again: copies move first (the new copy is whole before the
old one goes), then the rows of that batch are updated; a run after a kill finds
the moved copies in place and only updates the rows. A second run with the same
taxonomy changes nothing. Run it with the same --categories until it finishes.
"""
from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass

from pipeline.categories_file import load_taxonomy
from tools.refile_copies import CopyStore, move
from tools.refile_store import BigQueryRows, DuckDBRows, RefileError
from transforms.stages.copy_to_category import safe_relative_path
from transforms.taxonomy import Taxonomy, TaxonomyError, categorize, rule_rows

BATCH = 200   # rows whose copies move before their rows are updated together


@dataclass
class Outcome:
    changed: int = 0
    moved: int = 0
    unchanged: int = 0
    no_copy: int = 0


def split_copy_uri(category_uri: str, category: str, name: str, root: str | None = None) -> tuple[str, str] | None:
    """(category root, path under the category) of a copy at `category_uri`, or None when it is not one.

    The path under the category is the image's path under the input, so it is a tail of
    the row's `name`; a category root given explicitly must be the copy's prefix.
    """
    marker = f"/{category}/"
    tail = safe_relative_path(name)
    start = 0
    while (idx := category_uri.find(marker, start)) >= 0:
        base, rel = category_uri[:idx], category_uri[idx + len(marker):]
        if (root is None or base == root.rstrip("/")) and rel and (tail == rel or tail.endswith("/" + rel)):
            return base, rel
        start = idx + 1
    return None


def plan_rows(rows: list[dict], taxonomy: Taxonomy, quarantine: str, root: str | None):
    """(row, new category, rule, old copy, new copy) per row, newest generation of each object first.

    Versions of one object share a copy path within a category; the newest version's
    copy is the one that moves, and an older row that shared it points to the new path
    only when it lands in the same category.
    """
    rows = sorted(rows, key=lambda r: (r["bucket"], r["name"], -int(r["generation"] or 0)))
    claimed: dict[tuple[str, str], str | None] = {}   # (object, old copy) -> the new copy it became
    for row in rows:
        category, rule = categorize(row, taxonomy, quarantine)
        old = row.get("category_uri")
        parts = split_copy_uri(old, row["primary_category"], row["name"], root) if old else None
        new = f"{parts[0]}/{category}/{parts[1]}" if parts else None
        key = (row["uri"].split("#")[0], old or "")
        if old and key in claimed:
            yield row, category, rule, None, new if new == claimed[key] else None
            continue
        claimed[key] = new
        yield row, category, rule, old if parts else None, new if parts else old


def refile(store, taxonomy: Taxonomy, quarantine: str = "quarantine", root: str | None = None,
           dry_run: bool = False, log=print, batch_size: int = BATCH) -> Outcome:
    copies, out = CopyStore(), Outcome()
    counts: Counter = Counter()
    batch: list[dict] = []
    if not dry_run:   # the taxonomy as a table, for the taxonomy_categories analysis
        store.write_rules(rule_rows(taxonomy))
    for row, category, rule, old, new in plan_rows(store.rows(), taxonomy, quarantine, root):
        counts[category] += 1
        top = row["labels"][0]["name"] if row.get("labels") else None
        if new and new == row.get("category_uri") and category != row["primary_category"]:
            log(f"left {new} in place: it is not <root>/{row['primary_category']}/<path> (give --category_root)")
        if old and new and old != new and not dry_run:
            base = split_copy_uri(old, row["primary_category"], row["name"], root)
            if move(copies, old, new, base[0] if base else "", row["uri"], row.get("generation")):
                out.moved += 1
            else:
                out.no_copy += 1
                log(f"no copy of {row['uri']} to move (neither {old} nor the original exists)")
                new = None
        after = {"primary_category": category, "category_rule": rule, "top_label": top, "category_uri": new}
        if all(row.get(k) == v for k, v in after.items()):
            out.unchanged += 1
            continue
        out.changed += 1
        batch.append({"bucket": row["bucket"], "name": row["name"], "generation": row["generation"], **after})
        if len(batch) >= batch_size and not dry_run:
            store.update(batch)
            log(f"updated {len(batch)} rows")
            batch = []
    if batch and not dry_run:
        store.update(batch)
        log(f"updated {len(batch)} rows")
    for category, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        log(f"  {category}: {n}")
    return out


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m tools.refile", description=__doc__.split("\n\n")[0])
    ap.add_argument("--categories", required=True, help="builtin:everyday, top_label, or a YAML file (local or gs://)")
    ap.add_argument("--duckdb", metavar="PATH")
    ap.add_argument("--bigquery_dataset", metavar="PROJECT:DATASET")
    ap.add_argument("--category_root", help="where the copies are (default: found from each row's copy)")
    ap.add_argument("--quarantine_category", default="quarantine")
    ap.add_argument("--dry_run", action="store_true", help="print the new counts; move and change nothing")
    ap.add_argument("--rules_only", action="store_true",
                    help="only write the category_rules table (for the taxonomy_categories analysis); move nothing")
    ap.add_argument("--batch_size", type=int, default=BATCH, help="rows moved, then updated, together")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if bool(args.duckdb) == bool(args.bigquery_dataset):
            raise RefileError("give exactly one of --duckdb=PATH or --bigquery_dataset=PROJECT:DATASET")
        try:
            taxonomy = load_taxonomy(args.categories)
        except TaxonomyError as e:
            raise RefileError(f"--categories {e}") from None
        if args.quarantine_category in taxonomy.names:
            raise RefileError(f"--categories names {args.quarantine_category!r}, the quarantine category")
        store = DuckDBRows(args.duckdb) if args.duckdb else BigQueryRows(args.bigquery_dataset)
        if args.rules_only:
            rules = rule_rows(taxonomy)
            store.write_rules(rules)
            print(f"wrote {len(rules)} rows to category_rules ({taxonomy.source}); no copy moved")
            return 0
        out = refile(store, taxonomy, args.quarantine_category, args.category_root, args.dry_run,
                     lambda line: print(line, flush=True), max(1, args.batch_size))
    except RefileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    verb = "would change" if args.dry_run else "changed"
    print(f"{verb} {out.changed} rows ({out.moved} copies moved), {out.unchanged} unchanged"
          + (f"; {out.no_copy} had no copy left to move" if out.no_copy else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
