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
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from transforms.records import LoadedImage
from transforms.stages.backends import TEXT_FEATURES
from transforms.stages.local.face_labels import face_labels


def local_max_side(features) -> int:
    """Largest side images are shrunk to for the local models. Text needs pixels (2048);
    nothing else does: the classifier and open_nsfw see 256 px, the face detector 384 px,
    colours 128 px. 640 keeps a margin and lets the JPEG draft decode a 12 MP photo at 1/4
    scale, which is most of the decode time saved."""
    return 2048 if TEXT_FEATURES & set(features) else 640


def default_threads() -> int:
    """onnxruntime intra-op threads: the process's CPUs (Beam runs one process per core on Dataflow)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


LABEL_FEATURES = {"LABEL_DETECTION"}
INTERNAL_KEYS = {"confirmed", "renamed_from"}  # box_names.py's notes, not part of Vision's shape
FACE_USERS = {"FACE_DETECTION", "LABEL_DETECTION", "OBJECT_LOCALIZATION"}
DETECTOR_USERS = {"LABEL_DETECTION", "OBJECT_LOCALIZATION"}


def box_area(obj: dict) -> float:
    v = obj["boundingPoly"]["normalizedVertices"]
    return max(0.0, v[2]["x"] - v[0]["x"]) * max(0.0, v[2]["y"] - v[0]["y"])


def salience(score: float, area: float) -> float:
    """How much a detected class is what the photo shows: its best score, discounted down
    to 0.85 when its boxes together cover little of the photo (full weight from a quarter
    up). It ranks labels (`topicality`), so the primary category is the bus that fills a
    street scene or the six players round a table, not a face in it."""
    return score * (0.85 + 0.15 * min(1.0, area / 0.25))


def detector_labels(objects: list[dict]) -> list[dict]:
    """Each class the object detector found, as a label scored by its best box and ranked
    by the area of all its boxes (Vision also returns its objects' names among the labels)."""
    best: dict[str, dict] = {}
    area: dict[str, float] = {}
    for o in objects:
        name = o["name"]
        entry = best.setdefault(name, {"mid": o.get("mid", ""), "description": name, "score": 0.0})
        entry["score"] = max(entry["score"], o["score"])
        area[name] = area.get(name, 0.0) + box_area(o)
    return [{**e, "topicality": salience(e["score"], area[name])} for name, e in best.items()]


def merge_labels(*groups: list[dict]) -> list[dict]:
    """One label per description (the best-scored), best topicality first."""
    best: dict[str, dict] = {}
    for group in groups:
        for a in group:
            key = a["description"].lower()
            if key not in best or a["score"] > best[key]["score"]:
                best[key] = a
    return sorted(best.values(), key=lambda a: -a["topicality"])


class LocalModels:
    """The models one worker process holds, and how they answer a batch.

    A model is loaded only when a requested feature needs it: the classifier for labels
    and objects, the face detector for faces, labels ("Person"/"Face") and objects
    ("Face" boxes), open_nsfw for safe search, RapidOCR for text, the user's detector
    for objects when given. Colours need no model. `timings` accumulates seconds per
    stage, which the benchmark reads.
    """

    def __init__(self, model_dir: str, features: Sequence[str], threads: int, detector_model: str | None = None,
                 precision: str = "fp32"):
        from transforms.stages.local import sessions

        sessions.configure(sessions.with_env(sessions.SessionConfig(precision=precision)))
        self.lanes = sessions.current().lanes
        lane_threads = 1 if self.lanes else threads  # the four models of the two lanes
        self.features = feats = frozenset(features)
        self.labeler = self.safety = self.faces = self.ocr = self.detector = self.fc_weight = self.coco = None
        self.expressions = None
        self.timings: dict[str, float] = {}
        versions = []
        # Each model's module (and its runtime: ONNX Runtime, RapidOCR, LiteRT) is imported
        # only when a feature asks for it, so a worker loads just what the job uses.
        if {"LABEL_DETECTION", "OBJECT_LOCALIZATION"} & feats:
            from transforms.stages.local.labeler import Labeler
            self.labeler = Labeler(model_dir, lane_threads)
            versions.append(Labeler.VERSION)
        if DETECTOR_USERS & feats:
            from transforms.stages.local.model_choice import coco_detector
            self.coco = coco_detector(model_dir, lane_threads)
            versions.append(self.coco.VERSION)
        if "OBJECT_LOCALIZATION" in feats:
            from transforms.stages.local.objects import load_fc_weight
            self.fc_weight = load_fc_weight(model_dir)
            if detector_model:
                from transforms.stages.local.objects import PluginDetector
                self.detector = PluginDetector(detector_model, threads)
                versions.append(self.detector.version)
        if "SAFE_SEARCH_DETECTION" in feats:
            from transforms.stages.local.safety import SafetyModel
            self.safety = SafetyModel(model_dir, lane_threads)
            versions.append(SafetyModel.VERSION)
        if FACE_USERS & feats:
            from transforms.stages.local.faces import FaceDetector
            self.faces = FaceDetector(threads=1)  # three tiny graphs: a thread pool costs more than it gives
            versions.append(FaceDetector.VERSION)
        if "FACE_DETECTION" in feats:
            from transforms.stages.local.expressions import ExpressionModel
            self.expressions = ExpressionModel(model_dir)
            versions.append(ExpressionModel.VERSION)
        if TEXT_FEATURES & feats:
            from transforms.stages.local.ocr import TextReader
            self.ocr = TextReader(threads)
            versions.append(TextReader.VERSION)
        if "IMAGE_PROPERTIES" in feats:
            from transforms.stages.local.colors import VERSION as COLORS_VERSION
            versions.append(COLORS_VERSION)
        self.version = "+".join(versions)
        # The side lane's thread (see _run_models), made with the models: RunInference loads
        # them once per worker process, so this is the process's one lane thread too.
        self.side_lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="side-lane")

    def _timed(self, stage: str, fn, *args):
        t0 = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - t0

    def annotate(self, images: Sequence) -> list[dict]:
        """One Vision-shaped response dict per image, in order."""
        responses: list[dict] = [{} for _ in images]
        probs, cam_features, nsfw, detected, faces = self._run_models(images)
        if probs is not None and self.coco is not None and not self.lanes:  # in lanes: named in _run_models
            detected = self._timed("box_names", self._name_boxes, images, detected, probs)
        if probs is not None:
            self._add_labels_and_objects(responses, images, probs, cam_features, faces, detected)
        if nsfw is not None:
            from transforms.stages.local.safety import safe_search_annotation
            for resp, p in zip(responses, nsfw, strict=True):
                resp["safeSearchAnnotation"] = safe_search_annotation(float(p))
        if "FACE_DETECTION" in self.features:
            self._add_faces(responses, images, faces)
        if self.ocr is not None:
            for resp, im in zip(responses, images, strict=True):
                resp.update(self._timed("ocr", self.ocr.annotate, im))
        if "IMAGE_PROPERTIES" in self.features:
            from transforms.stages.local.colors import image_properties_annotation
            for resp, im in zip(responses, images, strict=True):
                resp["imagePropertiesAnnotation"] = self._timed("colors", image_properties_annotation, im)
        return responses

    def _run_models(self, images: Sequence):
        """The batch through every loaded model: (probs, cam features, nsfw, detections, faces)."""
        # Two lanes, as onnxruntime releases the GIL: a side thread and this one. By default
        # (sessions.SessionConfig.lanes) the COCO detector, the heaviest model, has the side
        # thread and every session one intra-op thread, so each core runs one lane with no
        # thread-pool hand-offs; otherwise the face detector has it and the others use every core.
        # In lanes the detector's lane also names its boxes (box_names.py) once the classifier,
        # first on this lane, has read the whole photos: the two lanes then take about as long.
        from concurrent.futures import Future

        whole: Future = Future()

        def run_faces():
            return [self._timed("faces", self.faces.detect, im) for im in images] if self.faces else None

        def run_coco():
            if not self.coco:
                return None
            found = self._timed("detector_coco", self.coco.detect_batch, images)
            read = whole.result() if self.lanes else None
            return self._timed("box_names", self._name_boxes, images, found, read) if read is not None else found

        side, here = (run_coco, run_faces) if self.lanes else (run_faces, run_coco)
        pending = self.side_lane.submit(side)
        probs = cam_features = nsfw = None
        try:
            if self.labeler is not None:
                batch = self._timed("classifier_preprocess",
                                    lambda: np.stack([self.labeler.preprocess(im) for im in images]))
                probs, cam_features = self._timed("classifier", self.labeler.predict, batch)
        finally:
            whole.set_result(probs)  # None (no naming) when the classifier did not run or failed
        if self.safety is not None:
            batch = self._timed("safety_preprocess", lambda: np.stack([self.safety.preprocess(im) for im in images]))
            nsfw = self._timed("safety", self.safety.predict, batch)
        mine, theirs = here(), pending.result()
        detected, faces = (theirs, mine) if self.lanes else (mine, theirs)
        none: list[list[dict]] = [[] for _ in images]
        return (probs, cam_features, nsfw, detected if detected is not None else none,
                faces if faces is not None else none)

    def _name_boxes(self, images: Sequence, detected: list[list[dict]], whole: np.ndarray) -> list[list[dict]]:
        """Each image's detector boxes checked by the classifier's reading of their crops
        (box_names.py), all crops of the batch in one classifier call."""
        from transforms.stages.local.box_names import crops_to_read, named_boxes

        assert self.labeler is not None  # only called when the classifier ran
        jobs = [(n, i, crop) for n, (im, boxes) in enumerate(zip(images, detected, strict=True))
                for i, crop in crops_to_read(im, boxes)]
        readings: list[dict[int, np.ndarray]] = [{} for _ in images]
        if jobs:
            probs, _ = self.labeler.predict(np.stack([self.labeler.normalise(crop) for _, _, crop in jobs]))
            for (n, i, _), p in zip(jobs, probs, strict=True):
                readings[n][i] = p
        return [named_boxes(boxes, r, w) for boxes, r, w in zip(detected, readings, whole, strict=True)]

    def _add_labels_and_objects(self, responses, images, probs, cam_features, faces, detected) -> None:
        if "LABEL_DETECTION" in self.features:
            from transforms.stages.local.box_names import agreeing_labels
            from transforms.stages.local.label_scale import classifier_labels
            for resp, im, p, f, d in zip(responses, images, probs, faces, detected, strict=True):
                resp["labelAnnotations"] = merge_labels(
                    face_labels(f, im.size, d), detector_labels(d), agreeing_labels(classifier_labels(p), d))
        if "OBJECT_LOCALIZATION" in self.features:
            from transforms.stages.local.objects import cam_objects, face_objects, not_covered
            for resp, im, p, fm, f, d in zip(responses, images, probs, cam_features, faces, detected, strict=True):
                cam = self._timed("objects_cam", cam_objects, p, fm, self.fc_weight, im.size)
                objs = d + not_covered(cam, d) + face_objects(f, im.size)
                if self.detector is not None:
                    objs += self._timed("detector", self.detector.detect, im)
                resp["localizedObjectAnnotations"] = sorted(
                    ({k: v for k, v in o.items() if k not in INTERNAL_KEYS} for o in objs), key=lambda a: -a["score"])

    def _add_faces(self, responses, images, faces) -> None:
        from transforms.stages.local.faces import face_annotations
        for resp, im, f in zip(responses, images, faces, strict=True):
            if f:
                moods = ([self._timed("expressions", self.expressions.likelihoods, im, face["box"]) for face in f]
                         if self.expressions is not None else None)
                resp["faceAnnotations"] = face_annotations(f, im.size, moods)


