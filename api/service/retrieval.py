"""The top pages for a query: the query's vectors, then the store's hybrid search.

The text vector always; when the index has a vision leg, also the query typeset as a page and encoded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from encoder.text_embedder import TextEmbedder
from retriever.fusion import Fusion
from retriever.records import SearchHit
from retriever.store import IndexStore

if TYPE_CHECKING:
    from api.service.runtime import VisionRuntime


def retrieve(
    store: IndexStore,
    embedder: TextEmbedder,
    query: str,
    *,
    top_k: int,
    doc_ids: list[str] | None = None,
    vision: VisionRuntime | None = None,
    fusion: Fusion = "convex",
) -> list[SearchHit]:
    """The top pages for a query (hybrid search), as full page records for a reader or decoder.

    Args:
        store: the open index. embedder: the text model that built it.
        query: the query or question. top_k: pages returned. doc_ids: only pages of these documents.
        vision: the model for the vision leg (None: BM25 and dense text only). fusion: convex | rrf.
    Raises:
        ValueError: an empty query.
    """
    if not query.strip():
        raise ValueError("the query is empty")
    vector = embedder.embed_query(query)
    vision_vec = None
    if vision is not None:
        from api.service.vision_ops import pooled_vector, text_as_page

        view_mode = getattr(vision.encoder, "view_mode", None)  # v1: render at its global view's size
        vision_vec = pooled_vector(vision, text_as_page(query, view_mode.size if view_mode else None))
    return store.search(
        query, vector.tolist(), top_k=top_k, doc_ids=doc_ids, vision_vec=vision_vec, fusion=fusion
    )
