"""`vtrag mcp` spawned by the official SDK's client over stdio: every tool against a small index, bad
arguments as MCP tool errors (the server lives on), and `--server URL` under the REST server's auth rules."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from PIL import Image

from tests.api.conftest import API_KEY, Running
from tests.conftest import make_pdf, run_cli

ROOT = Path(__file__).resolve().parents[3]
TOOLS = {"search", "answer", "extract_page", "list_documents", "get_page_image"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("mcp")
    docs = root / "docs"
    docs.mkdir()
    make_pdf(
        docs / "lighthouse.pdf",
        [
            "The Harbour Lighthouse was built in 1871 on the northern breakwater. Its keeper, Thomas Rowe, "
            "kept the lamp burning through the great storm of 1893, when waves broke over the gallery.",
            "In 1921 the oil lamp was replaced by an electric light visible for twenty nautical miles.",
        ],
    )
    make_pdf(docs / "bread.pdf", ["To bake a rye loaf, mix sourdough starter with dark rye flour."])
    run_cli("index", "build", str(docs), "--data-dir", str(root / "data"), check=True)
    return root / "data"


def with_mcp(
    args: list[str], body: Callable[[Client], Awaitable[None]], env: dict[str, str] | None = None
) -> None:
    """Spawn `vtrag mcp ARGS` as an MCP client would and run `body` against it."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "api.cli", "mcp", *args],
        env={
            "HF_HUB_OFFLINE": "1",
            "HOME": os.environ.get("HOME", "/root"),
            **{k: v for k, v in os.environ.items() if k == "VTRAG_CACHE_DIR"},  # the int8 MiniLM cache
            **(env or {}),
        },
        cwd=ROOT,
    )

    async def run() -> None:
        async with Client(params) as client:
            await body(client)

    asyncio.run(asyncio.wait_for(run(), timeout=600))


def error_text(result: Any) -> str:
    assert result.is_error, result
    return " ".join(c.text for c in result.content if c.type == "text")


def test_every_tool_over_stdio(data_dir: Path) -> None:
    async def body(client: Client) -> None:
        listed = (await client.list_tools()).tools
        assert {t.name for t in listed} == TOOLS
        for tool in listed:
            assert tool.input_schema["type"] == "object" and tool.description
        assert next(t for t in listed if t.name == "search").input_schema["required"] == ["query"]

        found = await client.call_tool("search", {"query": "lighthouse keeper storm", "top_k": 3})
        assert not found.is_error
        hits = found.structured_content["results"]
        assert hits[0]["source"].endswith("lighthouse.pdf") and hits[0]["page"] == 1
        page_id = hits[0]["page_id"]

        answered = await client.call_tool("answer", {"question": "When was the lighthouse built?"})
        answer = answered.structured_content
        assert answer["answer"] == "1871" and answer["mode"] == "extractive"
        cited = answer["citations"][0]
        assert cited["page_id"] == page_id
        assert cited["bbox"]["page_size"] == [595.0, 842.0]

        read = await client.call_tool("extract_page", {"page_id": page_id})
        assert "built in 1871" in read.structured_content["text"]
        located = await client.call_tool(
            "extract_page", {"page_id": page_id, "task": "locate", "query": "storm"}
        )
        boxes = located.structured_content["boxes"]
        assert boxes and all("storm" in b["label"] for b in boxes)

        docs = (await client.call_tool("list_documents", {})).structured_content
        assert docs["total"] == 2
        assert {d["pages"] for d in docs["documents"]} == {1, 2}

        image = await client.call_tool("get_page_image", {"page_id": page_id})
        assert not image.is_error
        [content] = image.content
        assert content.type == "image" and content.mime_type == "image/png"
        png = Image.open(io.BytesIO(base64.b64decode(content.data)))
        assert png.size == (1190, 1684)  # A4 at the index's 144 dpi
        small = await client.call_tool("get_page_image", {"page_id": page_id, "mode": "tiny"})
        assert max(Image.open(io.BytesIO(base64.b64decode(small.content[0].data))).size) == 512

    with_mcp(["--data-dir", str(data_dir)], body)


def test_bad_arguments_are_tool_errors_and_the_server_lives_on(data_dir: Path) -> None:
    missing_page = "0" * 64 + ":1"

    async def body(client: Client) -> None:
        assert "query" in error_text(await client.call_tool("search", {"query": ""}))
        assert "top_k" in error_text(await client.call_tool("search", {"query": "x", "top_k": 0}))
        assert "question" in error_text(await client.call_tool("answer", {}))
        assert "limit of 2000" in error_text(await client.call_tool("answer", {"question": "why " * 600}))
        assert "page_id" in error_text(await client.call_tool("get_page_image", {"page_id": "nope"}))
        assert "not found" in error_text(await client.call_tool("get_page_image", {"page_id": missing_page}))
        assert "mode" in error_text(
            await client.call_tool("get_page_image", {"page_id": missing_page, "mode": "x"})
        )
        assert "needs 'query'" in error_text(
            await client.call_tool("extract_page", {"page_id": missing_page, "task": "locate"})
        )
        assert "status" in error_text(await client.call_tool("list_documents", {"status": "gone"}))
        assert "nosuch" in error_text(await client.call_tool("nosuch", {}))
        still = await client.call_tool("search", {"query": "rye loaf"})
        assert still.structured_content["results"][0]["source"].endswith("bread.pdf")

    with_mcp(["--data-dir", str(data_dir)], body)


def test_server_mode_goes_through_rest_with_its_auth(lite_server: Running, indexed: dict[str, str]) -> None:
    async def allowed(client: Client) -> None:
        found = await client.call_tool("search", {"query": "Gutenberg movable type"})
        assert found.structured_content["results"][0]["doc_id"] == indexed["printing.pdf"]
        docs = (await client.call_tool("list_documents", {})).structured_content["documents"]
        assert "printing.pdf" in {d["filename"] for d in docs}
        image = await client.call_tool("get_page_image", {"page_id": f"{indexed['printing.pdf']}:1"})
        assert image.content[0].mime_type == "image/png"

    async def refused(client: Client) -> None:
        assert "(403)" in error_text(await client.call_tool("search", {"query": "Gutenberg"}))

    async def anonymous(client: Client) -> None:
        assert "(401)" in error_text(await client.call_tool("list_documents", {}))

    server = ["--server", lite_server.base_url]
    with_mcp(server, allowed, env={"VTRAG_API_KEY": API_KEY})
    with_mcp(server, refused, env={"VTRAG_API_KEY": "not-the-key-0123456789"})
    with_mcp(server, anonymous)
