"""The shipped SQL: one analysis per file, declared parameters, plain GoogleSQL with
unqualified table names, and a DuckDB translation sqlglot can produce."""
import re

import pytest
import sqlglot

from tools import analytics, warehouse
from transforms.schema import TABLES

CATALOG = analytics.catalog()


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_declared_parameters_are_the_used_ones__header(name):
    a = CATALOG[name]
    used = set(re.findall(r"@(\w+)", a.body))
    assert used == {p.name for p in a.params}


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_tables_are_unqualified__runs_with_a_default_dataset(name):
    tree = sqlglot.parse_one(CATALOG[name].body, read="bigquery")
    tables = list(tree.find_all(sqlglot.exp.Table))
    assert tables, name
    for table in tables:
        assert not table.db and not table.catalog, f"{name}: {table.sql()} is qualified"


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_each_file_parses_as_googlesql_as_written__and_translates_to_duckdb(name):
    text = open(f"{analytics.SQL_DIR}/{name}.sql", encoding="utf-8").read()
    assert len(sqlglot.parse(text, read="bigquery")) == 1
    duck = warehouse.to_duckdb(CATALOG[name].body)
    assert "@" not in duck and ";" not in duck


def test_view_text_is_qualified__ctes_and_aliases_left_alone():
    names = set(TABLES) | {"latest_classifications"}
    sql = ("WITH image_labels AS (SELECT c.uri FROM latest_classifications AS c) "
           "SELECT e.uri FROM errors AS e JOIN image_labels AS i ON i.uri = e.uri")
    out = warehouse.qualify_tables(sql, "my-project", "ds", names)
    assert "`my-project`.`ds`.`latest_classifications` AS c" in out
    assert "`my-project`.`ds`.`errors` AS e" in out
    assert "JOIN image_labels AS i" in out


def test_values_are_typed_and_checked__bind():
    a = CATALOG["label_search"]
    assert analytics.bind(a, {"label": "x'; --"}) == {"label": "x'; --", "min_confidence": 0.7}
    with pytest.raises(analytics.AnalyticsError, match="not a FLOAT64"):
        analytics.bind(a, {"label": "cat", "min_confidence": "high"})
    with pytest.raises(analytics.AnalyticsError, match="no parameter 'lable'"):
        analytics.bind(a, {"lable": "cat"})
    with pytest.raises(analytics.AnalyticsError, match="needs --param label"):
        analytics.bind(a, {})


def test_dataset_must_be_a_plain_name__never_pasted():
    assert warehouse.dataset_of("test-project:ds") == ("test-project", "ds")
    for bad in ("test-project:ds`; DROP TABLE x", "test-project:ds.x", "p:ds"):
        with pytest.raises(warehouse.WarehouseError):
            warehouse.dataset_of(bad)


def test_list_shows_every_analysis_and_its_parameters__cli(capsys):
    assert analytics.main(["--list"]) == 0
    out = capsys.readouterr().out
    for name in CATALOG:
        assert name in out
    assert "--param label=<STRING>" in out and "(required)" in out
