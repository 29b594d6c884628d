"""POST /v1/search: hybrid search over the indexed pages."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.client.schemas import ErrorResponse, SearchHit, SearchRequest, SearchResponse
from api.rest.deps import ReadAccess, State
from api.rest.errors import ApiError
from api.rest.routers.limits import check_text, check_top_k

router = APIRouter(prefix="/v1", tags=["search"])


@router.post(
    "/search",
    response_model=SearchResponse,
    responses={401: {"model": ErrorResponse}, 403: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
def search(body: SearchRequest, request: Request, state: State, _: ReadAccess) -> SearchResponse:
    """Pages that match the query best (BM25 + dense text [+ vision], fused by RRF)."""
    check_text(state.settings, "query", body.query)
    check_top_k(state.settings, body.top_k)
    doc_ids = body.filters.doc_ids if body.filters and body.filters.doc_ids else None
    try:
        found = state.service.search(body.query, top_k=body.top_k, doc_ids=doc_ids)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    return SearchResponse(
        results=[
            SearchHit(
                doc_id=r.doc_id,
                source=state.uploads.display(r.source),
                page=r.page,
                page_id=r.page_id,
                score=r.score,
                snippet=r.snippet,
                image_url=str(request.url_for("page_image", page_id=r.page_id)),
            )
            for r in found.results
        ]
    )