class LocalModelHandler(ModelHandler[LoadedImage, PredictionResult, LocalModels]):
    """LoadedImage -> PredictionResult(LoadedImage, Vision-shaped response)."""

    def __init__(self, model_dir: str, features: Sequence[str], batch_size: int,
                 threads: int = 0, detector_model: str | None = None, precision: str = "fp32"):
        self.model_dir, self.features = model_dir, tuple(features)
        self.batch_size, self.threads, self.detector_model = batch_size, threads, detector_model
        self.precision = precision

    def load_model(self) -> LocalModels:
        return LocalModels(self.model_dir, self.features, self.threads or default_threads(),
                           self.detector_model, self.precision)

    def run_inference(self, batch: Sequence[LoadedImage], model: LocalModels,
                      inference_args=None) -> Iterable[PredictionResult]:  # noqa: ARG002 - ModelHandler's signature
        responses = model.annotate([item.image for item in batch])
        return [PredictionResult(item, resp, model.version) for item, resp in zip(batch, responses, strict=True)]

    def get_num_bytes(self, batch: Sequence[LoadedImage]) -> int:
        return sum(item.image.width * item.image.height * 3 for item in batch)

    def get_metrics_namespace(self) -> str:
        return "local_models"

    def batch_elements_kwargs(self):
        return {"min_batch_size": 1, "max_batch_size": self.batch_size}
