"""The SDK's clients: `Client` and `AsyncClient`, one method per REST route (resources in `resources.py`)."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from typing import Any

import httpx

from api.client import constants as C
from api.client.base import (
    BaseClient,
    Options,
    Timeout,
    drop_none,
    parse,
    retry_delay,
    should_retry,
    transport_error,
)
from api.client.compaction_schemas import CompactRequest, CompactResult
from api.client.errors import status_error
from api.client.resources import AsyncDocuments, AsyncJobs, AsyncPages, Documents, Jobs, Pages
from api.client.schemas import (
    AnswerMode,
    AnswerResponse,
    ExtractResponse,
    ExtractTask,
    HealthResponse,
    SearchFilters,
    SearchResponse,
    StatusResponse,
)

Filters = SearchFilters | dict[str, Any] | None


def _filters(filters: Filters) -> dict[str, Any] | None:
    if filters is None:
        return None
    if isinstance(filters, SearchFilters):
        return filters.model_dump(exclude_none=True)
    return dict(filters)


def _search_body(query: str, top_k: int, filters: Filters) -> dict[str, Any]:
    return drop_none(query=query, top_k=top_k, filters=_filters(filters))


def _answer_body(
    question: str, top_k: int | None, mode: AnswerMode, full_ocr: bool, filters: Filters
) -> dict[str, Any]:
    return drop_none(question=question, top_k=top_k, mode=mode, full_ocr=full_ocr, filters=_filters(filters))


def _extract_body(
    page_id: str, task: ExtractTask, query: str | None, max_new_tokens: int | None
) -> dict[str, Any]:
    return drop_none(page_id=page_id, task=task, query=query, max_new_tokens=max_new_tokens)


class Client(BaseClient):
    """Synchronous client. See the module docstring; `BaseClient` documents the constructor arguments.

    Args:
        http_client: an httpx.Client to send through (its transport, limits, proxies); closed by `close()`.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: Timeout = C.DEFAULT_TIMEOUT,
        max_retries: int = C.DEFAULT_MAX_RETRIES,
        http_client: httpx.Client | None = None,
    ) -> None:
        super().__init__(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)
        self._http = http_client or httpx.Client()
        self._http.base_url = httpx.URL(self.base_url)
        self._http.headers.update(self._headers())
        self.documents = Documents(self)
        self.jobs = Jobs(self)
        self.pages = Pages(self)

    # -- routes --

    def search(
        self, *, query: str, top_k: int = 10, filters: Filters = None, timeout: Timeout = None
    ) -> SearchResponse:
        """POST /v1/search."""
        return self._call(
            Options("POST", "/v1/search", json=_search_body(query, top_k, filters), timeout=timeout),
            SearchResponse,
        )

    def answer(
        self,
        *,
        question: str,
        top_k: int | None = None,
        mode: AnswerMode = "auto",
        full_ocr: bool = False,
        filters: Filters = None,
        timeout: Timeout = None,
    ) -> AnswerResponse:
        """POST /v1/answer."""
        body = _answer_body(question, top_k, mode, full_ocr, filters)
        return self._call(Options("POST", "/v1/answer", json=body, timeout=timeout), AnswerResponse)

    def extract(
        self,
        *,
        page_id: str,
        task: ExtractTask = "markdown",
        query: str | None = None,
        max_new_tokens: int | None = None,
        timeout: Timeout = None,
    ) -> ExtractResponse:
        """POST /v1/extract."""
        body = _extract_body(page_id, task, query, max_new_tokens)
        return self._call(Options("POST", "/v1/extract", json=body, timeout=timeout), ExtractResponse)

    def compact(self, *, timeout: Timeout = None, **request: Any) -> CompactResult:
        """POST /v1/admin/compact (write key): the fields of CompactRequest, e.g. to="small",
        not_read_for="90d", dry_run=True. Checked here first, so a bad field fails before any request."""
        body = CompactRequest(**request).model_dump(exclude_none=True)
        return self._call(Options("POST", "/v1/admin/compact", json=body, timeout=timeout), CompactResult)

    def status(self, *, timeout: Timeout = None) -> StatusResponse:
        """GET /v1/status."""
        return self._call(Options("GET", "/v1/status", timeout=timeout), StatusResponse)

    def health(self, *, timeout: Timeout = None) -> HealthResponse:
        """GET /healthz."""
        return self._call(Options("GET", "/healthz", timeout=timeout), HealthResponse)

    # -- transport --

    def _call(self, options: Options, cast: Any) -> Any:
        return parse(self._raw(options), cast)

    def _raw(self, options: Options) -> httpx.Response:
        """Send with retries; returns the final response (error statuses raise)."""
        attempt = 0
        while True:
            request = self._build(self._http, options)
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise transport_error(exc, request) from exc
                time.sleep(retry_delay(attempt))
                attempt += 1
                continue
            if should_retry(response) and attempt < self.max_retries:
                response.close()
                time.sleep(retry_delay(attempt, response))
                attempt += 1
                continue
            if response.is_error:
                raise status_error(response)
            return response

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient(BaseClient):
    """Asynchronous client: the same methods as `Client`, awaited.

    Args:
        http_client: an httpx.AsyncClient to send through; closed by `close()`.
    """

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: Timeout = C.DEFAULT_TIMEOUT,
        max_retries: int = C.DEFAULT_MAX_RETRIES,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries)
        self._http = http_client or httpx.AsyncClient()
        self._http.base_url = httpx.URL(self.base_url)
        self._http.headers.update(self._headers())
        self.documents = AsyncDocuments(self)
        self.jobs = AsyncJobs(self)
        self.pages = AsyncPages(self)

    async def search(
        self, *, query: str, top_k: int = 10, filters: Filters = None, timeout: Timeout = None
    ) -> SearchResponse:
        """POST /v1/search."""
        return await self._call(
            Options("POST", "/v1/search", json=_search_body(query, top_k, filters), timeout=timeout),
            SearchResponse,
        )

    async def answer(
        self,
        *,
        question: str,
        top_k: int | None = None,
        mode: AnswerMode = "auto",
        full_ocr: bool = False,
        filters: Filters = None,
        timeout: Timeout = None,
    ) -> AnswerResponse:
        """POST /v1/answer."""
        body = _answer_body(question, top_k, mode, full_ocr, filters)
        return await self._call(Options("POST", "/v1/answer", json=body, timeout=timeout), AnswerResponse)

    async def extract(
        self,
        *,
        page_id: str,
        task: ExtractTask = "markdown",
        query: str | None = None,
        max_new_tokens: int | None = None,
        timeout: Timeout = None,
    ) -> ExtractResponse:
        """POST /v1/extract."""
        body = _extract_body(page_id, task, query, max_new_tokens)
        return await self._call(Options("POST", "/v1/extract", json=body, timeout=timeout), ExtractResponse)

    async def compact(self, *, timeout: Timeout = None, **request: Any) -> CompactResult:
        """POST /v1/admin/compact; see `Client.compact`."""
        body = CompactRequest(**request).model_dump(exclude_none=True)
        options = Options("POST", "/v1/admin/compact", json=body, timeout=timeout)
        return await self._call(options, CompactResult)

    async def status(self, *, timeout: Timeout = None) -> StatusResponse:
        """GET /v1/status."""
        return await self._call(Options("GET", "/v1/status", timeout=timeout), StatusResponse)

    async def health(self, *, timeout: Timeout = None) -> HealthResponse:
        """GET /healthz."""
        return await self._call(Options("GET", "/healthz", timeout=timeout), HealthResponse)

    async def _call(self, options: Options, cast: Any) -> Any:
        return parse(await self._raw(options), cast)

    async def _raw(self, options: Options) -> httpx.Response:
        attempt = 0
        while True:
            request = self._build(self._http, options)
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    raise transport_error(exc, request) from exc
                await asyncio.sleep(retry_delay(attempt))
                attempt += 1
                continue
            if should_retry(response) and attempt < self.max_retries:
                await response.aclose()
                await asyncio.sleep(retry_delay(attempt, response))
                attempt += 1
                continue
            if response.is_error:
                raise status_error(response)
            return response

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()
