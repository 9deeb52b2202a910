"""The shipped analyses: one GoogleSQL file each in `sql/`, with a header that says
what it answers and declares its parameters (`@name TYPE [= default]  help`).

The files are plain GoogleSQL with unqualified table names, so they can be pasted
into the BigQuery console or run with `bq query --dataset_id=PROJECT:DATASET`;
this module only reads them and types the values given for their parameters.
Running them is `tools.warehouse`'s job.
"""
from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SQL_DIR = os.environ.get("IMAGE_CLASSIFIER_SQL_DIR", os.path.join(REPO_ROOT, "sql"))

_TITLE = re.compile(r"^--\s*(?P<name>\w+)(?:\s*\((?P<kind>view)\))?:\s*(?P<summary>.+)$")
_PARAM = re.compile(r"^--\s+@(?P<name>\w+)\s+(?P<type>STRING|INT64|FLOAT64|BOOL|DATE)"
                    r"(?:\s*=\s*(?P<default>\S+))?\s*(?P<help>.*)$")
_CONVERT: dict[str, Callable[[str], object]] = {
    "STRING": str, "INT64": int, "FLOAT64": float, "DATE": dt.date.fromisoformat,
    "BOOL": lambda v: {"true": True, "false": False}[v.strip().lower()],
}


class AnalyticsError(ValueError):
    """A wrong name, parameter or target, reported as one line."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: str | None
    help: str


@dataclass(frozen=True)
class Analysis:
    name: str
    kind: str            # "analysis" or "view"
    summary: str
    answers: str
    params: tuple[Param, ...]
    sql: str             # the whole file, header included

    @property
    def body(self) -> str:
        """The SQL without its header comment (the emulator counts @names even in comments)."""
        lines = self.sql.splitlines()
        while lines and (lines[0].startswith("--") or not lines[0].strip()):
            lines.pop(0)
        return "\n".join(lines)


def parse_sql_file(path: str) -> Analysis:
    text = open(path, encoding="utf-8").read()
    header = []
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        header.append(line)
    title = _TITLE.match(header[0]) if header else None
    if not title:
        raise AnalyticsError(f"{path}: the first line must be '-- name: what it answers'")
    answers, params, in_answers = [], [], False
    for line in header[1:]:
        body = line[2:].strip()
        if body.startswith("Answers:"):
            in_answers, body = True, body[len("Answers:"):].strip()
        elif body.startswith("Parameters:"):
            in_answers = False
        m = _PARAM.match(line)
        if m:
            params.append(Param(m["name"], m["type"], m["default"], m["help"].strip()))
        elif in_answers and body:
            answers.append(body)
    return Analysis(title["name"], title["kind"] or "analysis", title["summary"].strip(),
                    " ".join(answers), tuple(params), text)


def catalog(sql_dir: str = SQL_DIR) -> dict[str, Analysis]:
    """Every .sql file in the folder, by name."""
    out = {}
    for fname in sorted(os.listdir(sql_dir)):
        if fname.endswith(".sql"):
            a = parse_sql_file(os.path.join(sql_dir, fname))
            out[a.name] = a
    return out


def bind(analysis: Analysis, given: dict[str, str]) -> dict[str, object]:
    """Typed values for the declared parameters; unknown, missing or malformed ones are errors."""
    declared = {p.name: p for p in analysis.params}
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise AnalyticsError(f"{analysis.name} has no parameter {unknown[0]!r} "
                             f"(it takes: {', '.join(declared) or 'none'})")
    values = {}
    for p in analysis.params:
        raw = given.get(p.name, p.default)
        if raw is None:
            raise AnalyticsError(f"{analysis.name} needs --param {p.name}=VALUE ({p.help})")
        try:
            values[p.name] = _CONVERT[p.type](raw)
        except (ValueError, KeyError):
            raise AnalyticsError(f"--param {p.name}={raw!r} is not a {p.type}") from None
    return values
