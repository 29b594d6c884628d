"""GET /v1/pages/{page_id}/image: a page rendered from its stored source file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from api.client.schemas import PAGE_ID_PATTERN, ErrorResponse, ModeName
from api.rest.deps import ReadAccess, State
from api.rest.errors import ApiError
from api.service.page_sources import SourceUnavailableError

router = APIRouter(prefix="/v1/pages", tags=["pages"])


@router.get(
    "/{page_id}/image",
    name="page_image",
    response_class=Response,
    response_model=None,
    responses={
        200: {"content": {"image/png": {}}, "description": "The page as PNG."},
        **{code: {"model": ErrorResponse} for code in (401, 403, 404, 422)},
    },
)
def page_image(
    page_id: Annotated[str, Path(pattern=PAGE_ID_PATTERN, description='"doc_id:page_no"')],
    state: State,
    _: ReadAccess,
    mode: Annotated[
        ModeName | None,
        Query(description="Longest side at this mode's view size; default: the page's index resolution."),
    ] = None,
) -> Response:
    """PNG of one page, rendered from the file the document was indexed from."""
    store = state.service.store()
    doc_id = page_id.split(":", 1)[0]
    doc = store.get_doc(doc_id)
    pages = store.get_pages([page_id]) if doc is not None and doc.status == "complete" else []
    if not pages:
        raise ApiError(404, f"no page {page_id}")
    page = pages[0]
    try:
        png = state.sources.render_png(page.doc_id, page.source, page.page_no, mode)
    except SourceUnavailableError as exc:
        raise ApiError(404, str(exc), type="source_unavailable") from None
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})
