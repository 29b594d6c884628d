"""POST /v1/search: hybrid search over the indexed pages."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.client.schemas import ErrorResponse, SearchHit, SearchRequest, SearchResponse
from api.rest.deps import ReadAccess, State
from api.rest.errors import ApiError
from api.rest.routers.limits import check_text, check_top_k
from api.settings import Settings

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
                image_url=page_image_url(state.settings, request, r.page_id),
            )
            for r in found.results
        ]
    )


def page_image_url(settings: Settings, request: Request, page_id: str) -> str:
    """The link to a page's PNG: on `public_base_url` when set, else a path relative to this server. Never
    built from the request's Host header, which the client chooses (a forged one would send the client's
    key wherever it names)."""
    path = request.app.url_path_for("page_image", page_id=page_id)
    return f"{settings.public_base_url}{path}" if settings.public_base_url else str(path)
