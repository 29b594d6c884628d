"""What the sync and async SDK clients share: configuration, retry policy, error mapping, upload parts."""

from __future__ import annotations

import email.utils
import mimetypes
import os
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

from api.client import constants as C
from api.client.errors import APIConnectionError, APITimeoutError, VtragError, status_error
from api.client.schemas import DOC_ID_PATTERN, JOB_ID_PATTERN, PAGE_ID_PATTERN

M = TypeVar("M", bound=BaseModel)
Timeout = float | httpx.Timeout | None
FileInput = str | os.PathLike[str] | tuple[str, bytes | IO[bytes]]
_ID_PATTERNS = {"doc_id": DOC_ID_PATTERN, "job_id": JOB_ID_PATTERN, "page_id": PAGE_ID_PATTERN}


@dataclass
class Options:
    """One request, ready to be (re)sent."""

    method: str
    path: str
    json: Any = None
    params: dict[str, Any] | None = None
    files: list[tuple[str, tuple[str, bytes, str]]] | None = None
    timeout: Timeout = None
    headers: dict[str, str] = field(default_factory=dict)


class BaseClient:
    """Settings both clients resolve the same way.

    Args:
        base_url: server root, e.g. http://127.0.0.1:8000 (default: $VTRAG_BASE_URL, else that).
        api_key: sent as `Authorization: Bearer` (default: $VTRAG_API_KEY; none: no header).
        timeout: seconds per attempt (or an httpx.Timeout).
        max_retries: extra attempts on connection errors, timeouts, 408, 429 and 5xx.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: Timeout = C.DEFAULT_TIMEOUT,
        max_retries: int = C.DEFAULT_MAX_RETRIES,
    ) -> None:
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.base_url = (base_url or os.environ.get(C.BASE_URL_ENV) or C.DEFAULT_BASE_URL).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {self.base_url!r}")
        self.api_key = api_key if api_key is not None else os.environ.get(C.API_KEY_ENV) or None
        self.timeout = as_timeout(timeout)
        self.max_retries = max_retries

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": C.USER_AGENT, "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def _build(self, http: httpx.Client | httpx.AsyncClient, options: Options) -> httpx.Request:
        return http.build_request(
            options.method,
            options.path,
            json=options.json,
            params=options.params,
            files=options.files,
            headers=options.headers or None,
            timeout=as_timeout(options.timeout) if options.timeout is not None else self.timeout,
        )


def as_timeout(timeout: Timeout) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if timeout is None:
        return httpx.Timeout(None)
    return httpx.Timeout(timeout, connect=min(timeout, C.DEFAULT_CONNECT_TIMEOUT))


def should_retry(response: httpx.Response) -> bool:
    return response.status_code in C.RETRY_STATUSES or response.status_code >= 500


def retry_delay(attempt: int, response: httpx.Response | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based): the server's Retry-After when it gives a
    sensible one, else bounded exponential backoff with jitter."""
    if response is not None:
        after = _retry_after(response.headers)
        if after is not None and 0 <= after <= C.MAX_RETRY_AFTER:
            return after
    delay = min(C.INITIAL_RETRY_DELAY * 2**attempt, C.MAX_RETRY_DELAY)
    return delay * (1 - C.RETRY_JITTER * random.random())


def _retry_after(headers: httpx.Headers) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(value)  # an HTTP date
    if parsed is None:
        return None
    return email.utils.mktime_tz(parsed) - time.time()


def transport_error(exc: httpx.TransportError, request: httpx.Request | None) -> VtragError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"the request timed out: {exc}", request=request)
    return APIConnectionError(f"could not reach the vtrag server: {exc}", request=request)


def parse(response: httpx.Response, cast: type[M]) -> M:
    """The response as `cast`, or the typed error for an error status."""
    if response.is_error:
        raise status_error(response)
    return cast.model_validate_json(response.content)


def read_files(files: Sequence[FileInput]) -> list[tuple[str, tuple[str, bytes, str]]]:
    """Multipart parts for uploads, read once so a retry can send them again."""
    if isinstance(files, (str, bytes, os.PathLike)) or not files:
        raise ValueError("files must be a non-empty list of paths or (filename, bytes | file) pairs")
    parts = []
    for item in files:
        if isinstance(item, tuple):
            name, content = item
            data = content if isinstance(content, bytes) else content.read()
        else:
            path = Path(item)
            name, data = path.name, path.read_bytes()
        ctype = mimetypes.guess_type(name)[0] or "application/octet-stream"
        parts.append(("files", (name, data, ctype)))
    return parts


def path_id(kind: str, value: str) -> str:
    """A path parameter checked against its pattern and percent-encoded, so no id can walk to another route
    (`documents.get(doc_id="x/../<id>")` raises instead of fetching `<id>`).

    Raises:
        ValueError: `value` is not a `kind` ("doc_id", "job_id", "page_id").
    """
    if not isinstance(value, str) or not re.fullmatch(_ID_PATTERNS[kind], value):
        raise ValueError(f"{kind} must match {_ID_PATTERNS[kind]}, got {value!r}")
    return quote(value, safe="")


def drop_none(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
