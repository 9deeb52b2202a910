"""Assemble the job graph from transforms; it reads like the picture in docs/design.md:

    listing / notifications -> images -> annotate -> parse -> copy -> results
                                                              \\-> errors
No I/O happens here: every client is built on the workers.
"""
from __future__ import annotations

import apache_beam as beam

from transforms.annotate import AnnotateImages
from transforms.copy_to_category import CopyToCategoryFolders
from transforms.list_images import ListImages
from transforms.parse_step import ParseAnnotations
from transforms.progress import TrackProgress
from transforms.write_results import WriteResults


def build_pipeline(p: beam.Pipeline, settings) -> dict:
    """Add the whole job to `p`; returns its final PCollections for callers that extend it."""
    source_errors = []
    if settings.streaming:
        from transforms.notifications import ReadGcsNotifications
        source = p | "ReadGcsNotifications" >> ReadGcsNotifications(settings.subscription, settings.category_root)
        refs = source["images"]
        source_errors.append(source["errors"])
    elif settings.input_manifest:
        from transforms.read_manifest import ReadManifest
        source = p | "ReadManifest" >> ReadManifest(settings.input_manifest, settings.category_root)
        refs = source["images"]
        source_errors.append(source["errors"])
    else:
        refs = p | "ListImages" >> ListImages(settings.input, settings.category_root)

    annotated = refs | "AnnotateImages" >> AnnotateImages(settings)
    parsed = annotated["annotated"] | "ParseAnnotations" >> ParseAnnotations(settings)
    copied = parsed.rows | "CopyToCategoryFolders" >> CopyToCategoryFolders(settings.category_root)
    rows = copied.copied | "Rows" >> beam.Values()
    errors = ([*source_errors, annotated["errors"], parsed.errors, copied.errors]
              | "AllErrors" >> beam.Flatten())

    {"classifications": rows, "errors": errors} | "WriteResults" >> WriteResults(settings)
    {"classifications": rows, "errors": errors} | "TrackProgress" >> TrackProgress(settings.streaming)
    if settings.output_topic:
        from transforms.publish_events import PublishClassificationEvents
        rows | "PublishEvents" >> PublishClassificationEvents(settings.output_topic)
    return {"classifications": rows, "errors": errors}
