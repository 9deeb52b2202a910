"""Check rows against the one table definition before they reach BigQuery.

The emulator accepts unknown fields and missing REQUIRED values silently, and a
load job rejects a whole file for one bad row, so rows are checked here, in the
pipeline, where a bad row can become an error row for its image instead of a
failed job. The rules are BigQuery's: REQUIRED values present, types as
declared (INT64 in range, FLOAT64 finite, STRING valid UTF-8, TIMESTAMP
parseable and within 0001..9999), REPEATED values are lists without nulls, no
fields the schema does not know, and a row no bigger than a streaming insert
accepts.
"""
from __future__ import annotations

import datetime as dt
import json
import math

import apache_beam as beam

from transforms import metrics
from transforms.records import error_row, utcnow_iso
from transforms.schema import TABLES, Field
from transforms.stage import StageOutput

INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1
MAX_ROW_BYTES = 9 * 1024 * 1024   # streaming inserts take 10 MB per row; keep a margin for the request


def _timestamp_problem(value) -> str | None:
    if isinstance(value, dt.datetime):
        return None
    if not isinstance(value, str):
        return f"expected an ISO 8601 timestamp, got {type(value).__name__}"
    try:
        dt.datetime.fromisoformat(value)
    except ValueError:
        return f"not an ISO 8601 timestamp: {value[:40]!r}"
    return None


def _string_problem(value) -> str | None:
    if not isinstance(value, str):
        return f"expected STRING, got {type(value).__name__}"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid UTF-8"
    return None


