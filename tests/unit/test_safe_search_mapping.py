"""safe_search_annotation: open_nsfw probability -> Vision likelihoods at documented bands."""
import pytest

from transforms.stages.local.safety import safe_search_annotation


@pytest.mark.parametrize("p, adult, racy", [
    (0.0, "VERY_UNLIKELY", "VERY_UNLIKELY"),
    (0.0499, "VERY_UNLIKELY", "VERY_UNLIKELY"),
    (0.05, "VERY_UNLIKELY", "UNLIKELY"),
    (0.0999, "VERY_UNLIKELY", "UNLIKELY"),
    (0.10, "UNLIKELY", "POSSIBLE"),
    (0.1999, "UNLIKELY", "POSSIBLE"),
    (0.20, "POSSIBLE", "POSSIBLE"),
    (0.40, "POSSIBLE", "LIKELY"),
    (0.50, "LIKELY", "LIKELY"),
    (0.60, "LIKELY", "VERY_LIKELY"),
    (0.7999, "LIKELY", "VERY_LIKELY"),
    (0.80, "VERY_LIKELY", "VERY_LIKELY"),
    (1.0, "VERY_LIKELY", "VERY_LIKELY"),
])
def test_likelihood_bands__band_edges(p, adult, racy):
    annotation = safe_search_annotation(p)
    assert (annotation["adult"], annotation["racy"]) == (adult, racy)


def test_unestimated_fields_unknown__any_probability():
    annotation = safe_search_annotation(0.3)
    assert set(annotation) == {"adult", "racy", "spoof", "medical", "violence"}
    assert annotation["spoof"] == annotation["medical"] == annotation["violence"] == "UNKNOWN"


@pytest.mark.parametrize("p", [float("nan"), -0.1, 1.5, None])
def test_unknown__invalid_probability(p):
    annotation = safe_search_annotation(p)
    assert annotation["adult"] == annotation["racy"] == "UNKNOWN"


def test_racy_never_below_adult__whole_range():
    order = ["VERY_UNLIKELY", "UNLIKELY", "POSSIBLE", "LIKELY", "VERY_LIKELY"]
    for i in range(1001):
        a = safe_search_annotation(i / 1000)
        assert order.index(a["racy"]) >= order.index(a["adult"])
