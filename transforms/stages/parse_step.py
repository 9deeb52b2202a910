"""ParseAnnotations: AnnotatedImage -> (ImageRef, classifications row).

A per-image error inside the answer, or an answer that cannot be parsed,
becomes that image's error row; the rest of the batch is unaffected.
"""
from __future__ import annotations

import apache_beam as beam

from transforms import metrics
from transforms.records import AnnotatedImage, error_row
from transforms.stage import ERRORS, split_outputs
from transforms.stages.parse import response_error, response_to_row

FEATURE_COLUMNS = ("labels", "objects", "safe_search", "faces", "text", "landmarks", "logos", "dominant_colors")


class _Parse(beam.DoFn):
    def __init__(self, min_confidence: float, max_labels: int, quarantine_category: str):
        self.min_confidence, self.max_labels = min_confidence, max_labels
        self.quarantine_category = quarantine_category
        self.classified = metrics.counter("images_classified")

    def process(self, item: AnnotatedImage):
        err = response_error(item.response)
        if err:
            code, message = err
            yield beam.pvalue.TaggedOutput(ERRORS, error_row(item.ref, "annotate", code, message))
            return
        try:
            row = response_to_row(
                item.ref, item.response, backend=item.backend, model_version=item.model_version,
                min_confidence=self.min_confidence, max_labels=self.max_labels,
                quarantine_category=self.quarantine_category, analysed_size=item.analysed_size,
                content_type=item.content_type, original_size=item.original_size)
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


class ParseAnnotations(beam.PTransform):
    def __init__(self, settings):
        super().__init__()
        self.settings = settings

    def expand(self, annotated):
        s = self.settings
        return split_outputs(annotated | "Parse" >> beam.ParDo(
            _Parse(s.min_confidence, s.max_labels, s.quarantine_category)).with_outputs(ERRORS, main="rows"), "rows")
