"""What the MCP tools call: the Service facade in this process (`LocalBackend`), or a running `vtrag serve`
through the SDK (`RemoteBackend`). Both return the models of api/client/schemas.py.

Failures the caller can act on (a bad argument, a missing page, an unreachable server) become `ToolError`s:
the MCP server answers them as tool errors with this message, never as a crash.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol, TypeVar

from mcp.server.mcpserver.exceptions import ToolError

from api.client.resources import DocStatus
from api.client.schemas import (
    AnswerMode,
    AnswerResponse,
    DocumentListResponse,
    ExtractRequest,
    ExtractResponse,
    ExtractTask,
    ModeName,
    SearchResults,
)
from api.service.listing import document_response

if TYPE_CHECKING:
    from api.client import Client
    from api.service.facade import Service
    from api.service.page_sources import PageSources

T = TypeVar("T")


class Backend(Protocol):
    """The five operations the MCP tools expose."""

    def search(self, query: str, top_k: int, doc_ids: list[str] | None) -> SearchResults: ...

    def answer(
        self, question: str, top_k: int | None, mode: AnswerMode, full_ocr: bool, doc_ids: list[str] | None
    ) -> AnswerResponse: ...

    def extract_page(self, page_id: str, task: ExtractTask, query: str | None) -> ExtractResponse: ...

    def list_documents(self, status: DocStatus | None, limit: int, offset: int) -> DocumentListResponse: ...

    def page_image(self, page_id: str, mode: ModeName | None) -> bytes: ...


def _same(source: str) -> str:
    return source


def _no_name(doc_id: str) -> str | None:
    return None


class LocalBackend:
    """The Service of this process (the index opened here, or the one `vtrag serve` holds).

    Args:
        service: the facade.
        sources: page re-rendering (its source checks are cached); a new one by default.
        display: what to show for a stored source path (a server shows uploaded files' names).
        filename: doc id -> the name it was uploaded under, if it was.
        model_lock: held while the vision model decodes (a server shares its lock with REST).
    """

    def __init__(
        self,
        service: Service,
        *,
        sources: PageSources | None = None,
        display: Callable[[str], str] = _same,
        filename: Callable[[str], str | None] = _no_name,
        model_lock: threading.Lock | None = None,
    ) -> None:
        from api.service.page_sources import PageSources

        self.service = service
        self.sources = sources or PageSources()
        self.display = display
        self.filename = filename
        self.model_lock = model_lock or threading.Lock()

    def _check(self, text: str, top_k: int | None) -> None:
        s = self.service.settings
        if len(text) > s.max_question_chars:
            raise ToolError(f"the text is over this server's limit of {s.max_question_chars} characters")
        if top_k is not None and top_k > s.max_top_k:
            raise ToolError(f"top_k is over this server's limit of {s.max_top_k}")

    def search(self, query: str, top_k: int, doc_ids: list[str] | None) -> SearchResults:
        self._check(query, top_k)
        with _as_tool_errors():
            found = self.service.search(query, top_k=top_k, doc_ids=doc_ids)
        return SearchResults(
            results=[r.model_copy(update={"source": self.display(r.source)}) for r in found.results]
        )

    def answer(
        self, question: str, top_k: int | None, mode: AnswerMode, full_ocr: bool, doc_ids: list[str] | None
    ) -> AnswerResponse:
        self._check(question, top_k)
        with _as_tool_errors():
            return self.service.ask(question, top_k=top_k, mode=mode, full_ocr=full_ocr, doc_ids=doc_ids)

    def extract_page(self, page_id: str, task: ExtractTask, query: str | None) -> ExtractResponse:
        from api.service.extraction import extract_page

        if query is not None:
            self._check(query, None)
        request = ExtractRequest(page_id=page_id, task=task, query=query)
        with _as_tool_errors():
            return extract_page(
                self.service,
                request,
                model_lock=self.model_lock,
                default_max_new_tokens=self.service.settings.answer_max_new_tokens,
            )

    def list_documents(self, status: DocStatus | None, limit: int, offset: int) -> DocumentListResponse:
        with _as_tool_errors():
            docs = self.service.store().list_docs(status)
        return DocumentListResponse(
            documents=[
                document_response(d, display=self.display, filename=self.filename)
                for d in docs[offset : offset + limit]
            ],
            total=len(docs),
        )

    def page_image(self, page_id: str, mode: ModeName | None) -> bytes:
        with _as_tool_errors():
            store = self.service.store()
            doc = store.get_doc(page_id.split(":", 1)[0])
            pages = store.get_pages([page_id]) if doc is not None and doc.status == "complete" else []
            if not pages:
                raise KeyError(page_id)
            page = pages[0]
            return self.sources.render_png(page.doc_id, page.source, page.page_no, mode)


@contextmanager
def _as_tool_errors() -> Iterator[None]:
    """The Service's user-facing errors as tool errors (a bug still surfaces as one, unexplained)."""
    from api.service.extraction import ExtractUnavailableError
    from api.service.page_sources import SourceUnavailableError
    from retriever.errors import RetrieverError

    try:
        yield
    except KeyError as exc:
        raise ToolError(f"not found: {exc.args[0] if exc.args else exc}") from None
    except (ExtractUnavailableError, SourceUnavailableError, RetrieverError, ValueError) as exc:
        raise ToolError(str(exc)) from None


class RemoteBackend:
    """A running `vtrag serve`, through the SDK: the server's auth rules apply (the key: VTRAG_API_KEY)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def search(self, query: str, top_k: int, doc_ids: list[str] | None) -> SearchResults:
        filters = {"doc_ids": doc_ids} if doc_ids else None
        found = _remote(lambda: self.client.search(query=query, top_k=top_k, filters=filters))
        return SearchResults.model_validate(found.model_dump())  # the CLI's fields, as the local backend

    def answer(
        self, question: str, top_k: int | None, mode: AnswerMode, full_ocr: bool, doc_ids: list[str] | None
    ) -> AnswerResponse:
        filters = {"doc_ids": doc_ids} if doc_ids else None
        return _remote(
            lambda: self.client.answer(
                question=question, top_k=top_k, mode=mode, full_ocr=full_ocr, filters=filters
            )
        )

    def extract_page(self, page_id: str, task: ExtractTask, query: str | None) -> ExtractResponse:
        return _remote(lambda: self.client.extract(page_id=page_id, task=task, query=query))

    def list_documents(self, status: DocStatus | None, limit: int, offset: int) -> DocumentListResponse:
        return _remote(lambda: self.client.documents.list(status=status, limit=limit, offset=offset))

    def page_image(self, page_id: str, mode: ModeName | None) -> bytes:
        return _remote(lambda: self.client.pages.image(page_id=page_id, mode=mode))


def _remote(call: Callable[[], T]) -> T:
    from api.client import APIConnectionError, APIStatusError

    try:
        return call()
    except APIStatusError as exc:
        raise ToolError(f"server: {exc.message} ({exc.status_code})") from None
    except APIConnectionError as exc:
        raise ToolError(f"cannot reach the vtrag server: {exc}") from None
