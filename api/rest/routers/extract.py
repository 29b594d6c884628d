"""POST /v1/extract: one stored page as markdown, free OCR, a figure parse, or the boxes of a phrase."""

from __future__ import annotations

from fastapi import APIRouter

from api.client.schemas import ErrorResponse, ExtractRequest, ExtractResponse
from api.rest.deps import ReadAccess, State
from api.rest.errors import ApiError
from api.rest.routers.limits import check_text
from api.service.extraction import ExtractUnavailableError, extract_page

router = APIRouter(prefix="/v1", tags=["extract"])


@router.post(
    "/extract",
    response_model=ExtractResponse,
    responses={
        400: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
        409: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
    },
)
def extract(body: ExtractRequest, state: State, _: ReadAccess) -> ExtractResponse:
    """Read one page (text + boxes). Decoded from stored tokens when a model is configured."""
    if body.query is not None:
        check_text(state.settings, "query", body.query)
    try:
        return extract_page(
            state.service,
            body,
            model_lock=state.model_lock,
            default_max_new_tokens=state.settings.answer_max_new_tokens,
        )
    except KeyError:
        raise ApiError(404, f"no page {body.page_id}") from None
    except ExtractUnavailableError as exc:
        raise ApiError(409, str(exc), type="unavailable_for_page") from None
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
