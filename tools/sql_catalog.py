"""The shipped analyses: one GoogleSQL file each in `sql/`, with a header that says
what it answers and declares its parameters (`@name TYPE [[low..high]] [= default]  help`).

The files are plain GoogleSQL with unqualified table names, so they can be pasted
into the BigQuery console or run with `bq query --dataset_id=PROJECT:DATASET`;
this module only reads them and types the values given for their parameters.
The header is the one place a parameter's type and range are written: a number
outside it, or text that is not plainly a number of that type (`nan`, `1_0`,
` 12`), is refused here with one line naming the parameter and its range, before
any query runs. Running them is `tools.warehouse`'s job.
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
_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_PARAM = re.compile(r"^--\s+@(?P<name>\w+)\s+(?P<type>STRING|INT64|FLOAT64|BOOL|DATE)"
                    rf"(?:\s*\[(?P<low>{_NUMBER})\.\.(?P<high>{_NUMBER})\])?"
                    r"(?:\s*=\s*(?P<default>\S+))?\s*(?P<help>.*)$")
# Python's int() and float() also take `1_0`, ` 12`, `nan`, `inf` and non-ASCII digits:
# only the plain spellings BigQuery's INT64 and FLOAT64 literals use are accepted.
_PLAIN = {"INT64": re.compile(r"[+-]?[0-9]+"), "FLOAT64": re.compile(_NUMBER, re.ASCII)}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
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
    low: int | float | None = None    # the accepted range, inclusive (numbers only)
    high: int | float | None = None

    def range_text(self) -> str:
        kind = f"{'an' if self.type == 'INT64' else 'a'} {self.type}"
        if self.low is None:
            return f"{self.name} takes {kind}"
        return f"{self.name} takes {kind} from {self.low:g} to {self.high:g}"

    def value(self, raw: str) -> object:
        """The typed value of `raw`, or AnalyticsError naming the parameter and its range."""
        plain = _PLAIN.get(self.type)
        try:
            if plain is not None and not plain.fullmatch(raw):
                raise ValueError(raw)
            value = _CONVERT[self.type](raw)
        except (ValueError, KeyError):
            article = "an" if self.type == "INT64" else "a"
            raise AnalyticsError(f"--param {self.name}={raw!r} is not {article} {self.type} "
                                 f"({self.range_text()})") from None
        low, high = (INT64_MIN, INT64_MAX) if self.type == "INT64" and self.low is None else (self.low, self.high)
        if low is not None and not low <= value <= high:   # type: ignore[operator]
            raise AnalyticsError(f"--param {self.name}={raw!r} is out of range: {self.range_text()}")
        return value


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
            params.append(_param(path, m))
        elif in_answers and body:
            answers.append(body)
    return Analysis(title["name"], title["kind"] or "analysis", title["summary"].strip(),
                    " ".join(answers), tuple(params), text)


def _param(path: str, m: re.Match) -> Param:
    low, high = m["low"], m["high"]
    if low is not None and m["type"] not in ("INT64", "FLOAT64"):
        raise AnalyticsError(f"{path}: @{m['name']} is a {m['type']}: only numbers take a range")
    number = int if m["type"] == "INT64" else float
    bounds = (number(low), number(high)) if low is not None else (None, None)
    return Param(m["name"], m["type"], m["default"], m["help"].strip(), *bounds)


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
        values[p.name] = p.value(raw)
    return values
