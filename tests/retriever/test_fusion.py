"""Convex fusion of search legs, against hand-computed cases."""

from __future__ import annotations

import pytest

from retriever.fusion import convex_fuse, normalise_leg


def test_normalise_maps_best_to_one_and_worst_to_zero_whatever_the_sign() -> None:
    expected = {"a": 1.0, "b": 0.5, "c": 0.0}
    assert normalise_leg([("a", 0.9), ("b", 0.6), ("c", 0.3)]) == pytest.approx(expected)
    # Milvus Lite's BM25 leg: negated scores, best (most negative) first.
    assert normalise_leg([("a", -8.0), ("b", -5.0), ("c", -2.0)]) == pytest.approx(expected)
    assert normalise_leg([("a", 3.0), ("b", 3.0)]) == {"a": 1.0, "b": 1.0}
    assert normalise_leg([("a", 0.2)]) == {"a": 1.0}
    assert normalise_leg([]) == {}


def test_convex_fuse_hand_computed() -> None:
    bm25 = [("p1", 12.0), ("p2", 4.0), ("p3", 2.0)]  # normalised 1.0, 0.2, 0.0
    dense = [("p2", 0.8), ("p4", 0.7), ("p1", 0.3)]  # normalised 1.0, 0.8, 0.0
    fused = dict(convex_fuse([bm25, dense]))
    assert fused == pytest.approx({"p1": 0.5, "p2": 0.6, "p3": 0.0, "p4": 0.4})
    assert [p for p, _ in convex_fuse([bm25, dense])] == ["p2", "p1", "p4", "p3"]
    # RRF would put p1 and p2 level (ranks 1+3 vs 2+1 are close); convex keeps p1's lead in BM25 only
    # as far as its normalised margin goes, and weights shift it.
    weighted = dict(convex_fuse([bm25, dense], weights=[3, 1]))
    assert weighted["p1"] == pytest.approx(0.75) and weighted["p2"] == pytest.approx(0.4)


def test_convex_fuse_ties_break_by_page_id_and_bad_weights_fail() -> None:
    assert convex_fuse([[("b", 1.0), ("a", 1.0)]]) == [("a", 1.0), ("b", 1.0)]
    assert convex_fuse([]) == []
    with pytest.raises(ValueError):
        convex_fuse([[("a", 1.0)]], weights=[1, 1])
    with pytest.raises(ValueError):
        convex_fuse([[("a", 1.0)], [("b", 1.0)]], weights=[0, 0])
    with pytest.raises(ValueError):
        convex_fuse([[("a", 1.0)]], weights=[-1])
