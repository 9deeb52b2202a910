"""OBJECT_LOCALIZATION for the local backend: boxes that are real outputs of models.

No COCO-style detector can be had offline (MODELS.md), so boxes come from three places:

1. Class activation maps (CAM) of the classifier. EfficientNet-Lite0's head is
   GlobalAveragePool -> Linear, so a class's logit is the mean over the 7x7 grid of
   `fc.weight[c] @ features[:, y, x]`; that map says exactly where the evidence for the
   class lies. Classes are grouped under their first generic ancestor from the label
   hierarchy (tabby, tiger cat, Egyptian cat -> "Cat"), the group's score is the sum of
   its probabilities, and its map is the probability-weighted sum of its classes' maps.
   The box is the extent of the connected region around the map's peak that reaches
   `CAM_THRESHOLD` of the peak, upsampled 8x. The classifier sees the centre crop (short
   side 256, crop 224), so CAM boxes lie inside that crop; objects at the far edges of a
   wide photo are not localised. Places (alp, valley, seashore) get no box: a view is
   no object.
2. Faces from the face detector, as "Face" objects.
3. Optionally the user's own detector (`--detector_model=PATH`, see `PluginDetector`).

Every box is normalised to the analysed image and clamped inside it.
"""
from __future__ import annotations

import ast
import functools
import json

import numpy as np
from PIL import Image

from transforms.stages.local import labeler as labeler_mod
from transforms.stages.local.faces import nms
from transforms.stages.local.label_hierarchy import DATA_FILE, is_everyday
from transforms.stages.local.model_choice import CLASSIFIER

FC_FILE = CLASSIFIER.fc_file  # the classifier's fc.weight [1000,1280], for class activation maps

CAM_THRESHOLD = 0.35
MIN_GROUP_SCORE = 0.1
MAX_CAM_OBJECTS = 5
UPSAMPLE = 8


@functools.lru_cache(maxsize=1)
def class_groups() -> tuple[np.ndarray, list[str]]:
    """(group index per ImageNet class [1000], group names): a class named by an everyday word
    is its own group (a Jellyfish box, as a renamed detector box would be named); any other
    class goes to its first everyday ancestor's (every dog breed to Dog)."""
    with open(DATA_FILE, encoding="utf-8") as f:
        data = json.load(f)
    names: dict[str, int] = {}
    index = np.zeros(len(data["classes"]), dtype=np.int64)
    for c in data["classes"]:
        chain = c["chains"][0] if c["chains"] else []
        name = data["labels"][chain[0]] if chain and not is_everyday(c["index"]) else c["name"]
        name = name[:1].upper() + name[1:]
        index[c["index"]] = names.setdefault(name, len(names))
    return index, list(names)


@functools.lru_cache(maxsize=1)
def _scenes() -> np.ndarray:
    """[1000] bool: the classes that are places (alp, valley, seashore). A place is no object:
    the Vision API never boxes a Valley, and its class activation map is the whole view."""
    from transforms.stages.local.box_names import family_of

    return np.array([family_of(i) == "Scene" for i in range(1000)])


