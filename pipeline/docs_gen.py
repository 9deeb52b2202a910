"""Generate the Flex Template's `templates/metadata.json` and the README's options
table from `pipeline.options.OPTIONS`, so the three can never drift apart.

    python -m pipeline.docs_gen           # rewrite both files
    python -m pipeline.docs_gen --check   # exit 1 (and say which) if either is stale

The metadata is what the Dataflow console and `gcloud dataflow flex-template run`
validate parameters against; the table is what a person reads. Both come from
the same list the command line is parsed from.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from pipeline.options import OPTIONS, Opt

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METADATA_PATH = os.path.join(REPO_ROOT, "templates", "metadata.json")
README_PATH = os.path.join(REPO_ROOT, "README.md")
TABLE_START = "<!-- options-table:start -->"
TABLE_END = "<!-- options-table:end -->"

TEMPLATE_NAME = "Beam image classifier"
TEMPLATE_DESCRIPTION = (
    "Classify images in Cloud Storage with the Cloud Vision API or offline models: a streaming job "
    "fed by GCS notifications on Pub/Sub (give subscription), or a batch backfill of a bucket (give "
    "input). One row per image in BigQuery, copies in category folders.")

# Options that make no sense on Dataflow workers, with the reason shown in the README.
NOT_ON_DATAFLOW = {
    "duckdb": "a file on one worker's disk would be lost; use bigquery_dataset",
}
# Stricter validation on Dataflow, where everything lives in Cloud Storage.
GCS_PATH = r"^gs://[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](/.*)?$"
DATAFLOW_REGEX = {"input": GCS_PATH, "category_root": GCS_PATH, "model_dir": GCS_PATH,
                  "detector_model": GCS_PATH}
# Required on Dataflow although optional locally (locally DuckDB is the default sink).
REQUIRED_ON_DATAFLOW = {"bigquery_dataset"}
# Console input pickers for parameters that name a cloud resource.
PARAM_TYPES = {
    "input": "GCS_READ_FOLDER", "subscription": "PUBSUB_SUBSCRIPTION",
    "category_root": "GCS_WRITE_FOLDER", "model_dir": "GCS_READ_FOLDER",
    "detector_model": "GCS_READ_FILE", "output_topic": "PUBSUB_TOPIC",
}


def template_options() -> list[Opt]:
    return [o for o in OPTIONS if o.name not in NOT_ON_DATAFLOW]


def _help_text(o: Opt) -> str:
    text = o.help
    if o.default is not None:
        text += f" Default: {o.default}."
    return text


def parameter(o: Opt) -> dict:
    p = {"name": o.name, "label": o.label, "helpText": _help_text(o),
         "isOptional": o.name not in REQUIRED_ON_DATAFLOW}
    regex = DATAFLOW_REGEX.get(o.name, o.regex)
    if regex:
        p["regexes"] = [regex]
    if o.choices:
        p["paramType"] = "ENUM"
        p["enumOptions"] = [{"value": c} for c in o.choices]
    elif o.name in PARAM_TYPES:
        p["paramType"] = PARAM_TYPES[o.name]
    elif o.type in (int, float):
        p["paramType"] = "NUMBER"
    else:
        p["paramType"] = "TEXT"
    if o.default is not None:
        p["defaultValue"] = str(o.default)
    return p


def metadata() -> dict:
    """The Flex Template metadata: every option a Dataflow user can set, and streaming support."""
    return {
        "name": TEMPLATE_NAME,
        "description": TEMPLATE_DESCRIPTION,
        "streaming": True,
        "supportsAtLeastOnce": True,
        "supportsExactlyOnce": True,
        "defaultStreamingMode": "STREAMING_MODE_EXACTLY_ONCE",
        "parameters": [parameter(o) for o in template_options()],
    }


def metadata_text() -> str:
    return json.dumps(metadata(), indent=2, ensure_ascii=False) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def options_table() -> str:
    rows = ["| Option | Meaning | Default | Dataflow template |", "|---|---|---|---|"]
    for o in OPTIONS:
        default = "" if o.default is None else f"`{o.default}`"
        if o.name in NOT_ON_DATAFLOW:
            on_dataflow = f"not accepted: {NOT_ON_DATAFLOW[o.name]}"
        else:
            on_dataflow = "required" if o.name in REQUIRED_ON_DATAFLOW else "optional"
        rows.append(f"| `--{o.name}` | {_cell(o.help)} | {default} | {on_dataflow} |")
    return "\n".join(rows)


def readme_with_table(readme: str) -> str:
    start, end = readme.find(TABLE_START), readme.find(TABLE_END)
    if start < 0 or end < start:
        raise ValueError(f"README.md lacks the {TABLE_START} ... {TABLE_END} markers")
    return readme[:start + len(TABLE_START)] + "\n" + options_table() + "\n" + readme[end:]


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def stale_files() -> list[str]:
    """The generated files whose content differs from what OPTIONS gives now."""
    stale = []
    if not os.path.exists(METADATA_PATH) or _read(METADATA_PATH) != metadata_text():
        stale.append(os.path.relpath(METADATA_PATH, REPO_ROOT))
    readme = _read(README_PATH)
    if readme_with_table(readme) != readme:
        stale.append(os.path.relpath(README_PATH, REPO_ROOT))
    return stale


def write_all() -> None:
    with open(METADATA_PATH, "w", encoding="utf-8") as f:
        f.write(metadata_text())
    readme = _read(README_PATH)
    new = readme_with_table(readme)
    if new != readme:
        with open(README_PATH, "w", encoding="utf-8") as f:
            f.write(new)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.docs_gen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"{path} is out of date with pipeline/options.py: run `python -m pipeline.docs_gen`",
                  file=sys.stderr)
        return 1 if stale else 0
    write_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
