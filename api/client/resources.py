"""SDK resources: `client.documents`, `client.jobs`, `client.pages` (sync and async)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Literal, Protocol

import httpx

from api.client import constants as C
from api.client.base import FileInput, Options, Timeout, drop_none, path_id, read_files
from api.client.errors import JobTimeoutError
from api.client.schemas import (
    DeleteResponse,
    DocumentListResponse,
    DocumentResponse,
    JobResponse,
    UploadResponse,
)

DocStatus = Literal["indexing", "complete", "failed", "deleting"]


def _doc_path(doc_id: str) -> str:
    return f"/v1/documents/{path_id('doc_id', doc_id)}"


def _job_path(job_id: str) -> str:
    return f"/v1/jobs/{path_id('job_id', job_id)}"


def _image_path(page_id: str) -> str:
    return f"/v1/pages/{path_id('page_id', page_id)}/image"


class Sender(Protocol):
    """What a resource needs of `Client`: send a request (with retries), parsed or raw."""

    def _call(self, options: Options, cast: Any) -> Any: ...

    def _raw(self, options: Options) -> httpx.Response: ...


class AsyncSender(Protocol):
    """What an async resource needs of `AsyncClient`."""

    async def _call(self, options: Options, cast: Any) -> Any: ...

    async def _raw(self, options: Options) -> httpx.Response: ...


class Documents:
    def __init__(self, client: Sender) -> None:
        self._client = client

    def upload(self, *, files: Sequence[FileInput], timeout: Timeout = None) -> UploadResponse:
        """Upload files (paths, or (filename, bytes | binary file) pairs); returns the indexing job's id."""
        options = Options("POST", "/v1/documents", files=read_files(files), timeout=timeout)
        return self._client._call(options, UploadResponse)

    def list(
        self, *, status: DocStatus | None = None, limit: int = 100, offset: int = 0, timeout: Timeout = None
    ) -> DocumentListResponse:
        params = drop_none(status=status, limit=limit, offset=offset)
        return self._client._call(
            Options("GET", "/v1/documents", params=params, timeout=timeout), DocumentListResponse
        )

    def get(self, *, doc_id: str, timeout: Timeout = None) -> DocumentResponse:
        return self._client._call(Options("GET", _doc_path(doc_id), timeout=timeout), DocumentResponse)

    def delete(self, *, doc_id: str, timeout: Timeout = None) -> DeleteResponse:
        return self._client._call(Options("DELETE", _doc_path(doc_id), timeout=timeout), DeleteResponse)


class Jobs:
    def __init__(self, client: Sender) -> None:
        self._client = client

    def get(self, *, job_id: str, timeout: Timeout = None) -> JobResponse:
        return self._client._call(Options("GET", _job_path(job_id), timeout=timeout), JobResponse)

    def wait(
        self,
        *,
        job_id: str,
        poll_interval: float = C.JOB_POLL_INTERVAL,
        timeout: float = C.JOB_WAIT_TIMEOUT,
    ) -> JobResponse:
        """Poll until the job is succeeded, partial or failed; JobTimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id=job_id)
            if job.done:
                return job
            if time.monotonic() >= deadline:
                raise JobTimeoutError(job_id, timeout, job)
            time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))


class Pages:
    def __init__(self, client: Sender) -> None:
        self._client = client

    def image(self, *, page_id: str, mode: str | None = None, timeout: Timeout = None) -> bytes:
        """The page rendered as PNG bytes."""
        options = Options("GET", _image_path(page_id), params=drop_none(mode=mode), timeout=timeout)
        return self._client._raw(options).content


class AsyncDocuments:
    def __init__(self, client: AsyncSender) -> None:
        self._client = client

    async def upload(self, *, files: Sequence[FileInput], timeout: Timeout = None) -> UploadResponse:
        options = Options("POST", "/v1/documents", files=read_files(files), timeout=timeout)
        return await self._client._call(options, UploadResponse)

    async def list(
        self, *, status: DocStatus | None = None, limit: int = 100, offset: int = 0, timeout: Timeout = None
    ) -> DocumentListResponse:
        params = drop_none(status=status, limit=limit, offset=offset)
        return await self._client._call(
            Options("GET", "/v1/documents", params=params, timeout=timeout), DocumentListResponse
        )

    async def get(self, *, doc_id: str, timeout: Timeout = None) -> DocumentResponse:
        return await self._client._call(Options("GET", _doc_path(doc_id), timeout=timeout), DocumentResponse)

    async def delete(self, *, doc_id: str, timeout: Timeout = None) -> DeleteResponse:
        return await self._client._call(Options("DELETE", _doc_path(doc_id), timeout=timeout), DeleteResponse)


class AsyncJobs:
    def __init__(self, client: AsyncSender) -> None:
        self._client = client

    async def get(self, *, job_id: str, timeout: Timeout = None) -> JobResponse:
        return await self._client._call(Options("GET", _job_path(job_id), timeout=timeout), JobResponse)

    async def wait(
        self,
        *,
        job_id: str,
        poll_interval: float = C.JOB_POLL_INTERVAL,
        timeout: float = C.JOB_WAIT_TIMEOUT,
    ) -> JobResponse:
        """Poll until the job is succeeded, partial or failed; JobTimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = await self.get(job_id=job_id)
            if job.done:
                return job
            if time.monotonic() >= deadline:
                raise JobTimeoutError(job_id, timeout, job)
            await asyncio.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))


class AsyncPages:
    def __init__(self, client: AsyncSender) -> None:
        self._client = client

    async def image(self, *, page_id: str, mode: str | None = None, timeout: Timeout = None) -> bytes:
        options = Options("GET", _image_path(page_id), params=drop_none(mode=mode), timeout=timeout)
        return (await self._client._raw(options)).content