def _int64_problem(value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"expected INT64, got {type(value).__name__}"
    return None if INT64_MIN <= value <= INT64_MAX else "INT64 out of range"


def _float64_problem(value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected FLOAT64, got {type(value).__name__}"
    return None if math.isfinite(value) else "FLOAT64 is not finite"


def _bool_problem(value) -> str | None:
    return None if isinstance(value, bool) else f"expected BOOL, got {type(value).__name__}"


_SCALAR_CHECKS = {"STRING": _string_problem, "INT64": _int64_problem, "FLOAT64": _float64_problem,
                  "BOOL": _bool_problem, "TIMESTAMP": _timestamp_problem}


def _scalar_problem(f: Field, value) -> str | None:
    check = _SCALAR_CHECKS.get(f.type)
    return check(value) if check else None


def _field_problems(fields: tuple[Field, ...], record, path: str) -> list[str]:
    if not isinstance(record, dict):
        return [f"{path or 'row'}: expected a record, got {type(record).__name__}"]
    known = {f.name for f in fields}
    out = [f"{path}{k}: not in the schema" for k in record if k not in known]
    for f in fields:
        out += _value_problems(f, record.get(f.name), f"{path}{f.name}")
    return out


def _value_problems(f: Field, value, path: str) -> list[str]:
    if value is None:
        return [f"{path}: REQUIRED but missing"] if f.mode == "REQUIRED" else []
    if f.mode == "REPEATED":
        if not isinstance(value, (list, tuple)):
            return [f"{path}: REPEATED but got {type(value).__name__}"]
        out = []
        for i, item in enumerate(value):
            if item is None:
                out.append(f"{path}[{i}]: null inside a REPEATED field")
            else:
                out += _one_value_problems(f, item, f"{path}[{i}]")
        return out
    return _one_value_problems(f, value, path)


def _one_value_problems(f: Field, value, path: str) -> list[str]:
    if f.type == "RECORD":
        return _field_problems(f.fields, value, path + ".")
    problem = _scalar_problem(f, value)
    return [f"{path}: {problem}"] if problem else []


def problems(table: str, row) -> list[str]:
    """Everything BigQuery would reject in `row` of `table`; empty when it is valid."""
    out = _field_problems(TABLES[table], row, "")
    if not out:
        size = len(json.dumps(to_bigquery_json(table, row), ensure_ascii=False).encode("utf-8"))
        if size > MAX_ROW_BYTES:
            out.append(f"row is {size} bytes; at most {MAX_ROW_BYTES}")
    return out


def to_bigquery_json(table: str, row: dict) -> dict:
    """The row as BigQuery's JSON: datetimes as ISO strings, absent REPEATED values as []."""
    def conv(fields, record):
        out = {}
        for f in fields:
            value = record.get(f.name)
            if value is None:
                out[f.name] = [] if f.mode == "REPEATED" else None
            elif f.mode == "REPEATED":
                out[f.name] = [conv(f.fields, v) if f.type == "RECORD" else _scalar_json(v) for v in value]
            elif f.type == "RECORD":
                out[f.name] = conv(f.fields, value)
            else:
                out[f.name] = _scalar_json(value)
        return out
    return conv(TABLES[table], row)


def _scalar_json(value):
    return value.isoformat() if isinstance(value, dt.datetime) else value


def repair_error_row(row: dict) -> dict:
    """An error row that would itself be rejected, made writable: the failure
    must still be recorded. Unknown fields go, required text is filled in."""
    known = {f.name for f in TABLES["errors"]}
    fixed = {k: v for k, v in row.items() if k in known}
    for name in ("uri", "stage", "code", "message"):
        value = fixed.get(name)
        fixed[name] = "unknown" if value is None else str(value).encode("utf-8", "replace").decode("utf-8")
    for name in ("bucket", "name"):
        if fixed.get(name) is not None:
            fixed[name] = str(fixed[name]).encode("utf-8", "replace").decode("utf-8")
    for name in ("generation", "attempts"):
        if _scalar_problem(Field(name, "INT64"), fixed.get(name)) and fixed.get(name) is not None:
            fixed[name] = None
    if fixed.get("failed_at") is None or _timestamp_problem(fixed["failed_at"]):
        fixed["failed_at"] = utcnow_iso()
    fixed["message"] = fixed["message"][:100_000]
    return fixed


def invalid_row_error(table: str, row, found: list[str]) -> dict:
    """The error row for an image whose result row cannot be written."""
    row = row if isinstance(row, dict) else {}
    err = error_row(None, "write", "invalid_row",
                    f"{table} row rejected before writing: " + "; ".join(found)[:2000],
                    uri=str(row.get("uri") or "unknown"))
    for key in ("bucket", "name", "generation"):
        err[key] = row.get(key)
    return repair_error_row(err)


class _Validate(beam.DoFn):
    INVALID = "invalid"

    def __init__(self, table: str):
        self.table = table
        self.rejected = metrics.counter(f"invalid_{table}_rows")

    def process(self, row):
        if self.table == "errors":
            if problems("errors", row):
                row = repair_error_row(row)
        found = problems(self.table, row)
        if not found:
            yield to_bigquery_json(self.table, row)
            return
        self.rejected.inc()
        yield beam.pvalue.TaggedOutput(self.INVALID, invalid_row_error(self.table, row, found))


class ValidateRows(beam.PTransform):
    """Split rows of `table` into BigQuery-ready rows (main output) and error rows
    for the ones BigQuery would reject (output `invalid`). Error rows are repaired
    rather than rejected, so every failure is still recorded."""

    def __init__(self, table: str):
        super().__init__()
        self.table = table

    def expand(self, rows):
        return rows | "Check" >> beam.ParDo(_Validate(self.table)).with_outputs(_Validate.INVALID, main="valid")


class ValidateTables(beam.PTransform):
    """StageOutput(rows, error rows) -> the same, made writable: a row that
    cannot be written becomes its image's error row, beside the others. Every
    sink runs it first, so one bad row never fails a batch, a file or a job."""

    def expand(self, results):
        rows = results.ok | "ValidateClassifications" >> ValidateRows("classifications")
        errors = ((results.errors, rows.invalid) | "AllErrors" >> beam.Flatten()
                  | "ValidateErrors" >> ValidateRows("errors"))
        return StageOutput(rows.valid, errors.valid)
