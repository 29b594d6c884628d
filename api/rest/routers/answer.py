"""POST /v1/answer: an answer with citations, from stored tokens or, failing that, full OCR."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.client.schemas import AnswerRequest, AnswerResponse, ErrorResponse
from api.rest.deps import ReadAccess, State
from api.rest.errors import ApiError
from api.rest.routers.limits import check_text, check_top_k
from api.service.answer import ModeUnavailableError

router = APIRouter(prefix="/v1", tags=["answer"])


@router.post(
    "/answer",
    response_model=AnswerResponse,
    responses={
        400: {"model": ErrorResponse},
        401: {"model": ErrorResponse},
        403: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
    },
)
def answer(body: AnswerRequest, state: State, _: ReadAccess, response: Response) -> AnswerResponse:
    """Answer a question from the top pages; the response says which path produced the answer, and its
    `Server-Timing` header (also `timings_ms`) where the time went."""
    check_text(state.settings, "question", body.question)
    top_k = body.top_k or state.settings.top_k
    check_top_k(state.settings, top_k)
    doc_ids = body.filters.doc_ids if body.filters and body.filters.doc_ids else None
    try:
        answered = state.service.ask(
            body.question, top_k=top_k, mode=body.mode, full_ocr=body.full_ocr, doc_ids=doc_ids
        )
    except ModeUnavailableError as exc:
        raise ApiError(400, str(exc), type="mode_unavailable") from None
    except ValueError as exc:
        raise ApiError(400, str(exc)) from None
    response.headers["Server-Timing"] = ", ".join(f"{k};dur={v}" for k, v in answered.timings_ms.items())
    return answered
