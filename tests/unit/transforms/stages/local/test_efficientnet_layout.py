"""EfficientNet-Lite block layouts: Lite0's table as is, Lite2's scaled as efficientnet-lite-pytorch does."""
from transforms.stages.local.build.efficientnet_onnx import STAGES, VARIANTS, round_filters, scaled_stages


def test_lite0_layout__the_table_unchanged():
    assert scaled_stages(VARIANTS["lite0"]) == STAGES


def test_lite2_layout__widths_x1_1_repeats_x1_2_first_and_last_stage_fixed():
    assert scaled_stages(VARIANTS["lite2"]) == [
        (1, 3, 1, 1, 32, 16),
        (3, 3, 2, 6, 16, 24),
        (3, 5, 2, 6, 24, 48),
        (4, 3, 2, 6, 48, 88),
        (4, 5, 1, 6, 88, 120),
        (5, 5, 2, 6, 120, 208),
        (1, 3, 1, 6, 208, 352),
    ]
    assert sum(s[0] for s in scaled_stages(VARIANTS["lite2"])) == 21


def test_round_filters__multiple_of_8_never_10_percent_below():
    assert [round_filters(f, 1.1) for f in (16, 24, 40, 80, 112, 192, 320)] == [16, 24, 48, 88, 120, 208, 352]
    assert round_filters(32, 1.0) == 32
    for f in range(8, 400, 4):
        for width in (1.0, 1.1, 1.2, 1.4):
            out = round_filters(f, width)
            assert out % 8 == 0 and out >= 0.9 * f * width
