"""Assemble the job graph from transforms; it reads like the picture in docs/design.md:

    listing / manifest / notifications -> annotate -> parse -> copy -> write -> progress, events
                  \\ errors        \\ errors    \\ errors \\ errors  /

Every stage returns a StageOutput (transforms/stage.py): the next stage takes its
`ok`, and all `errors` are written beside the rows. Progress and output events
are driven by what the sink has written, so "done" means written.
No I/O happens here: every client is built on the workers.
"""
from __future__ import annotations

import apache_beam as beam

from transforms.progress import TrackProgress
from transforms.sinks.publish_events import PublishClassificationEvents
from transforms.sinks.write_results import Sinks, WriteResults
from transforms.sources.list_images import ListImages
from transforms.sources.notifications import ReadGcsNotifications
from transforms.sources.read_manifest import ReadManifest
from transforms.stage import StageOutput
from transforms.stages.annotate import AnnotateImages
from transforms.stages.copy_to_category import CopyToCategoryFolders
from transforms.stages.parse_step import ParseAnnotations


def read_source(p: beam.Pipeline, settings) -> StageOutput:
    """The images of the job: new uploads (streaming), a manifest, or a listing."""
    if settings.streaming:
        return p | "ReadGcsNotifications" >> ReadGcsNotifications(settings.subscription, settings.category_root)
    if settings.input_manifest:
        return p | "ReadManifest" >> ReadManifest(settings.input_manifest, settings.category_root)
    return p | "ListImages" >> ListImages(settings.input, settings.category_root)


def build_pipeline(p: beam.Pipeline, settings) -> StageOutput:
    """Add the whole job to `p`; returns what was written (rows, error rows) for callers that extend it."""
    images = read_source(p, settings)
    annotated = images.ok | "AnnotateImages" >> AnnotateImages(settings)
    parsed = annotated.ok | "ParseAnnotations" >> ParseAnnotations(settings)
    copied = parsed.ok | "CopyToCategoryFolders" >> CopyToCategoryFolders(settings.category_root)
    errors = ((images.errors, annotated.errors, parsed.errors, copied.errors)
              | "AllErrors" >> beam.Flatten())

    sinks = Sinks(settings.duckdb, settings.bigquery_dataset, settings.streaming)
    written = StageOutput(copied.ok, errors) | "WriteResults" >> WriteResults(sinks)
    written | "TrackProgress" >> TrackProgress(settings.streaming)
    if settings.output_topic:
        written.ok | "PublishEvents" >> PublishClassificationEvents(settings.output_topic)
    return written
