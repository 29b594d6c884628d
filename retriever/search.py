"""Hybrid page search: BM25 on text + dense text vector (+ pooled vision vector), fused.

Fusion (`retriever.fusion`): "convex" runs each leg as its own Milvus search, asking only for page ids and
scores, fuses the normalised scores here and then reads the winning pages; "rrf" sends all legs in one
Milvus hybrid_search with its RRF ranker.

Visibility: only pages of documents whose manifest status is "complete" are returned. Non-complete
documents are excluded inside Milvus (so top_k stays full), and the hits' documents are re-checked after
the search, which also covers a document that changed status between the two calls and pages that have
no manifest row at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from pymilvus import AnnSearchRequest

from retriever.connection import Connection
from retriever.engine import BM25_WITHOUT_TERMS, Engine
from retriever.errors import RetrieverError
from retriever.filters import Filter, field_in, field_not_in
from retriever.fusion import FUSIONS, Fusion, convex_fuse
from retriever.manifest import COMPLETE, complete_doc_ids, get_docs, hidden_doc_ids
from retriever.pages import read_pages, row_to_page
from retriever.records import IndexConfig, SearchHit, Vector
from retriever.schema import PAGE_SCALAR_FIELDS, CollectionNames

# RRF's k: score = Σ 1/(k + rank). 60 is the value of the original RRF paper and Milvus' default.
RRF_K = 60
# Candidates per leg: fusion needs each leg to see well past top_k for a page ranked low in one leg and
# high in another to surface, and convex fusion's min-max bounds settle with depth (SQuAD nDCG@10: 50
# candidates 1.0405x BM25, 100 1.0417x); legs return ids and scores only, so depth is cheap.
CANDIDATE_FACTOR = 4
MIN_CANDIDATES = 100
# Extra fused results asked for, so that dropping a hit in the post-check rarely leaves fewer than top_k.
POST_CHECK_SLACK = 5
# Threads that send the legs of convex searches (three legs at most per search; a few searches at once).
_LEGS = ThreadPoolExecutor(max_workers=6, thread_name_prefix="vtrag-leg")


def candidate_limit(top_k: int) -> int:
    """Number of candidates each search leg returns before fusion.

    Args:
        top_k: results wanted.

    Returns:
        max(top_k * CANDIDATE_FACTOR, MIN_CANDIDATES).
    """
    return max(top_k * CANDIDATE_FACTOR, MIN_CANDIDATES)


def visibility_filter(hidden: set[str], doc_ids: Sequence[str] | None) -> Filter | None:
    """The page filter that keeps only visible documents (and only `doc_ids`, when given).

    Args:
        hidden: ids of documents that are not complete.
        doc_ids: restrict to these documents; None for all.

    Returns:
        The Filter, or None when nothing can match (every requested document is hidden or none was given).
    """
    if doc_ids is None:
        return field_not_in("doc_id", sorted(hidden))
    allowed = sorted(set(doc_ids) - hidden)
    if not allowed:
        return None
    return field_in("doc_id", allowed)


def _dense(vec: Vector, dim: int, what: str) -> list[float]:
    arr = np.asarray(vec, dtype=np.float32).reshape(-1)
    if arr.shape[0] != dim:
        raise ValueError(f"{what} has dim {arr.shape[0]}, the index expects {dim}")
    return [float(x) for x in arr]


def build_requests(
    config: IndexConfig,
    engine: Engine,
    query: str,
    query_vec: Vector | None,
    vision_vec: Vector | None,
    flt: Filter,
    limit: int,
) -> list[AnnSearchRequest]:
    """One AnnSearchRequest per usable leg.

    Args:
        config: the index config (dims; whether vision_vec exists).
        engine: the Milvus engine (dense search parameters).
        query: raw query text for BM25 ("" skips the leg).
        query_vec: dense text query vector (None skips the leg).
        vision_vec: pooled vision query vector (used only when the index has a vision encoder).
        flt: visibility filter applied inside every leg.
        limit: candidates per leg.

    Returns:
        The requests (possibly empty).

    Raises:
        ValueError: a vector has the wrong dim, or vision_vec is given to an index without vision vectors.
    """
    expr = flt.render() or None
    dense = engine.dense_search_params(limit)
    requests: list[AnnSearchRequest] = []
    if query.strip():
        # BM25 legs take the raw text: Milvus runs the same analyzer + BM25 function on it.
        requests.append(AnnSearchRequest([query], "sparse", {}, limit, expr=expr))
    if query_vec is not None:
        vec = _dense(query_vec, config.text_dim, "query_vec")
        requests.append(AnnSearchRequest([vec], "text_vec", dense, limit, expr=expr))
    if vision_vec is not None:
        if config.vision_dim is None:
            raise ValueError("this index has no vision vectors (built without a vision encoder)")
        vec = _dense(vision_vec, config.vision_dim, "vision_vec")
        requests.append(AnnSearchRequest([vec], "vision_vec", dense, limit, expr=expr))
    return requests


def _leg_hits(conn: Connection, names: CollectionNames, request: AnnSearchRequest) -> list[tuple[str, float]]:
    try:
        hits = conn.search_leg(names.pages, request)
    except RetrieverError as exc:
        if request.anns_field == "sparse" and BM25_WITHOUT_TERMS in exc.message:
            return []  # no page has a term: BM25 matches nothing (retriever/engine.py)
        raise
    return [(str(r["entity"]["page_id"]), float(r["distance"])) for r in hits]


def doc_of(page_id: str) -> str:
    """The document id inside a page id ("doc_id:page_no")."""
    return page_id.rpartition(":")[0]


def _to_hits(results: list[dict[str, Any]]) -> list[SearchHit]:
    return [SearchHit(page=row_to_page(r["entity"]), score=float(r["distance"])) for r in results]


def keep_complete(
    conn: Connection, names: CollectionNames, hits: list[SearchHit], top_k: int
) -> list[SearchHit]:
    """Drop hits whose document is not (or no longer) complete; keep at most top_k.

    Args:
        conn: open connection.
        names: the index's collections.
        hits: fused hits, best first.
        top_k: results wanted.

    Returns:
        The visible hits, best first.
    """
    docs = get_docs(conn, names.docs, {h.page.doc_id for h in hits})
    visible = [h for h in hits if (d := docs.get(h.page.doc_id)) is not None and d.status == COMPLETE]
    return visible[:top_k]


def hybrid_search(
    conn: Connection,
    names: CollectionNames,
    config: IndexConfig,
    query: str,
    query_vec: Vector | None,
    *,
    top_k: int,
    doc_ids: Sequence[str] | None = None,
    vision_vec: Vector | None = None,
    fusion: Fusion = "convex",
) -> list[SearchHit]:
    """Search pages with every available leg, fused.

    Args:
        conn: open connection.
        names: the index's collections.
        config: the index config.
        query: raw query text (BM25 leg).
        query_vec: dense text query vector.
        top_k: results wanted (≥ 1).
        doc_ids: restrict to these documents.
        vision_vec: pooled vision query vector.
        fusion: "convex" (normalised scores, averaged) or "rrf" (Milvus' RRF ranker).

    Returns:
        Up to top_k hits, best first, pages without vectors; score is the fused score.

    Raises:
        ValueError: top_k < 1, no usable leg, an unknown fusion, or a vector of the wrong dim.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    if fusion not in FUSIONS:
        raise ValueError(f"unknown fusion {fusion!r}; use one of {', '.join(FUSIONS)}")
    limit = candidate_limit(top_k)
    probe = build_requests(config, conn.engine, query, query_vec, vision_vec, Filter(), limit)
    if not probe:
        raise ValueError("search needs query text or a query vector")
    flt = visibility_filter(hidden_doc_ids(conn, names.docs), doc_ids)
    if flt is None:
        return []
    requests = build_requests(config, conn.engine, query, query_vec, vision_vec, flt, limit)
    fused = min(top_k + POST_CHECK_SLACK, limit)
    if fusion == "rrf":
        try:
            results = conn.hybrid_search(names.pages, requests, RRF_K, fused, PAGE_SCALAR_FIELDS)
        except RetrieverError as exc:
            requests = [r for r in requests if r.anns_field != "sparse"]
            if BM25_WITHOUT_TERMS not in exc.message:
                raise
            if not requests:
                return []
            results = conn.hybrid_search(names.pages, requests, RRF_K, fused, PAGE_SCALAR_FIELDS)
        return keep_complete(conn, names, _to_hits(results), top_k)
    # The legs run at once: each is one round trip to the engine, which searches on its own threads.
    legs = list(_LEGS.map(lambda req: _leg_hits(conn, names, req), requests))
    ranked = convex_fuse(legs)[:fused]
    # A page id names its document, so the post-check runs before any page is read, and only the final
    # top_k pages (text, line boxes) are fetched.
    visible = complete_doc_ids(conn, names.docs, {doc_of(pid) for pid, _ in ranked})
    ranked = [(pid, score) for pid, score in ranked if doc_of(pid) in visible][:top_k]
    pages = read_pages(conn, names.pages, [page_id for page_id, _ in ranked])
    return [SearchHit(page=pages[pid], score=score) for pid, score in ranked if pid in pages]


def similar_pages(
    conn: Connection,
    names: CollectionNames,
    config: IndexConfig,
    vision_vec: Vector,
    *,
    top_k: int,
    doc_ids: Sequence[str] | None = None,
) -> list[SearchHit]:
    """Dense-only search on the pooled vision vectors (query by image).

    Args:
        conn: open connection.
        names: the index's collections.
        config: the index config (must have a vision encoder).
        vision_vec: pooled vision vector of the query image.
        top_k: results wanted (≥ 1).
        doc_ids: restrict to these documents.

    Returns:
        Up to top_k hits, best first; score is cosine similarity.

    Raises:
        ValueError: the index has no vision vectors, top_k < 1, or wrong dim.
    """
    if config.vision_dim is None:
        raise ValueError("this index has no vision vectors (built without a vision encoder)")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    vec = _dense(vision_vec, config.vision_dim, "vision_vec")
    flt = visibility_filter(hidden_doc_ids(conn, names.docs), doc_ids)
    if flt is None:
        return []
    limit = top_k + POST_CHECK_SLACK
    results = conn.search(
        names.pages, "vision_vec", vec, flt, limit, conn.engine.dense_search_params(limit), PAGE_SCALAR_FIELDS
    )
    return keep_complete(conn, names, _to_hits(results), top_k)
