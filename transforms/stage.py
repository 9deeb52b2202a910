"""The one shape every stage of the graph returns.

Like RunInference's dead-letter output, a stage hands on what it did (`ok`) and,
beside it, one error row per image it could not handle (`errors`), so
pipeline/graph.py reads as the picture in docs/design.md: each stage takes the
previous stage's `ok`, and every `errors` goes to the errors table.
"""
from __future__ import annotations

from typing import NamedTuple

import apache_beam as beam

ERRORS = "errors"   # the tag of every stage's error rows


class StageOutput(NamedTuple):
    ok: beam.PCollection
    errors: beam.PCollection


def split_outputs(outputs, main: str) -> StageOutput:
    """A ParDo's `.with_outputs(ERRORS, main=main)` as a StageOutput."""
    return StageOutput(outputs[main], outputs[ERRORS])


def no_errors(pbegin, label: str) -> beam.PCollection:
    """An empty error output, for a stage that turns no image away."""
    return pbegin | label >> beam.Create([])
