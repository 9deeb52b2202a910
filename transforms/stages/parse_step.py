"""ParseAnnotations: AnnotatedImage -> (ImageRef, classifications row).

A per-image error inside the answer, or an answer that cannot be parsed,
becomes that image's error row; the rest of the batch is unaffected.
"""
from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam

from transforms import metrics
from transforms.records import AnnotatedImage, error_row
from transforms.stage import ERRORS, split_outputs
from transforms.stages.parse import response_error, response_to_row
from transforms.taxonomy import Taxonomy

FEATURE_COLUMNS = ("labels", "objects", "safe_search", "faces", "text", "landmarks", "logos", "dominant_colors")


class _Parse(beam.DoFn):
    def __init__(self, options: "ParseOptions"):
        self.options = options
        self.classified = metrics.counter("images_classified")

    def process(self, item: AnnotatedImage):
        err = response_error(item.response)
        if err:
            code, message = err
            yield beam.pvalue.TaggedOutput(ERRORS, error_row(item.ref, "annotate", code, message))
            return
        o = self.options
        try:
            row = response_to_row(
                item.ref, item.response, backend=item.backend, model_version=item.model_version,
                min_confidence=o.min_confidence, max_labels=o.max_labels, quarantine_category=o.quarantine_category,
                taxonomy=o.taxonomy, analysed_size=item.analysed_size, content_type=item.content_type,
                original_size=item.original_size)
        except Exception as e:  # noqa: BLE001 - a malformed answer is this image's error
            yield beam.pvalue.TaggedOutput(
                ERRORS, error_row(item.ref, "parse", "bad_response", f"could not parse the answer: {e!r}"))
            return
        self.classified.inc()
        metrics.counter(f"category_{row['primary_category']}").inc()
        for column in FEATURE_COLUMNS:   # per-feature counts, shown in the Dataflow console
            if row.get(column):
                metrics.counter(f"found_{column}").inc()
        if row.get("is_safe") is False:
            metrics.counter("unsafe_images").inc()
        yield item.ref, row


@dataclass(frozen=True)
class ParseOptions:
    """How an answer becomes a row: ParseAnnotations' whole configuration. No defaults here:
    they live once in pipeline/options.py, and pipeline/graph.py fills each field."""
    min_confidence: float
    max_labels: int
    quarantine_category: str
    taxonomy: Taxonomy      # --categories, parsed before the job starts


class ParseAnnotations(beam.PTransform):
    """AnnotatedImage -> StageOutput(ok=(ImageRef, row), errors=error rows)."""

    def __init__(self, options: ParseOptions):
        super().__init__()
        self.options = options

    def expand(self, annotated):
        return split_outputs(annotated | "Parse" >> beam.ParDo(
            _Parse(self.options)).with_outputs(ERRORS, main="rows"), "rows")
