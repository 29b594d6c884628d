"""Hybrid search through Milvus Lite: BM25 + dense legs, convex and RRF fusion, visibility by status."""

from __future__ import annotations

from dataclasses import replace

import pytest

from retriever import manifest, search
from retriever.store import IndexStore
from tests.retriever.helpers import add_doc, make_doc, make_page, unit


@pytest.fixture
def corpus(store: IndexStore) -> IndexStore:
    add_doc(store, "sea", [make_page("sea", 1, "The lighthouse keeper watched the storm roll in", unit(0))])
    add_doc(
        store, "car", [make_page("car", 1, "The automobile was repaired at the garage", unit(1, noise=0.05))]
    )
    add_doc(store, "beer", [make_page("beer", 1, "Zymurgy is the study of fermentation", unit(2))])
    add_doc(
        store,
        "misc",
        [make_page("misc", n, f"Quarterly revenue report section {n}", unit(3 + n)) for n in (1, 2, 3)],
    )
    return store


def _ids(hits: list) -> list[str]:
    return [h.page.page_id for h in hits]


def test_bm25_finds_an_exact_rare_word(corpus: IndexStore) -> None:
    assert _ids(corpus.search("zymurgy", None, top_k=3)) == ["beer:1"]
    # With a dense vector pointing squarely at another page, the BM25 leg still holds the rare word level
    # with that page: each is first in one leg (0.5 each), the tie broken by page id.
    hits = corpus.search("zymurgy", unit(5), top_k=3)
    assert _ids(hits)[:2] == ["beer:1", "misc:2"] and hits[0].score == hits[1].score == pytest.approx(0.5)
    # RRF ranks it first outright (1/61 + 1/(60 + its dense rank) against 1/61).
    assert _ids(corpus.search("zymurgy", unit(5), top_k=3, fusion="rrf"))[0] == "beer:1"


def test_dense_leg_finds_a_paraphrase(corpus: IndexStore) -> None:
    # No query word occurs in the page; only the (hand-made) embedding says "car repair".
    query_vec = unit(1, noise=0.1)
    hits = corpus.search("vehicle fixed", query_vec, top_k=2)
    assert _ids(hits)[0] == "car:1"
    assert hits[0].page.text.startswith("The automobile") and hits[0].page.text_vec is None


def test_rrf_scores_are_fused_inside_milvus(corpus: IndexStore) -> None:
    hits = corpus.search("lighthouse storm", unit(0), top_k=5, fusion="rrf")
    assert _ids(hits)[0] == "sea:1"
    assert hits[0].score == pytest.approx(2 / 61, rel=1e-3)  # rank 1 in both legs, k = 60


def test_convex_fusion_averages_normalised_leg_scores(corpus: IndexStore) -> None:
    # sea:1 is first in both legs: 1.0 from each. Only two pages contain "lighthouse" words, so the BM25
    # leg is sea:1 alone; every other page gets its dense share only (< 0.5).
    hits = corpus.search("lighthouse storm", unit(0), top_k=7)
    assert _ids(hits)[0] == "sea:1" and hits[0].score == pytest.approx(1.0)
    assert all(h.score < 0.5 for h in hits[1:]) and len(hits) == 6
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[1].page.text and hits[1].page.text_vec is None  # full page rows, read after fusion
    # A single leg keeps its own order; scores run from 1.0 down to 0.0 over its candidates.
    dense = corpus.search("", unit(1), top_k=10)
    assert _ids(dense)[0] == "car:1" and dense[0].score == 1.0 and dense[-1].score == 0.0


def test_unknown_fusion_is_refused(corpus: IndexStore) -> None:
    with pytest.raises(ValueError, match="unknown fusion"):
        corpus.search("lighthouse", unit(0), top_k=3, fusion="max")  # type: ignore[arg-type]


def test_documents_not_complete_are_never_returned(corpus: IndexStore) -> None:
    corpus.begin_doc(make_doc("draft"))
    corpus.write_pages([make_page("draft", 1, "zymurgy draft notes", unit(2))])
    assert "draft:1" not in _ids(corpus.search("zymurgy", unit(2), top_k=10))
    assert "draft:1" not in _ids(corpus.search("zymurgy", unit(2), top_k=10, doc_ids=["draft", "beer"]))
    corpus.complete_doc("draft")
    assert "draft:1" in _ids(corpus.search("zymurgy", unit(2), top_k=10))
    # A document being deleted disappears at once, before its rows are gone.
    doc = corpus.get_doc("beer")
    assert doc is not None
    corpus.begin_doc(replace(doc, status="deleting"))
    assert "beer:1" not in _ids(corpus.search("zymurgy", unit(2), top_k=10))
    corpus.begin_doc(replace(doc, status="failed"))
    assert "beer:1" not in _ids(corpus.search("zymurgy", unit(2), top_k=10))


