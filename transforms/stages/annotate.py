"""AnnotateImages: ImageRef -> AnnotatedImage (a Vision-shaped answer per image),
with the local models or the Cloud Vision API.

Both backends answer in the Vision API's response shape and keep each answer
tied to its image; every image that cannot be annotated leaves as an error row.
"""
from __future__ import annotations

from dataclasses import dataclass

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference

from transforms.records import AnnotatedImage, error_row
from transforms.stage import StageOutput
from transforms.stages.local.handler import LocalModelHandler, local_max_side
from transforms.stages.read_images import ReadImages
from transforms.stages.vision.annotate import AnnotateWithVision, VisionOptions


def _to_annotated(result) -> AnnotatedImage:
    item = result.example
    return AnnotatedImage(ref=item.ref, response=result.inference, backend="local",
                          model_version=result.model_id, analysed_size=item.image.size,
                          content_type=item.content_type, original_size=(item.width, item.height))


def _failed_batch_to_errors(failure):
    batch, exc = failure
    for item in batch:
        yield error_row(item.ref, "annotate", "model_failed",
                        f"the local model failed on this image's batch: {type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class LocalModelsOptions:
    """What a job asks of the offline models: AnnotateLocally's whole configuration. No defaults
    here: they live once in pipeline/options.py, and pipeline/graph.py fills each field."""
    features: tuple[str, ...]
    model_dir: str                        # local folder or gs:// path, built by `make setup`
    inference_batch_size: int
    detector_model: str | None            # optional YOLO-style ONNX file for OBJECT_LOCALIZATION
    precision: str                        # the ONNX models' copies: fp32 or int8 (sessions.py)


class AnnotateLocally(beam.PTransform):
    def __init__(self, options: LocalModelsOptions):
        super().__init__()
        self.options = options

    def expand(self, refs):
        s = self.options
        read = refs | "ReadImages" >> ReadImages(local_max_side(s.features))
        handler = LocalModelHandler(s.model_dir, s.features, s.inference_batch_size,
                                    detector_model=s.detector_model, precision=s.precision)
        inferred, dead = read.ok | "RunModels" >> RunInference(handler).with_exception_handling()
        annotated = inferred | "ToAnnotated" >> beam.Map(_to_annotated)
        failed = dead.failed_inferences | "FailedBatches" >> beam.FlatMap(_failed_batch_to_errors)
        errors = (read.errors, failed) | "AllErrors" >> beam.Flatten()
        return StageOutput(annotated, errors)


class AnnotateImages(beam.PTransform):
    """ImageRef -> StageOutput(ok=AnnotatedImage, errors=error rows), with the backend
    that `backend` configures: the local models or the Cloud Vision API."""

    def __init__(self, backend: LocalModelsOptions | VisionOptions):
        super().__init__()
        self.backend = backend

    def expand(self, refs):
        if isinstance(self.backend, VisionOptions):
            return refs | "AnnotateWithVision" >> AnnotateWithVision(self.backend)
        return refs | "AnnotateLocally" >> AnnotateLocally(self.backend)
