"""The metric names: one declared list (transforms/metrics.py) that the code must use."""
from __future__ import annotations

import ast
import pathlib

import pytest

from transforms import metrics

REPO = pathlib.Path(__file__).resolve().parents[2]


def _literal_names() -> set[tuple[str, str]]:
    """(kind, name) of every metrics.counter("...") / metrics.distribution("...") call in the code."""
    found = set()
    for path in (REPO / "transforms").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "metrics"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                found.add((node.func.attr, node.args[0].value))
    return found


def test_every_name_the_code_uses_is_declared__source_scan():
    used = _literal_names()
    assert len(used) > 20
    for kind, name in used:
        declared = metrics.COUNTERS if kind == "counter" else metrics.DISTRIBUTIONS
        assert name in declared, (kind, name)


def test_undeclared_name_is_refused__typo():
    with pytest.raises(KeyError, match="not declared"):
        metrics.counter("images_dnoe")
    with pytest.raises(KeyError):
        metrics.counter("category_")      # a prefix needs its value
    assert metrics.counter("category_animals") is not None
