"""Beam's own pattern for a remote model, on the Vision quota bench: the comparison row.

`RunInference(VisionHandler(...)).with_exception_handling()`, where `VisionHandler` is
a `RemoteModelHandler`: Beam's `ReactiveThrottler` (a fixed delay when it decides to
throttle), its retry decorator (exponential backoff, no Retry-After) and
RunInference's batching (16 images per call), one call at a time per bundle thread.
It uses our client, request builder and error classes, so only the pacing differs
from `AnnotateWithVision`. Only the bench runs it: `VISION_BENCH_HANDLER=beam`.
"""
from __future__ import annotations

from collections.abc import Sequence

import apache_beam as beam
from apache_beam.ml.inference.base import PredictionResult, RemoteModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.sources.list_images import ListImages
from transforms.stages.read_images import read_bytes
from transforms.stages.vision.backpressure import FATAL, classify
from transforms.stages.vision.client import make_client, to_request
from transforms.stages.vision.image_requests import MAX_IMAGES_PER_CALL

FEATURES = (("LABEL_DETECTION", 15),)


class VisionHandler(RemoteModelHandler):
    """(uri, bytes) -> PredictionResult whose inference is the image's response."""

    def __init__(self, endpoint: str):
        super().__init__(namespace="bench_vision_beam", retry_filter=lambda e: classify(e) != FATAL)
        self.endpoint = endpoint

    def create_client(self):
        return make_client(self.endpoint)

    def request(self, batch: Sequence, model, inference_args=None):  # noqa: ARG002 - Beam's signature
        requests = [to_request({"content": content, "features": FEATURES}) for _uri, content in batch]
        answer = model.batch_annotate_images(requests=requests, retry=None, timeout=60)
        return [PredictionResult(example, response) for example, response in zip(batch, answer.responses,
                                                                                  strict=True)]

    def batch_elements_kwargs(self):
        return {"min_batch_size": MAX_IMAGES_PER_CALL, "max_batch_size": MAX_IMAGES_PER_CALL}


def run_pipeline(images: str, url: str, count) -> dict:
    """List `images`, annotate them through Beam's handler, count rows and error rows (`count(name)`
    is the bench's counting Map)."""
    from apache_beam.metrics.metric import MetricsFilter
    p = beam.Pipeline(options=PipelineOptions(["--runner=FnApiRunner"]))
    refs = (p | "List" >> ListImages(images, images + "/classified")).ok
    pairs = refs | "Read" >> beam.Map(lambda ref: (ref.uri, read_bytes(ref)))
    results, dead_letters = pairs | RunInference(VisionHandler(url)).with_exception_handling()
    results | "CountOk" >> beam.Map(count("annotated"))
    dead_letters.failed_inferences | "CountErrors" >> beam.Map(count("errors"))
    result = p.run()
    result.wait_until_finish()
    return {c.key.metric.name: c.committed for c in result.metrics().query(MetricsFilter())["counters"]}
