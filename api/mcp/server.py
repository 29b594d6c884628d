"""The MCP tools (`search`, `answer`, `extract_page`, `list_documents`, `get_page_image`) on the official SDK.

Each tool's arguments are typed, so the SDK publishes their JSON schema and refuses arguments that do not fit
it as a tool error. The tools call a `Backend` (api/mcp/backends.py): the Service in this process, or a
running server through the SDK. All five only read, so over HTTP they need what REST's reads need.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from mcp.server import MCPServer
from mcp.server.mcpserver import Image
from mcp_types import ToolAnnotations
from pydantic import Field

from api.client.resources import DocStatus
from api.client.schemas import (
    DOC_ID_PATTERN,
    MAX_FILTER_DOCS,
    MAX_TEXT_CHARS,
    PAGE_ID_PATTERN,
    AnswerMode,
    AnswerResponse,
    DocumentListResponse,
    ExtractResponse,
    ExtractTask,
    ModeName,
    SearchResults,
)
from api.mcp.backends import Backend

INSTRUCTIONS = (
    "vtrag indexes documents page by page. `search` finds pages (page_id, source, 1-based page, snippet); "
    "`answer` answers a question with citations (page and box in PDF points); `extract_page` reads one page "
    "out; `get_page_image` returns a page as PNG; `list_documents` lists what is indexed."
)
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True)

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S")]
TopK = Annotated[int, Field(ge=1, le=100, description="How many pages to retrieve.")]
DocIds = Annotated[
    list[Annotated[str, Field(pattern=DOC_ID_PATTERN)]] | None,
    Field(max_length=MAX_FILTER_DOCS, description="Only pages of these documents (doc ids)."),
]
PageId = Annotated[str, Field(pattern=PAGE_ID_PATTERN, description='"doc_id:page_no", as search returns it.')]


def build_server(backend: Callable[[], Backend]) -> MCPServer:
    """The MCP server with vtrag's tools.

    Args:
        backend: returns the Backend to call, per call (a server's state exists only once it has started).
    """
    server = MCPServer("vtrag", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING")

    @server.tool(annotations=READ_ONLY, structured_output=True)
    def search(
        query: Annotated[Text, Field(description="What to look for.")],
        top_k: TopK = 10,
        doc_ids: DocIds = None,
    ) -> SearchResults:
        """Pages that match the query best (hybrid BM25 + dense text search), with snippets."""
        return backend().search(query, top_k, doc_ids)

    @server.tool(annotations=READ_ONLY, structured_output=True)
    def answer(
        question: Annotated[Text, Field(description="The question.")],
        top_k: Annotated[int | None, Field(ge=1, le=100, description="Pages retrieved.")] = None,
        mode: Annotated[
            AnswerMode,
            Field(
                description="auto: decode from stored vision tokens when a decoder is configured, else "
                "extractive; generate: decoder only; extract: full OCR, then read; extractive: stored text."
            ),
        ] = "auto",
        full_ocr: Annotated[bool, Field(description="Answer from a fresh full OCR of the pages.")] = False,
        doc_ids: DocIds = None,
    ) -> AnswerResponse:
        """Answer a question from the top pages, citing each page and box; says which path produced it."""
        return backend().answer(question, top_k, mode, full_ocr, doc_ids)

    @server.tool(annotations=READ_ONLY, structured_output=True)
    def extract_page(
        page_id: PageId,
        task: Annotated[
            ExtractTask, Field(description="markdown | free_ocr | figure | locate (boxes of `query`).")
        ] = "markdown",
        query: Annotated[Text | None, Field(description="The text to find (task locate).")] = None,
    ) -> ExtractResponse:
        """One page's text and boxes (decoded from stored tokens when a model is configured)."""
        return backend().extract_page(page_id, task, query)

    @server.tool(annotations=READ_ONLY, structured_output=True)
    def list_documents(
        status: Annotated[DocStatus | None, Field(description="Only documents in this state.")] = None,
        limit: Annotated[int, Field(ge=1, le=1000)] = 100,
        offset: Annotated[int, Field(ge=0)] = 0,
    ) -> DocumentListResponse:
        """Documents in the index with their page counts and status, ordered by source."""
        return backend().list_documents(status, limit, offset)

    @server.tool(annotations=READ_ONLY)
    def get_page_image(
        page_id: PageId,
        mode: Annotated[
            ModeName | None,
            Field(description="Longest side at this mode's view size; default: the index resolution."),
        ] = None,
    ) -> Image:
        """One page as a PNG image, rendered from the file it was indexed from."""
        return Image(data=backend().page_image(page_id, mode), format="png")

    return server
