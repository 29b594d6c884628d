"""Search request building and visibility filters (pure, no server)."""

from __future__ import annotations

import pytest

from retriever.engine import SERVER
from retriever.filters import Filter
from retriever.search import build_requests, candidate_limit, visibility_filter
from tests.retriever.helpers import CONFIG, VISION_CONFIG, unit


def test_candidate_limit() -> None:
    assert candidate_limit(1) == 100
    assert candidate_limit(25) == 100
    assert candidate_limit(40) == 160


def test_visibility_filter() -> None:
    assert visibility_filter(set(), None).render() == ""  # type: ignore[union-attr]
    assert visibility_filter({"b", "a"}, None).render() == 'doc_id not in ["a","b"]'  # type: ignore[union-attr]
    assert visibility_filter({"a"}, ["a", "c"]).render() == 'doc_id in ["c"]'  # type: ignore[union-attr]
    assert visibility_filter({"a"}, ["a"]) is None
    assert visibility_filter(set(), []) is None


def test_legs() -> None:
    reqs = build_requests(
        VISION_CONFIG, SERVER, "storm", unit(0), unit(1, dim=6), Filter("x == {v}", {"v": "q"}), 50
    )
    assert [r.anns_field for r in reqs] == ["sparse", "text_vec", "vision_vec"]
    assert all(r.expr == 'x == "q"' for r in reqs)
    assert reqs[0].data == ["storm"]
    assert [r.anns_field for r in build_requests(CONFIG, SERVER, "  ", unit(0), None, Filter(), 50)] == [
        "text_vec"
    ]
    with pytest.raises(ValueError, match="no vision vectors"):
        build_requests(CONFIG, SERVER, "q", None, unit(0, dim=6), Filter(), 50)
    with pytest.raises(ValueError, match="dim"):
        build_requests(CONFIG, SERVER, "q", unit(0, dim=5), None, Filter(), 50)
