"""The models' thread layouts (sessions.SessionConfig.lanes) give the same answers."""
from __future__ import annotations

import json
import os

import skimage.data
from PIL import Image

from transforms.stages.local import sessions
from transforms.stages.local.handler import LocalModels

MODELS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "models")
DEFAULT = ("LABEL_DETECTION", "OBJECT_LOCALIZATION", "SAFE_SEARCH_DETECTION")


def test_two_lanes__same_responses_as_intra_op_threads(monkeypatch):
    photos = [Image.fromarray(getattr(skimage.data, n)()).convert("RGB") for n in ("astronaut", "chelsea", "coffee")]
    responses = {}
    try:
        for lanes in ("1", "0"):
            monkeypatch.setenv("LOCAL_LANES", lanes)
            models = LocalModels(MODELS, DEFAULT, threads=2)
            assert models.lanes == (lanes == "1")
            responses[lanes] = json.dumps(models.annotate(photos), sort_keys=True)
            assert "box_names" in models.timings and "detector_coco" in models.timings
    finally:
        sessions.configure(sessions.SessionConfig())
    assert responses["1"] == responses["0"]
    assert "Cat" in responses["1"] and "localizedObjectAnnotations" in responses["1"]
