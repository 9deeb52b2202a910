"""Generate the Flex Template's `templates/metadata.json` and the options table of
`docs/running.md` from `pipeline.options.OPTIONS`, and the metrics table of
`docs/report.md` from `transforms.metrics`, so they can never drift apart.

    python -m tools.docs_gen           # rewrite both files
    python -m tools.docs_gen --check   # exit 1 (and say which) if either is stale

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
from transforms import metrics

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METADATA_PATH = os.path.join(REPO_ROOT, "templates", "metadata.json")
OPTIONS_DOC = os.path.join(REPO_ROOT, "docs", "running.md")
METRICS_DOC = os.path.join(REPO_ROOT, "docs", "report.md")
TABLE_START = "<!-- options-table:start -->"
TABLE_END = "<!-- options-table:end -->"
METRICS_START = "<!-- metrics-table:start -->"
METRICS_END = "<!-- metrics-table:end -->"

TEMPLATE_NAME = "Beam image classifier"
TEMPLATE_DESCRIPTION = (
    "Classify images in Cloud Storage with the Cloud Vision API or offline models: a streaming job "
    "fed by GCS notifications on Pub/Sub (give subscription), or a batch backfill of a bucket (give "
    "input). One row per image in BigQuery, copies in category folders.")

# On Dataflow, where everything lives in Cloud Storage, a path option (on_dataflow="gcs") must be gs://.
GCS_PATH = r"^gs://[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](/.*)?$"


def template_options() -> list[Opt]:
    return [o for o in OPTIONS if o.on_dataflow != "refused"]


def _help_text(o: Opt) -> str:
    text = o.help
    if o.default is not None:
        text += f" Default: {o.default}."
    return text


def parameter(o: Opt) -> dict:
    p = {"name": o.name, "label": o.label, "helpText": _help_text(o),
         "isOptional": o.on_dataflow != "required"}
    regex = GCS_PATH if o.on_dataflow == "gcs" else o.regex
    if regex:
        p["regexes"] = [regex]
    if o.choices:
        p["paramType"] = "ENUM"
        p["enumOptions"] = [{"value": c} for c in o.choices]
    elif o.picker:
        p["paramType"] = o.picker
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
        on_dataflow = {"refused": f"not accepted: {o.dataflow_why}", "required": "required",
                       "gcs": "optional, a gs:// path"}.get(o.on_dataflow, "optional")
        rows.append(f"| `--{o.name}` | {_cell(o.help)} | {default} | {on_dataflow} |")
    return "\n".join(rows)


def metrics_table() -> str:
    rows = ["| Metric | Kind | Meaning |", "|---|---|---|"]
    rows += [f"| `{n}` | counter | {_cell(d)} |" for n, d in metrics.COUNTERS.items()]
    rows += [f"| `{n}<...>` | counters | {_cell(d)} |" for n, d in metrics.COUNTER_PREFIXES.items()]
    rows += [f"| `{n}` | distribution | {_cell(d)} |" for n, d in metrics.DISTRIBUTIONS.items()]
    return "\n".join(rows)


def _between(text: str, start_mark: str, end_mark: str, body: str, path: str) -> str:
    start, end = text.find(start_mark), text.find(end_mark)
    if start < 0 or end < start:
        raise ValueError(f"{os.path.relpath(path, REPO_ROOT)} lacks the {start_mark} ... {end_mark} markers")
    return text[:start + len(start_mark)] + "\n" + body + "\n" + text[end:]


def generated_docs() -> dict[str, tuple[str, str]]:
    """Each page holding a generated table: path -> (its text now, its text with the table current)."""
    pages = {}
    for path, start, end, table in ((OPTIONS_DOC, TABLE_START, TABLE_END, options_table),
                                    (METRICS_DOC, METRICS_START, METRICS_END, metrics_table)):
        text = _read(path)
        pages[path] = (text, _between(text, start, end, table(), path))
    return pages


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def stale_files() -> list[str]:
    """The generated files whose content differs from what OPTIONS and the metrics give now."""
    stale = []
    if not os.path.exists(METADATA_PATH) or _read(METADATA_PATH) != metadata_text():
        stale.append(os.path.relpath(METADATA_PATH, REPO_ROOT))
    stale += [os.path.relpath(path, REPO_ROOT) for path, (now, current) in generated_docs().items() if now != current]
    return stale


def write_all() -> None:
    with open(METADATA_PATH, "w", encoding="utf-8") as f:
        f.write(metadata_text())
    for path, (now, current) in generated_docs().items():
        if current != now:
            with open(path, "w", encoding="utf-8") as f:
                f.write(current)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.docs_gen", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for path in stale:
            print(f"{path} is out of date with pipeline/options.py or transforms/metrics.py: "
                  "run `python -m tools.docs_gen`", file=sys.stderr)
        return 1 if stale else 0
    write_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
