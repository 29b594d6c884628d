"""Filter rendering: values enter expressions only as escaped literals (pure, no server)."""

from __future__ import annotations

import pytest

from retriever.filters import Filter, all_of, field_equals, field_in, field_not_in, literal, render


def test_literals_by_type() -> None:
    assert literal("abc") == '"abc"'
    assert literal(42) == "42"
    assert literal(True) == "true"
    assert literal(1.5) == "1.5"
    assert literal(["a", "b"]) == '["a","b"]'
    assert literal([]) == "[]"
    assert literal({"b", "a"}) == '["a","b"]'


def test_quotes_and_backslashes_cannot_escape_the_literal() -> None:
    hostile = 'x" or doc_id != "'
    assert literal(hostile) == '"x\\" or doc_id != \\""'
    assert literal("a\\") == '"a\\\\"'
    assert literal("line\nbreak\ttab") == '"line\\nbreak\\ttab"'


def test_rejects_unsupported_values() -> None:
    with pytest.raises(ValueError):
        literal(float("nan"))
    with pytest.raises(ValueError):
        literal([["nested"]])
    with pytest.raises(ValueError):
        literal(object())


def test_render_and_missing_placeholder() -> None:
    assert (
        render("doc_id in {ids} and page_no >= {n}", {"ids": ["a"], "n": 2})
        == 'doc_id in ["a"] and page_no >= 2'
    )
    with pytest.raises(ValueError, match="no value"):
        render("doc_id == {missing}", {})


def test_a_value_that_looks_like_a_placeholder_stays_a_string() -> None:
    assert field_equals("source", "{value}").render() == 'source == "{value}"'


def test_all_of_keeps_params_apart() -> None:
    flt = all_of([field_equals("status", "complete"), Filter(), field_in("doc_id", ["a", "b"])])
    assert flt.render() == '(status == "complete") and (doc_id in ["a","b"])'


def test_not_in_empty_matches_everything() -> None:
    assert field_not_in("doc_id", []).render() == ""
    assert field_not_in("doc_id", ["x"]).render() == 'doc_id not in ["x"]'
