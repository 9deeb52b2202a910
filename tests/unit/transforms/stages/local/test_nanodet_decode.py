"""NanoDet's box decoding: cell centres, distance distributions, the score threshold."""
import numpy as np

from transforms.stages.local.nanodet import BINS, INPUT_SIZE, decode_level


def _peaked(bins: list[int]) -> np.ndarray:
    """Logits of 4 sides whose softmax is (almost) all on the given bin of each side."""
    d = np.full((4, BINS), -50.0, np.float32)
    for side, b in enumerate(bins):
        d[side, b] = 50.0
    return d.reshape(-1)


def test_box_from_cell_centre_and_bins__one_cell_above_threshold():
    stride, side = 32, INPUT_SIZE // 32
    scores = np.zeros((side * side, 80), np.float32)
    dists = np.zeros((side * side, 4 * BINS), np.float32)
    cell = 2 * side + 3  # row 2, column 3: centre (3.5 x 32, 2.5 x 32) = (112, 80)
    scores[cell, 17] = 0.6
    scores[cell + 1, 5] = 0.2  # below the threshold
    dists[cell] = _peaked([2, 1, 3, 0])
    boxes, kept, classes = decode_level(scores, dists, stride, min_raw=0.3)
    np.testing.assert_allclose(boxes, [[112 - 64, 80 - 32, 112 + 96, 80 + 0]], atol=1e-3)
    np.testing.assert_allclose(kept, [0.6])
    assert classes.tolist() == [17]


def test_distance_is_the_expectation__split_between_two_bins():
    stride, side = 8, INPUT_SIZE // 8
    scores = np.zeros((side * side, 80), np.float32)
    scores[0, 0] = 0.9
    dists = np.zeros((side * side, 4 * BINS), np.float32)
    d = np.full((4, BINS), -50.0, np.float32)
    d[:, 4] = d[:, 6] = 10.0  # half on bin 4, half on bin 6: 5 bins = 40 px
    dists[0] = d.reshape(-1)
    boxes, _, _ = decode_level(scores, dists, stride)
    np.testing.assert_allclose(boxes, [[4 - 40, 4 - 40, 4 + 40, 4 + 40]], atol=1e-3)


def test_nothing_kept__all_scores_low():
    boxes, kept, classes = decode_level(np.full((169, 80), 0.1, np.float32), np.zeros((169, 44), np.float32), 32)
    assert boxes.shape == (0, 4) and kept.size == 0 and classes.size == 0
