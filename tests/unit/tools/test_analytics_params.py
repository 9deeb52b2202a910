"""Analysis parameters: typed and ranged from the one declaration in each SQL file's
header; anything else is refused with one line naming the parameter and its range."""
import pytest

from tools import analytics
from tools.sql_catalog import AnalyticsError, bind

CATALOG = analytics.catalog()


@pytest.mark.parametrize(("value", "why"), [
    ("-1", "from 1 to"), ("0", "from 1 to"), ("99999999999999999999", "from 1 to"),
    ("1_0", "not an INT64"), ("1.5", "not an INT64"), (" 12", "not an INT64"), ("", "not an INT64"),
])
def test_bad_top_is_refused_naming_its_range__top_labels(value, why):
    with pytest.raises(AnalyticsError, match=f"--param top=.*{why}") as e:
        bind(CATALOG["top_labels"], {"top": value})
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1_0", "1.5", "-0.1", "0x1"])
def test_bad_confidence_is_refused_naming_its_range__label_search(value):
    with pytest.raises(AnalyticsError, match=r"--param min_confidence=.*(from 0 to 1|not a FLOAT64)"):
        bind(CATALOG["label_search"], {"label": "cat", "min_confidence": value})


@pytest.mark.parametrize(("given", "want"), [({"top": "5"}, 5), ({"top": "+7"}, 7), ({}, 20)])
def test_good_top_is_bound_as_an_integer__in_range(given, want):
    assert bind(CATALOG["top_labels"], given)["top"] == want


def test_good_confidence_is_bound__edges_of_the_range():
    assert bind(CATALOG["label_search"], {"label": "x", "min_confidence": "1"})["min_confidence"] == 1.0
    assert bind(CATALOG["label_search"], {"label": "x", "min_confidence": "0.25"})["min_confidence"] == 0.25


def test_every_number_parameter_declares_its_range__sql_headers():
    for a in CATALOG.values():
        for p in a.params:
            if p.type in ("INT64", "FLOAT64"):
                assert p.low is not None and p.high is not None, f"{a.name}: @{p.name} has no range"


def test_cli_prints_one_line_naming_the_range__top_minus_one(tmp_path, capsys):
    assert analytics.main(["top_labels", "--param", "top=-1", f"--duckdb={tmp_path / 'none.duckdb'}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "top" in err and "from 1 to" in err