def crop_region(size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The classifier's centre crop as normalised (x0, y0, x1, y1) of an image of `size`."""
    w, h = size
    scale = labeler_mod.RESIZE_SHORT_SIDE / min(w, h)
    new_w = max(labeler_mod.RESIZE_SHORT_SIDE, round(w * scale))
    new_h = max(labeler_mod.RESIZE_SHORT_SIDE, round(h * scale))
    crop = labeler_mod.INPUT_SIZE
    left, top = (new_w - crop) // 2, (new_h - crop) // 2
    return left / new_w, top / new_h, (left + crop) / new_w, (top + crop) / new_h


def _component(mask: np.ndarray, seed: tuple[int, int]) -> np.ndarray:
    """The 4-connected region of `mask` containing `seed` (a 7x7 grid: a plain flood fill)."""
    out = np.zeros_like(mask)
    stack = [seed]
    while stack:
        y, x = stack.pop()
        if 0 <= y < mask.shape[0] and 0 <= x < mask.shape[1] and mask[y, x] and not out[y, x]:
            out[y, x] = True
            stack += [(y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)]
    return out


def cam_box(cam: np.ndarray) -> tuple[float, float, float, float] | None:
    """Normalised (x0, y0, x1, y1) of the peak region of a class activation map, in the crop."""
    cam = np.maximum(cam, 0.0)
    peak = float(cam.max())
    if not np.isfinite(peak) or peak <= 0:
        return None
    gh, gw = cam.shape
    seed_y, seed_x = np.unravel_index(int(cam.argmax()), cam.shape)
    region = _component(cam >= CAM_THRESHOLD * peak, (int(seed_y), int(seed_x)))
    big = np.asarray(Image.fromarray(cam.astype(np.float32), "F").resize(
        (gw * UPSAMPLE, gh * UPSAMPLE), Image.Resampling.BILINEAR))
    near = np.kron(region, np.ones((UPSAMPLE, UPSAMPLE), dtype=bool))
    near |= np.roll(near, UPSAMPLE // 2, 0) | np.roll(near, -UPSAMPLE // 2, 0)
    near |= np.roll(near, UPSAMPLE // 2, 1) | np.roll(near, -UPSAMPLE // 2, 1)
    ys, xs = np.nonzero((big >= CAM_THRESHOLD * peak) & near)
    if ys.size == 0:
        return None
    h, w = big.shape[:2]
    return xs.min() / w, ys.min() / h, (xs.max() + 1) / w, (ys.max() + 1) / h


def cam_objects(probs: np.ndarray, features: np.ndarray, fc_weight: np.ndarray,
                size: tuple[int, int]) -> list[dict]:
    """Vision `localizedObjectAnnotations` for one image from the classifier's outputs."""
    group_of, names = class_groups()
    scores = np.bincount(group_of, weights=probs.astype(np.float64) * ~_scenes(), minlength=len(names))
    x0, y0, x1, y1 = crop_region(size)
    out = []
    for g in np.argsort(-scores)[:MAX_CAM_OBJECTS]:
        if scores[g] < MIN_GROUP_SCORE:
            break
        members = np.nonzero(group_of == g)[0]
        weight = (probs[members, None] * fc_weight[members]).sum(axis=0) / scores[g]
        box = cam_box(np.tensordot(weight, features, axes=(0, 0)))
        if box is None:
            continue
        bx0, by0, bx1, by1 = box
        out.append(_annotation(names[g], float(scores[g]), (
            x0 + bx0 * (x1 - x0), y0 + by0 * (y1 - y0), x0 + bx1 * (x1 - x0), y0 + by1 * (y1 - y0)),
            mid=f"group:{names[g].lower()}"))
    return out


def _annotation(name: str, score: float, box, mid: str | None = None) -> dict:
    bx0, by0, bx1, by1 = (min(max(float(v), 0.0), 1.0) for v in box)
    ann = {"name": name, "score": min(max(score, 0.0), 1.0), "boundingPoly": {"normalizedVertices": [
        {"x": bx0, "y": by0}, {"x": bx1, "y": by0}, {"x": bx1, "y": by1}, {"x": bx0, "y": by1}]}}
    if mid:
        ann["mid"] = mid
    return ann


def _box(ann: dict) -> tuple[float, float, float, float]:
    v = ann["boundingPoly"]["normalizedVertices"]
    return v[0]["x"], v[0]["y"], v[2]["x"], v[2]["y"]


def iou(a: dict, b: dict) -> float:
    """Intersection over union of two annotations' boxes."""
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = _box(a), _box(b)
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    union = (ax1 - ax0) * (ay1 - ay0) + (bx1 - bx0) * (by1 - by0) - inter
    return inter / union if union > 0 else 0.0


def not_covered(cam: list[dict], detected: list[dict], overlap: float = 0.3) -> list[dict]:
    """The class-activation boxes that add something to the detector's: those that overlap
    no detected box (IoU < `overlap`) and name nothing the detector boxed. What COCO has no
    class for (a flower, a building, a rocket) keeps its class-activation box; a cat the
    detector boxed is not boxed twice (a class-activation box, one per class, is coarser)."""
    names = {d["name"] for d in detected}
    return [c for c in cam if c["name"] not in names and all(iou(c, d) < overlap for d in detected)]


def face_objects(faces: list[dict], size: tuple[int, int]) -> list[dict]:
    """A "Face" object per detected face (boxes in pixels of an image of `size`)."""
    w, h = size
    return [_annotation("Face", f["confidence"], (f["box"][0] / w, f["box"][1] / h, f["box"][2] / w, f["box"][3] / h))
            for f in faces]


class PluginDetector:
    """A user's YOLO-style detector ONNX file (`--detector_model=PATH`, local or gs://).

    The contract (what Ultralytics YOLOv8/v11 exports with `format=onnx` produce):
    - one input, float32 NCHW RGB scaled to [0, 1]; its height and width are read from
      the model (640x640 when they are dynamic); the image is letterboxed into it
      (aspect kept, grey 114 padding), as Ultralytics does;
    - one output [1, 4 + C, A] (or [1, A, 4 + C]): for each of A candidates, the box
      centre x, centre y, width and height in input pixels, then C class scores in [0, 1];
    - class names from the model's metadata key `names` (Ultralytics writes
      "{0: 'person', ...}"), else "class_<i>".
    Candidates scoring at least `min_score` are kept, after per-class non-maximum
    suppression at IoU 0.45.
    """

    def __init__(self, path: str, threads: int = 0, min_score: float = 0.25):
        from apache_beam.io.filesystems import FileSystems

        folder, name = FileSystems.split(path)
        self.session = labeler_mod.load_session(folder, name, threads)
        self.path, self.min_score = path, min_score
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        h, w = inp.shape[2], inp.shape[3]
        self.height = h if isinstance(h, int) and h > 0 else 640
        self.width = w if isinstance(w, int) and w > 0 else 640
        meta = self.session.get_modelmeta().custom_metadata_map
        try:
            names = ast.literal_eval(meta.get("names", "{}"))
        except (ValueError, SyntaxError):
            names = {}
        self.names = {int(k): str(v) for k, v in (names.items() if isinstance(names, dict) else enumerate(names))}
        self.version = f"detector:{name}" + (f"@{meta['version']}" if meta.get("version") else "")

    def _letterbox(self, image: Image.Image) -> tuple[np.ndarray, float, int, int]:
        w, h = image.size
        r = min(self.width / w, self.height / h)
        nw, nh = max(1, round(w * r)), max(1, round(h * r))
        canvas = Image.new("RGB", (self.width, self.height), (114, 114, 114))
        left, top = (self.width - nw) // 2, (self.height - nh) // 2
        canvas.paste(image.convert("RGB").resize((nw, nh), Image.Resampling.BILINEAR), (left, top))
        x = np.asarray(canvas, dtype=np.float32).transpose(2, 0, 1)[None] / 255.0
        return np.ascontiguousarray(x), r, left, top

    def detect(self, image: Image.Image) -> list[dict]:
        """Vision `localizedObjectAnnotations` for `image`."""

        x, r, left, top = self._letterbox(image)
        (out,) = self.session.run(None, {self.input_name: x})[:1]
        out = np.asarray(out, dtype=np.float32)[0]
        rows = 4 + len(self.names) if self.names else None
        if (out.shape[1] == rows and out.shape[0] != rows) or (rows is None and out.shape[0] > out.shape[1]):
            out = out.T  # [A, 4 + C] -> [4 + C, A]
        cx, cy, bw, bh = out[:4]
        scores = out[4:]
        cls, score = scores.argmax(axis=0), scores.max(axis=0)
        keep = score >= self.min_score
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)[keep]
        boxes = (boxes - np.array([left, top, left, top], dtype=np.float32)) / r
        cls, score = cls[keep], score[keep]
        w, h = image.size
        out_anns = []
        for c in np.unique(cls):
            idx = np.nonzero(cls == c)[0]
            for i in idx[nms(boxes[idx], score[idx], 0.45)]:
                x0, y0, x1, y1 = boxes[i]
                out_anns.append(_annotation(self.names.get(int(c), f"class_{int(c)}"), float(score[i]),
                                            (x0 / w, y0 / h, x1 / w, y1 / h)))
        return sorted(out_anns, key=lambda a: a["score"], reverse=True)


def load_fc_weight(model_dir: str) -> np.ndarray:
    """The classifier's fc.weight [1000,1280] written by the model build, read through Beam's FileSystems."""
    import io

    from apache_beam.io.filesystems import FileSystems

    path = FileSystems.join(model_dir, FC_FILE)
    if not FileSystems.exists(path):
        raise FileNotFoundError(f"{path} is missing: the model folder predates object localisation; "
                                f"rebuild it with `python -m transforms.stages.local.build --out {model_dir}`")
    with FileSystems.open(path) as f:
        return np.load(io.BytesIO(f.read()), allow_pickle=False)
