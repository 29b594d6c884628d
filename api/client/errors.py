"""Errors the SDK raises. Catch `VtragError` for all of them.

VtragError
├── APIConnectionError        the server could not be reached (after retries)
│   └── APITimeoutError       ... or did not answer in time
├── JobTimeoutError           jobs.wait gave up before the job finished
└── APIStatusError            the server answered 4xx/5xx: .status_code, .type, .message, .detail, .response
    ├── BadRequestError       400, 422
    ├── AuthenticationError   401
    ├── PermissionDeniedError 403
    ├── NotFoundError         404
    ├── ConflictError         409
    ├── RateLimitError        429
    └── InternalServerError   5xx
"""

from __future__ import annotations

from typing import Any

import httpx


class VtragError(Exception):
    """Base of every SDK error."""


class APIConnectionError(VtragError):
    def __init__(
        self, message: str = "could not connect to the vtrag server", *, request: Any = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request = request


class APITimeoutError(APIConnectionError):
    def __init__(
        self, message: str = "the request to the vtrag server timed out", *, request: Any = None
    ) -> None:
        super().__init__(message, request=request)


class JobTimeoutError(VtragError):
    def __init__(self, job_id: str, seconds: float, last: Any = None) -> None:
        super().__init__(
            f"job {job_id} did not finish within {seconds:g} s (last status: "
            f"{getattr(last, 'status', 'unknown')})"
        )
        self.job_id = job_id
        self.last = last


class APIStatusError(VtragError):
    """The server answered with an error status; the error body's fields are attributes."""

    def __init__(self, message: str, *, response: httpx.Response, body: Any) -> None:
        super().__init__(f"{response.status_code} {message}")
        self.message = message
        self.response = response
        self.status_code = response.status_code
        self.body = body
        error = body.get("error") if isinstance(body, dict) else None
        self.type: str | None = error.get("type") if isinstance(error, dict) else None
        self.detail: Any = error.get("detail") if isinstance(error, dict) else None


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


class PermissionDeniedError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


class ConflictError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    pass


class InternalServerError(APIStatusError):
    pass


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: BadRequestError,
    429: RateLimitError,
}


def status_error(response: httpx.Response) -> APIStatusError:
    """The typed error for an error response (its JSON `{"error": {...}}` body parsed when present)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    error = body.get("error") if isinstance(body, dict) else None
    message = (
        str(error.get("message"))
        if isinstance(error, dict) and error.get("message")
        else (response.reason_phrase or "error")
    )
    cls = _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = InternalServerError if response.status_code >= 500 else APIStatusError
    return cls(message, response=response, body=body)
