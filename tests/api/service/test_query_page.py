"""The query typeset as a page for the vision leg of a search: rendered at the encoder's view size, so the
view is the rendered page itself (padded), with no resampling on the query path."""

from __future__ import annotations

import numpy as np

from api.service.vision_ops import QUERY_DPI, QUERY_PAGE_PT, text_as_page
from encoder.modes import get_mode, make_views

QUERY = "When was the Harbour Lighthouse on the northern breakwater built?"


def test_a_query_page_rendered_at_the_view_size_is_the_view_unresampled() -> None:
    base = get_mode("base")
    page = text_as_page(QUERY, base.size)
    assert max(page.size) == base.size
    view = np.asarray(make_views(page, base).global_view)
    left = (base.size - page.width) // 2  # padded left and right with the mean colour
    assert np.array_equal(view[:, left : left + page.width], np.asarray(page))
    ink = np.asarray(page).min(axis=2) < 128
    assert ink.sum() > 500  # the query's text is there


def test_without_a_view_size_the_query_page_keeps_the_indexing_dpi() -> None:
    page = text_as_page(QUERY)
    assert page.size == tuple(round(pt * QUERY_DPI / 72) for pt in QUERY_PAGE_PT)


def test_a_search_typesets_its_query_at_the_v1_encoders_view_size(monkeypatch) -> None:
    from api.service import retrieval, vision_ops
    from api.service.runtime import VisionRuntime

    seen = []

    def pooled(vision, image):
        seen.append(image.size)
        return [1.0] + [0.0] * (vision.encoder.dim - 1)

    class Embedder:
        def embed_query(self, text):
            return np.ones(384, dtype=np.float32)

    class Store:
        def search(self, query, vector, **kwargs):
            return kwargs["vision_vec"]

    monkeypatch.setattr(vision_ops, "pooled_vector", pooled)
    vision = VisionRuntime.tiny(mode="small")
    assert retrieval.retrieve(Store(), Embedder(), QUERY, top_k=3, vision=vision)[0] == 1.0
    assert max(seen[0]) == get_mode("small").size == 640
