"""The shipped SQL: one analysis per file, declared parameters, and a DuckDB
translation sqlglot can produce. Tables are named only through {dataset}."""
import re

import pytest
import sqlglot

from pipeline import analytics

CATALOG = analytics.catalog()


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_declared_parameters_are_the_used_ones__header(name):
    a = CATALOG[name]
    used = set(re.findall(r"@(\w+)", a.body))
    assert used == {p.name for p in a.params}


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_tables_are_named_through_dataset__no_hard_coded_project(name):
    body = CATALOG[name].body
    for ref in re.findall(r"\b(?:FROM|JOIN)\s+([^\s(]+)", body, flags=re.I):
        assert ref.startswith("{dataset}.") or ref.isidentifier(), ref


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_each_file_parses_as_googlesql_and_translates__duckdb(name):
    body = analytics.with_dataset(CATALOG[name].body, "`test-project.ds`")
    assert len(sqlglot.parse(body, read="bigquery")) == 1
    duck = analytics.to_duckdb(analytics.with_dataset(CATALOG[name].body, "main"))
    assert "@" not in duck and ";" not in duck


def test_values_are_typed_and_checked__bind():
    a = CATALOG["label_search"]
    assert analytics.bind(a, {"label": "x'; --"}) == {"label": "x'; --", "min_confidence": 0.7}
    with pytest.raises(analytics.AnalyticsError, match="not a FLOAT64"):
        analytics.bind(a, {"label": "cat", "min_confidence": "high"})
    with pytest.raises(analytics.AnalyticsError, match="no parameter 'lable'"):
        analytics.bind(a, {"lable": "cat"})
    with pytest.raises(analytics.AnalyticsError, match="needs --param label"):
        analytics.bind(a, {})


def test_dataset_must_be_a_plain_name__identifier_not_pasted():
    assert analytics.bigquery_identifier("test-project:ds") == "`test-project.ds`"
    for bad in ("test-project:ds`; DROP TABLE x", "test-project:ds.x", "p:ds"):
        with pytest.raises(ValueError):
            analytics.bigquery_identifier(bad)


def test_list_shows_every_analysis_and_its_parameters__cli(capsys):
    assert analytics.main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in CATALOG:
        assert name in out
    assert "--param label=<STRING>" in out and "(required)" in out
