"""The local backend as a Beam `ModelHandler`.

RunInference gives us, for free: one copy of the models per worker process
(loaded on first use, shared by the process's threads), batching with
BatchElements, inference metrics, and a dead-letter output for batches that
fail. Each model is loaded only when a requested feature needs it, and answers
are assembled in the Vision API's response shape so one parser serves both
backends.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from transforms.records import LoadedImage


def default_threads() -> int:
    """onnxruntime intra-op threads: the process's CPUs (Beam runs one process per core on Dataflow)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class LocalModels:
    """The models one worker process holds, and how they answer a batch."""

    def __init__(self, model_dir: str, features: Sequence[str], threads: int, detector_model: str | None = None):
        self.features = tuple(features)
        self.labeler = self.safety = None
        versions = []
        if {"LABEL_DETECTION", "OBJECT_LOCALIZATION"} & set(self.features):
            from transforms.local.labeler import Labeler
            self.labeler = Labeler(model_dir, threads)
            versions.append(Labeler.VERSION)
        if "SAFE_SEARCH_DETECTION" in self.features:
            from transforms.local.safety import SafetyModel
            self.safety = SafetyModel(model_dir, threads)
            versions.append(SafetyModel.VERSION)
        self.version = "+".join(versions)

    def annotate(self, images: Sequence) -> list[dict]:
        responses: list[dict] = [{} for _ in images]
        if self.labeler is not None:
            from transforms.local.label_hierarchy import label_annotations
            probs, _features = self.labeler.predict(np.stack([self.labeler.preprocess(im) for im in images]))
            if "LABEL_DETECTION" in self.features:
                for resp, p in zip(responses, probs):
                    resp["labelAnnotations"] = label_annotations(p)
        if self.safety is not None:
            from transforms.local.safety import safe_search_annotation
            nsfw = self.safety.predict(np.stack([self.safety.preprocess(im) for im in images]))
            for resp, p in zip(responses, nsfw):
                resp["safeSearchAnnotation"] = safe_search_annotation(float(p))
        return responses


class LocalModelHandler(ModelHandler[LoadedImage, dict, LocalModels]):
    """LoadedImage -> PredictionResult(LoadedImage, Vision-shaped response)."""

    def __init__(self, model_dir: str, features: Sequence[str], batch_size: int = 16,
                 threads: int = 0, detector_model: str | None = None):
        self.model_dir, self.features = model_dir, tuple(features)
        self.batch_size, self.threads, self.detector_model = batch_size, threads, detector_model

    def load_model(self) -> LocalModels:
        return LocalModels(self.model_dir, self.features, self.threads or default_threads(),
                           self.detector_model)

    def run_inference(self, batch: Sequence[LoadedImage], model: LocalModels,
                      inference_args=None) -> Iterable[PredictionResult]:
        responses = model.annotate([item.image for item in batch])
        return [PredictionResult(item, resp, model.version) for item, resp in zip(batch, responses)]

    def get_num_bytes(self, batch: Sequence[LoadedImage]) -> int:
        return sum(item.image.width * item.image.height * 3 for item in batch)

    def get_metrics_namespace(self) -> str:
        return "local_models"

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": self.batch_size}
