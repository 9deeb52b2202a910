"""Would simple colour cues make honest Sky, Grass, Water and Tree labels? A measurement,
not a feature: `python -m bench scene_cues` prints, for each photo of the quality set
(tools/photo_set.py), which cues fire; a person then checks each against the photo.

The cues, on a 96 x 96 copy in HSV: Sky when 40 % of the top third is smooth blue (hue
190-250 degrees) or smooth bright grey-white; Grass when 30 % of the bottom half is
green (hue 60-160, saturated); Water when 30 % of the bottom half is smooth blue; Tree
when 25 % of the top third is textured green. docs/local-backend.md ("Everyday words") gives what
was found and why no cue became a label.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np
from PIL import Image

from tools.photo_set import write_photo_set


def cues(image: Image.Image) -> dict[str, bool]:
    small = image.convert("RGB").resize((96, 96))
    hsv = np.asarray(small.convert("HSV"), dtype=np.float32) / 255
    h, s, v = hsv[..., 0] * 360, hsv[..., 1], hsv[..., 2]
    gray = np.asarray(small, dtype=np.float32).mean(-1) / 255
    texture = np.zeros_like(gray)
    texture[:-1, :-1] = np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1]
    top, bottom = slice(0, 32), slice(48, 96)
    sky = (((h > 190) & (h < 250) & (s > 0.15) & (v > 0.45)) | ((s < 0.12) & (v > 0.75))) & (texture < 0.04)
    green = (h > 60) & (h < 160) & (s > 0.25) & (v > 0.15) & (v < 0.85)
    water = (h > 180) & (h < 250) & (s > 0.2) & (texture < 0.06)
    return {"Sky": bool(sky[top].mean() >= 0.4), "Grass": bool(green[bottom].mean() >= 0.3),
            "Water": bool(water[bottom].mean() >= 0.3), "Tree": bool((green & (texture > 0.06))[top].mean() >= 0.25)}


def main() -> None:
    folder = os.path.join(tempfile.mkdtemp(prefix="bench_scene_cues_"), "photos")
    names = write_photo_set(folder)
    print(f"{'photo':20s} cues that fire")
    for name, photo_id in sorted(names.items(), key=lambda kv: kv[1]):
        with Image.open(os.path.join(folder, name)) as im:
            fired = [k for k, on in cues(im).items() if on]
        print(f"{photo_id:20s} {', '.join(fired) or '-'}")
