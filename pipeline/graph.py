"""Assemble the job graph from transforms; it reads like the picture in docs/design.md:

    listing / manifest / notifications -> annotate -> parse -> copy -> write -> progress, events
                  \\ errors        \\ errors    \\ errors \\ errors  /

Every stage returns a StageOutput (transforms/stage.py): the next stage takes its
`ok`, and all `errors` are written beside the rows. Each stage gets its own small
typed options, made here from the job's settings. Progress and output events
are driven by what the sink has written, so "done" means written.
No I/O happens here: every client is built on the workers.
"""
from __future__ import annotations

import apache_beam as beam

from pipeline.settings import Settings
from transforms.progress import TrackProgress
from transforms.sinks.publish_events import PublishClassificationEvents
from transforms.sinks.write_results import Sinks, WriteResults
from transforms.sources.list_images import ListImages
from transforms.sources.notifications import ReadGcsNotifications
from transforms.sources.read_manifest import ReadManifest
from transforms.stage import StageOutput
from transforms.stages.annotate import AnnotateImages, LocalModelsOptions
from transforms.stages.copy_to_category import CopyToCategoryFolders
from transforms.stages.parse_step import ParseAnnotations, ParseOptions
from transforms.stages.vision.annotate import VisionOptions


def read_source(p: beam.Pipeline, settings: Settings) -> StageOutput:
    """The images of the job: new uploads (streaming), a manifest, or a listing."""
    if settings.subscription:
        return p | "ReadGcsNotifications" >> ReadGcsNotifications(settings.subscription, settings.category_root)
    if settings.input_manifest:
        return p | "ReadManifest" >> ReadManifest(settings.input_manifest, settings.category_root)
    if settings.input:
        return p | "ListImages" >> ListImages(settings.input, settings.category_root)
    raise ValueError("the settings name no source")   # resolve() refuses such a command line


def backend_options(settings: Settings) -> LocalModelsOptions | VisionOptions:
    """The annotation backend's own configuration, from the job's settings."""
    if settings.backend == "vision":
        return VisionOptions(
            endpoint=settings.vision_endpoint, features=settings.features, max_labels=settings.max_labels,
            max_concurrent_requests=settings.max_concurrent_requests,
            requests_per_minute=settings.vision_requests_per_minute,
            batch_max_wait_secs=settings.batch_max_wait_secs, job_limit=settings.vision_rate_limit,
            call_deadline_secs=settings.vision_call_deadline_secs)
    return LocalModelsOptions(features=settings.features, model_dir=settings.model_dir,
                              inference_batch_size=settings.inference_batch_size,
                              detector_model=settings.detector_model, precision=settings.local_precision)


def parse_options(settings: Settings) -> ParseOptions:
    return ParseOptions(min_confidence=settings.min_confidence, max_labels=settings.max_labels,
                        quarantine_category=settings.quarantine_category, taxonomy=settings.taxonomy)


def sinks(settings: Settings) -> Sinks:
    return Sinks(duckdb=settings.duckdb, bigquery_dataset=settings.bigquery_dataset,
                 streaming=settings.streaming, firestore=settings.firestore)


def build_pipeline(p: beam.Pipeline, settings: Settings) -> StageOutput:
    """Add the whole job to `p`; returns what was written (rows, error rows) for callers that extend it."""
    images = read_source(p, settings)
    annotated = images.ok | "AnnotateImages" >> AnnotateImages(backend_options(settings))
    parsed = annotated.ok | "ParseAnnotations" >> ParseAnnotations(parse_options(settings))
    copied = parsed.ok | "CopyToCategoryFolders" >> CopyToCategoryFolders(settings.category_root)
    errors = ((images.errors, annotated.errors, parsed.errors, copied.errors)
              | "AllErrors" >> beam.Flatten())

    written = StageOutput(copied.ok, errors) | "WriteResults" >> WriteResults(sinks(settings))
    written | "TrackProgress" >> TrackProgress(settings.streaming)
    if settings.output_topic:
        written.ok | "PublishEvents" >> PublishClassificationEvents(settings.output_topic)
    return written
