"""The vtrag Python SDK: `Client` and `AsyncClient`, one method per REST route.

    from api.client import Client

    with Client(base_url="http://127.0.0.1:8000", api_key="...") as client:
        job = client.documents.upload(files=["report.pdf"])
        client.jobs.wait(job_id=job.job_id)
        hits = client.search(query="harbour lighthouse", top_k=5)
        answer = client.answer(question="When was the lighthouse built?")

Arguments are keyword-only; every call takes `timeout=` (seconds per attempt). Responses are the pydantic
models of `api.client.schemas`. Connection errors, timeouts, 408, 429 and 5xx are retried with bounded
exponential backoff (honouring Retry-After); errors are the typed exceptions of `api.client.errors`.

This package imports httpx, pydantic and itself only: nothing else of vtrag, no torch, transformers or
pymilvus (tests/api/client/test_sdk_import.py holds it to that).
"""

from api.client.client import AsyncClient, Client
from api.client.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    JobTimeoutError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    VtragError,
)

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ConflictError",
    "InternalServerError",
    "JobTimeoutError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "VtragError",
]
