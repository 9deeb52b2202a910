"""Dominant colours (IMAGE_PROPERTIES) on images whose colours are known."""
import numpy as np
from PIL import Image

from transforms.stages.local.colors import dominant_colors, image_properties_annotation


def _two_colour(w=400, h=300, split=100):
    a = np.zeros((h, w, 3), np.uint8)
    a[:, :split] = (200, 30, 40)
    a[:, split:] = (20, 60, 220)
    return Image.fromarray(a)


def test_two_colours_found_with_their_fractions__flat_two_colour_image():
    colors = dominant_colors(_two_colour())
    assert len(colors) == 2
    by_rgb = {(c["color"]["red"], c["color"]["green"], c["color"]["blue"]): c for c in colors}
    assert set(by_rgb) == {(200, 30, 40), (20, 60, 220)}
    assert abs(by_rgb[(20, 60, 220)]["pixelFraction"] - 0.75) < 0.02
    assert abs(by_rgb[(200, 30, 40)]["pixelFraction"] - 0.25) < 0.02


def test_larger_central_colour_ranks_first__two_colour_image():
    colors = dominant_colors(_two_colour())
    assert colors[0]["color"] == {"red": 20, "green": 60, "blue": 220}
    assert abs(sum(c["score"] for c in colors) - 1.0) < 1e-6


def test_at_most_ten_colours_in_vision_shape__noisy_image():
    rng = np.random.default_rng(0)
    ann = image_properties_annotation(Image.fromarray(rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)))
    colors = ann["dominantColors"]["colors"]
    assert 1 <= len(colors) <= 10
    assert all(0 <= c["pixelFraction"] <= 1 and 0 <= c["score"] <= 1 for c in colors)
    assert abs(sum(c["pixelFraction"] for c in colors) - 1.0) < 1e-6
