"""Path parameters in the SDK (issue 11, defect 8): ids are checked before anything is sent, and encoded, so
`documents.get(doc_id="x/../<id>")` can never fetch `<id>` (or anything else)."""

from __future__ import annotations

import asyncio

import pytest

from api.client import AsyncClient, Client
from tests.api.conftest import API_KEY, Running


def bad_ids(doc_id: str) -> list[str]:
    return [
        f"x/../{doc_id}",
        f"{doc_id}/../{doc_id}",
        f"{doc_id}?status=x",
        f"{doc_id}#x",
        doc_id.upper(),
        "",
    ]


def test_sdk_refuses_ids_that_are_not_ids(lite_server: Running, indexed: dict[str, str]) -> None:
    doc_id = indexed["bread.pdf"]
    with Client(base_url=lite_server.base_url, api_key=API_KEY, max_retries=0) as client:
        for bad in bad_ids(doc_id):
            with pytest.raises(ValueError, match="doc_id"):
                client.documents.get(doc_id=bad)
            with pytest.raises(ValueError, match="doc_id"):
                client.documents.delete(doc_id=bad)
        for bad_job in ("../documents", "0" * 31 + "/", "%2e%2e"):
            with pytest.raises(ValueError, match="job_id"):
                client.jobs.get(job_id=bad_job)
        for bad_page in (f"{doc_id}:1/../../documents", f"x/../{doc_id}:1", f"{doc_id}:0"):
            with pytest.raises(ValueError, match="page_id"):
                client.pages.image(page_id=bad_page)
        assert client.documents.get(doc_id=doc_id).doc_id == doc_id  # real ids still work
        assert client.pages.image(page_id=f"{doc_id}:1").startswith(b"\x89PNG")
    with Client(base_url=lite_server.base_url, api_key=API_KEY) as client:
        assert client.documents.get(doc_id=doc_id).status == "complete"

    async def run() -> None:
        async with AsyncClient(base_url=lite_server.base_url, api_key=API_KEY, max_retries=0) as client:
            with pytest.raises(ValueError, match="doc_id"):
                await client.documents.get(doc_id=f"x/../{doc_id}")
            with pytest.raises(ValueError, match="doc_id"):
                await client.documents.delete(doc_id=f"x/../{doc_id}")
            with pytest.raises(ValueError, match="job_id"):
                await client.jobs.get(job_id="../x")
            with pytest.raises(ValueError, match="page_id"):
                await client.pages.image(page_id=f"x/../{doc_id}:1")
            assert (await client.documents.get(doc_id=doc_id)).doc_id == doc_id

    asyncio.run(run())