def test_many_hidden_documents_are_all_hidden(corpus: IndexStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # Past HIDDEN_QUERY_LIMIT hidden documents the list is read with an iterator: none may slip through.
    monkeypatch.setattr(manifest, "HIDDEN_QUERY_LIMIT", 2)
    for name in ("d1", "d2", "d3"):
        corpus.begin_doc(make_doc(name))
        corpus.write_pages([make_page(name, 1, f"zymurgy {name} notes", unit(2))])
    assert manifest.hidden_doc_ids(corpus._conn, corpus._names.docs) == {"d1", "d2", "d3"}
    hits = _ids(corpus.search("zymurgy", unit(2), top_k=10))
    assert hits[0] == "beer:1" and not {"d1:1", "d2:1", "d3:1"} & set(hits)


def test_only_the_final_top_k_pages_are_read(corpus: IndexStore, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[list[str]] = []
    original = search.read_pages
    monkeypatch.setattr(
        search, "read_pages", lambda c, n, ids, *a: read.append(list(ids)) or original(c, n, ids, *a)
    )
    hits = corpus.search("revenue report section", unit(4), top_k=2)
    assert len(hits) == 2 and read == [_ids(hits)]


@pytest.mark.parametrize("fusion", ["convex", "rrf"])
def test_an_index_without_terms_is_searchable(store: IndexStore, fusion: str) -> None:
    # The 2.5 core scores BM25 over a corpus without a single term as NaN and refuses the search.
    assert store.search("zymurgy", unit(2), top_k=3, fusion=fusion) == []  # type: ignore[arg-type]
    add_doc(store, "blank", [make_page("blank", 1, "", unit(2))])  # a scan with no text
    hits = store.search("zymurgy", unit(2), top_k=3, fusion=fusion)  # type: ignore[arg-type]
    assert _ids(hits) == ["blank:1"]


def test_pages_without_a_manifest_row_are_not_returned(store: IndexStore) -> None:
    store.write_pages([make_page("orphan", 1, "zymurgy orphan")])
    assert store.search("zymurgy", None, top_k=5) == []


def test_doc_ids_filter(corpus: IndexStore) -> None:
    hits = corpus.search("revenue lighthouse", unit(0), top_k=10, doc_ids=["misc"])
    assert sorted(_ids(hits)) == ["misc:1", "misc:2", "misc:3"]
    assert corpus.search("lighthouse", unit(0), top_k=10, doc_ids=[]) == []
    assert corpus.search("lighthouse", unit(0), top_k=10, doc_ids=['sea" or doc_id != "x']) == []


def test_top_k_and_bad_arguments(corpus: IndexStore) -> None:
    assert len(corpus.search("the", unit(0), top_k=2)) == 2
    with pytest.raises(ValueError):
        corpus.search("", None, top_k=3)
    with pytest.raises(ValueError):
        corpus.search("x", None, top_k=0)
    with pytest.raises(ValueError, match="no vision vectors"):
        corpus.similar_pages(unit(0, dim=6), top_k=3)


def test_vision_leg_and_similar_pages(vision_store: IndexStore) -> None:
    s = vision_store
    add_doc(s, "a", [make_page("a", 1, "chart of sales", unit(0), vision_vec=unit(0, dim=6))])
    add_doc(s, "b", [make_page("b", 1, "photo of a cat", unit(1), vision_vec=unit(1, dim=6))])
    s.begin_doc(make_doc("c"))
    s.write_pages([make_page("c", 1, "hidden", unit(1), vision_vec=unit(1, dim=6))])
    hits = s.similar_pages(unit(1, dim=6, noise=0.1), top_k=2)
    assert _ids(hits) == ["b:1", "a:1"] and hits[0].score > hits[1].score
    assert _ids(s.search("", None, top_k=1, vision_vec=unit(0, dim=6))) == ["a:1"]
    assert _ids(s.search("cat", unit(1), top_k=1, vision_vec=unit(1, dim=6))) == ["b:1"]
