"""The SDK against the real server: upload → job → search → answer, sync and async; the CLI's --server."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.client import (
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    NotFoundError,
    PermissionDeniedError,
)
from api.client.schemas import AnswerResponse, JobResponse, SearchResponse
from tests.api.conftest import API_KEY, Running
from tests.conftest import DEFAULT_READER, make_pdf, run_cli

ROOT = Path(__file__).resolve().parents[3]


def test_sync_upload_search_answer(lite_server: Running, tmp_path: Path) -> None:
    pdf = make_pdf(
        tmp_path / "observatory.pdf",
        [
            "The hill observatory opened in 1904.",
            "Its great refractor telescope was ground by Alvan Clark and has a lens of twenty-six inches.",
        ],
    )
    with Client(base_url=lite_server.base_url, api_key=API_KEY) as client:
        sent = client.documents.upload(files=[pdf])
        assert [f.filename for f in sent.files] == ["observatory.pdf"] and sent.files[0].pages == 2
        job = client.jobs.wait(job_id=sent.job_id, poll_interval=0.1, timeout=120)
        assert isinstance(job, JobResponse) and job.status == "succeeded" and job.progress.pages_done == 2
        doc_id = sent.files[0].doc_id

        found = client.search(query="refractor telescope lens", top_k=3)
        assert isinstance(found, SearchResponse)
        assert (found.results[0].doc_id, found.results[0].page) == (doc_id, 2)
        png = client.pages.image(page_id=found.results[0].page_id, mode="tiny")
        assert png.startswith(b"\x89PNG")

        answer = client.answer(question="Who ground the refractor telescope?", filters={"doc_ids": [doc_id]})
        assert isinstance(answer, AnswerResponse) and "Alvan Clark" in answer.answer
        assert (answer.citations[0].doc_id, answer.citations[0].page) == (doc_id, 2)
        assert answer.mode == "extractive" and not answer.fallback.ran
        assert answer.passage is not None and answer.passage.page_id == answer.citations[0].page_id
        a, b = answer.passage.span
        assert answer.passage.text[a:b] == answer.answer and answer.reader == DEFAULT_READER

        assert client.documents.get(doc_id=doc_id).filename == "observatory.pdf"
        assert doc_id in {d.doc_id for d in client.documents.list(status="complete").documents}
        extracted = client.extract(page_id=f"{doc_id}:1", task="locate", query="1904")
        assert extracted.boxes and "1904" in extracted.text

        assert client.documents.delete(doc_id=doc_id).deleted == [doc_id]
        with pytest.raises(NotFoundError) as missing:
            client.documents.get(doc_id=doc_id)
        assert missing.value.status_code == 404 and missing.value.type == "not_found"
        with pytest.raises(BadRequestError) as bad:
            client.search(query="lamp", top_k=500)
        assert bad.value.status_code == 422 and bad.value.detail
    anonymous = Client(base_url=lite_server.base_url, api_key=None, max_retries=0)
    with anonymous, pytest.raises(AuthenticationError):
        anonymous.search(query="lamp")
    wrong = Client(base_url=lite_server.base_url, api_key="wrong-key-0123456789", max_retries=0)
    with wrong, pytest.raises(PermissionDeniedError):
        wrong.status()


def test_async_upload_search_answer(lite_server: Running, tmp_path: Path) -> None:
    pdf = make_pdf(
        tmp_path / "canal.pdf", ["The Grand Canal lock was rebuilt in 1822 by engineer Mary Fenwick."]
    )

    async def flow() -> None:
        async with AsyncClient(base_url=lite_server.base_url, api_key=API_KEY) as client:
            sent = await client.documents.upload(files=[("canal.pdf", pdf.read_bytes())])
            job = await client.jobs.wait(job_id=sent.job_id, poll_interval=0.1, timeout=120)
            assert job.status == "succeeded"
            doc_id = sent.files[0].doc_id
            found, answer = await asyncio.gather(
                client.search(query="Grand Canal lock", top_k=2),
                client.answer(question="Who rebuilt the Grand Canal lock?", top_k=3),
            )
            assert found.results[0].doc_id == doc_id
            assert "Mary Fenwick" in answer.answer and answer.citations[0].doc_id == doc_id
            assert (await client.documents.delete(doc_id=doc_id)).deleted == [doc_id]
            with pytest.raises(NotFoundError):
                await client.jobs.get(job_id="0" * 32)

    asyncio.run(flow())


def test_importing_the_sdk_stays_light() -> None:
    heavy = ("torch", "transformers", "pymilvus", "api.service", "numpy")
    code = (
        "import sys, api.client, api.client.errors, api.client.constants\n"
        f"print(','.join(sorted(m for m in {heavy!r} if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""


def test_cli_search_and_ask_through_the_server(lite_server: Running, indexed: dict[str, str]) -> None:
    os.environ["VTRAG_API_KEY"] = API_KEY
    try:
        found = run_cli(
            "search", "keeper storm lamp", "--top-k", "2", "--server", lite_server.base_url, "--json"
        )
        answer = run_cli(
            "ask", "When was the Harbour Lighthouse built?", "--server", lite_server.base_url, "--json"
        )
    finally:
        del os.environ["VTRAG_API_KEY"]
    assert found.returncode == 0, found.stderr
    top = json.loads(found.stdout)["results"][0]
    assert (top["doc_id"], top["page"], top["source"]) == (indexed["lighthouse.pdf"], 1, "lighthouse.pdf")
    body = json.loads(answer.stdout)
    assert "1871" in body["answer"] and body["citations"][0]["page"] == 1 and body["mode"] == "extractive"
    assert "1871" in body["passage"]["text"] and body["passage"]["bbox"] is not None
    denied = run_cli("search", "lamp", "--server", lite_server.base_url)  # no key in the environment
    assert denied.returncode == 2 and "API key is required" in denied.stderr
