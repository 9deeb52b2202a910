"""TEXT_DETECTION and DOCUMENT_TEXT_DETECTION for the local backend: RapidOCR (PP-OCRv4).

Why RapidOCR: `rapidocr-onnxruntime` ships PaddleOCR's PP-OCRv4 detector and recogniser
as ONNX files inside the wheel (nothing downloaded at run time), runs on the same
onnxruntime as the other models, and read scikit-image's sample page correctly where
Tesseract did worse (see MODELS.md). Its recogniser is the Chinese+English model, so
Latin text comes back well, though the spaces between words are sometimes dropped.

What it gives back is one entry per detected text line: a four-point box, the text and
a recognition score. That maps onto Vision's answer as:
- `textAnnotations`: the first entry holds the whole text and its overall box (as
  Vision's does), then one entry per line (Vision lists words; lines are the finest
  unit this model gives reliably);
- `fullTextAnnotation`: `text`, and one page whose blocks are the lines, each with its
  box and confidence.
Both features get both fields, as the Vision API also returns both.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

VERSION = "rapidocr-ppocrv4@1.4.4"
MIN_SCORE = 0.65  # below this, photos without text gave stray letters (a cat scored "D" at 0.52)
DETECT_MAX_SIDE = 960


def _poly(points, w: int, h: int) -> dict:
    return {"vertices": [{"x": int(round(min(max(x, 0), w))), "y": int(round(min(max(y, 0), h)))}
                         for x, y in points]}


class TextReader:
    """RGB image -> Vision `textAnnotations` and `fullTextAnnotation`."""

    VERSION = VERSION

    def __init__(self, threads: int = 0):
        from rapidocr_onnxruntime import RapidOCR

        # -1 lets onnxruntime pick; one inter-op thread: the graphs are sequential.
        # The detector runs on the image shrunk to DETECT_MAX_SIDE (PaddleOCR's own default),
        # not on the package's default of "at least 736 on the short side", which ran a
        # 2048 px scan at full size and took 1.6 s.
        self.engine = RapidOCR(intra_op_num_threads=int(threads) or -1, inter_op_num_threads=1,
                               text_score=MIN_SCORE, det_limit_side_len=DETECT_MAX_SIDE, det_limit_type="max")

    def read(self, image: Image.Image) -> list[tuple[list[tuple[float, float]], str, float]]:
        """Lines in reading order: (four corner points in pixels, text, score)."""
        image = image.convert("RGB")
        # Small images are enlarged to the detector's size: small print is found far more
        # reliably at that scale (the package's own default does the same, more expensively).
        scale = max(1.0, DETECT_MAX_SIDE / max(image.size))
        if scale > 1.0:
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
        bgr = np.ascontiguousarray(np.asarray(image)[:, :, ::-1])
        result, _elapsed = self.engine(bgr)
        lines = []
        for box, text, score in result or []:
            if text.strip():
                lines.append(([(float(x) / scale, float(y) / scale) for x, y in box], text.strip(), float(score)))
        return lines

    def annotate(self, image: Image.Image) -> dict:
        """The text fields of a Vision response for `image` (empty dict when there is no text)."""
        return text_response(self.read(image), image.size)


def text_response(lines, size: tuple[int, int]) -> dict:
    """Vision-shaped text fields from OCR lines (see the module docstring)."""
    if not lines:
        return {}
    w, h = size
    full = "\n".join(text for _, text, _ in lines) + "\n"
    xs = [x for pts, _, _ in lines for x, _ in pts]
    ys = [y for pts, _, _ in lines for _, y in pts]
    overall = [(min(xs), min(ys)), (max(xs), min(ys)), (max(xs), max(ys)), (min(xs), max(ys))]
    text_annotations = [{"locale": "", "description": full, "boundingPoly": _poly(overall, w, h)}]
    blocks = []
    for pts, text, score in lines:
        poly = _poly(pts, w, h)
        text_annotations.append({"description": text, "boundingPoly": poly, "score": score})
        blocks.append({"blockType": "TEXT", "boundingBox": poly, "confidence": score,
                       "paragraphs": [{"boundingBox": poly, "confidence": score,
                                       "words": [{"boundingBox": poly, "confidence": score,
                                                  "symbols": [{"text": ch} for ch in text]}]}]})
    mean = float(np.mean([score for _, _, score in lines]))
    return {"textAnnotations": text_annotations,
            "fullTextAnnotation": {"text": full, "pages": [
                {"width": w, "height": h, "confidence": mean, "blocks": blocks}]}}
