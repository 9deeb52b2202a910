"""IMAGE_PROPERTIES for the local backend: dominant colours with Pillow, no model.

Vision's `imagePropertiesAnnotation.dominantColors.colors` lists up to ten colours,
each with its RGB value, `pixelFraction` (share of the image's pixels) and `score`
(how dominant the colour is). Pillow's median-cut quantiser finds the palette on a
small thumbnail (the palette of a photo does not need its full resolution, and the
thumbnail costs about 1 ms); each colour's value is the mean of the pixels assigned to
it, so a flat colour comes back exactly. The score is the pixel fraction weighted
towards the centre of the image (a colour in the middle matters more than the same
amount at the borders), normalised so the scores add up to 1.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

THUMBNAIL = 128
MAX_COLORS = 10
VERSION = "pillow-mediancut"


def _centre_weights(h: int, w: int) -> np.ndarray:
    """1.0 at the centre falling to 0.5 at the corners."""
    y = (np.arange(h) + 0.5) / h - 0.5
    x = (np.arange(w) + 0.5) / w - 0.5
    r = np.sqrt(y[:, None] ** 2 + x[None, :] ** 2) / np.sqrt(0.5)
    return 1.0 - 0.5 * r


def dominant_colors(image: Image.Image, max_colors: int = MAX_COLORS) -> list[dict]:
    """Vision `dominantColors.colors` for `image`, most dominant first."""
    small = image.convert("RGB")
    small.thumbnail((THUMBNAIL, THUMBNAIL), Image.Resampling.NEAREST)  # no blended edge colours
    pixels = np.asarray(small, dtype=np.float64).reshape(-1, 3)
    index = np.asarray(small.quantize(colors=max_colors, method=Image.Quantize.MEDIANCUT)).reshape(-1)
    weights = _centre_weights(small.height, small.width).reshape(-1)
    n = index.max() + 1
    counts = np.bincount(index, minlength=n).astype(np.float64)
    weighted = np.bincount(index, weights=weights, minlength=n)
    sums = np.stack([np.bincount(index, weights=pixels[:, c], minlength=n) for c in range(3)], axis=1)
    used = np.nonzero(counts)[0]
    total, total_weight = counts.sum(), weighted[used].sum()
    colors = []
    for i in used:
        mean = np.rint(sums[i] / counts[i]).astype(int)
        colors.append({"color": {"red": int(mean[0]), "green": int(mean[1]), "blue": int(mean[2])},
                       "score": float(weighted[i] / total_weight), "pixelFraction": float(counts[i] / total)})
    colors.sort(key=lambda c: float(c["score"]), reverse=True)  # type: ignore[arg-type]  # score is a float
    return colors


def image_properties_annotation(image: Image.Image) -> dict:
    return {"dominantColors": {"colors": dominant_colors(image)}}
