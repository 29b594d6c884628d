"""Every REST error leaves as `{"error": {"type", "message", "detail"}}` with the right status code.

Bad input is refused before anything is written, with a 4xx; a 5xx means the server itself failed (the store
went away, a bug), never that the request was wrong.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from retriever.errors import IndexNotFoundError, RetrieverError, StoreLockedError

log = logging.getLogger("vtrag.api")

_TYPES = {
    400: "bad_request",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
    507: "insufficient_storage",
}
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)  # a full disk (or quota): 507, not a bare 500
DISK_FULL_MESSAGE = "the server's disk is full; the request was not stored (retry once space is freed)"


class ApiError(Exception):
    """An error with its HTTP status, raised by routes and dependencies.

    Args:
        status: the HTTP status code.
        message: one line for people.
        type: machine-readable kind (default from the status).
        detail: structured extra information (JSON-serialisable).
        headers: extra response headers (WWW-Authenticate, Retry-After).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _TYPES.get(status, "error")
        self.detail = detail
        self.headers = headers


def error_response(
    status: int, type: str, message: str, detail: Any = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"type": type, "message": message, "detail": jsonable_encoder(detail)}}
    return JSONResponse(body, status_code=status, headers=headers)


def bad_request(message: str, detail: Any = None) -> ApiError:
    return ApiError(400, message, detail=detail)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def install_error_handlers(app: FastAPI) -> None:
    """Route every exception through the one error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.type, exc.message, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            422, "validation_error", "the request is not valid", _clean_errors(exc.errors())
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else _TYPES.get(status, "error")
        if status == 400 and "parsing the body" in message:
            if is_disk_full(exc.__cause__):  # the multipart parser could not spool the upload
                state = getattr(request.app.state, "vtrag", None)
                if state is not None:
                    state.disk.full()
                return error_response(507, _TYPES[507], DISK_FULL_MESSAGE)
            status = 422  # malformed JSON or multipart: the body is not valid, like any validation error
        headers = dict(exc.headers) if exc.headers else None
        return error_response(status, _TYPES.get(status, "error"), message, headers=headers)

    @app.exception_handler(RetrieverError)
    async def _store(request: Request, exc: RetrieverError) -> JSONResponse:
        log.error("store error on %s %s: %s", request.method, request.url.path, exc)
        if isinstance(exc, IndexNotFoundError):
            return error_response(503, "unavailable", exc.message)
        if exc.retriable or isinstance(exc, StoreLockedError):
            return error_response(503, "unavailable", exc.message, headers={"Retry-After": "2"})
        return error_response(500, "store_error", exc.message)


def is_disk_full(exc: BaseException | None) -> bool:
    return isinstance(exc, OSError) and exc.errno in NO_SPACE


def _clean_errors(errors: Any) -> list[dict[str, Any]]:
    """Validation errors without the raw input (which may be huge or not JSON-serialisable)."""
    out = []
    for err in errors:
        item = {k: err[k] for k in ("loc", "msg", "type") if k in err}
        out.append(jsonable_encoder(item))
    return out
