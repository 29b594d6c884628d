"""Many queries through one Service: models and the index opened once, every query embedded in one batch.

`search_many` and `ask_many` call the Service's own `search` and `ask` for each query (so a batch answers
exactly as single calls do); the only difference is that the query vectors were computed up front in one
`embed` call and are served from memory when the Service asks its embedder for them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from api.client.schemas import SearchResults, safe_text
from api.service.facade import Service
from retriever.errors import RetrieverError


@dataclass(frozen=True)
class BatchItem:
    """One line of a queries file."""

    id: str
    text: str


def read_queries(path: Path) -> list[BatchItem]:
    """Read a JSONL file of `{"id", "text"}` objects (blank lines skipped).

    Raises:
        ValueError: a line is not a JSON object with string "id" and "text" (the message gives the line), or
            an id repeats.
        FileNotFoundError: no such file.
    """
    items: list[BatchItem] = []
    seen: set[str] = set()
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON ({exc.msg})") from exc
            if not isinstance(row, dict) or not isinstance(row.get("text"), str) or "id" not in row:
                raise ValueError(f'{path}:{n}: expected {{"id": ..., "text": "..."}}')
            qid = str(row["id"])
            if qid in seen:
                raise ValueError(f"{path}:{n}: id {qid!r} appears twice")
            seen.add(qid)
            items.append(BatchItem(qid, row["text"]))
    return items


class _Precomputed:
    """An embedder stand-in: query vectors from a table made in one batch, everything else passed through."""

    def __init__(self, inner: Any, table: dict[str, np.ndarray]) -> None:
        self._inner = inner
        self._table = table

    def embed_query(self, text: str) -> np.ndarray:
        vec = self._table.get(text)
        return vec if vec is not None else self._inner.embed_query(text)

    def __getattr__(self, name: str) -> Any:  # embed, name, dim, ...
        return getattr(self._inner, name)


@contextmanager
def precomputed_queries(service: Service, texts: Sequence[str]) -> Iterator[dict[str, np.ndarray]]:
    """Embed `texts` in one batch and let `service` use those vectors while the block runs.

    Yields:
        text -> query vector.
    """
    unique = list(dict.fromkeys(t for t in texts if _embeddable(t)))
    service.store()  # open the index first: the embedder follows the text model that built it
    inner = service.embedder
    table = dict(zip(unique, inner.embed(unique), strict=True)) if unique else {}
    # The Service keeps its embedder in `_embedder` (loaded once, reused by search and ask).
    service._embedder = _Precomputed(inner, table)  # type: ignore[assignment]
    try:
        yield table
    finally:
        service._embedder = inner


def _embeddable(text: str) -> bool:
    """Texts the service will accept (the others are refused one by one, as errors of their own lines)."""
    try:
        safe_text(text)
    except ValueError:
        return False
    return True


def _error(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def search_many(
    service: Service, items: Sequence[BatchItem], *, top_k: int = 10, doc_ids: list[str] | None = None
) -> Iterator[tuple[BatchItem, SearchResults | str]]:
    """Search every item; yields (item, response) in input order, or (item, error message) for a query the
    service refuses (an empty one). A store failure (index missing, locked) is raised, not yielded."""
    with precomputed_queries(service, [i.text for i in items]):
        for item in items:
            try:
                yield item, service.search(item.text, top_k=top_k, doc_ids=doc_ids)
            except RetrieverError:
                raise
            except ValueError as exc:
                yield item, _error(exc)


def ask_many(
    service: Service,
    items: Sequence[BatchItem],
    *,
    top_k: int | None = None,
    doc_ids: list[str] | None = None,
    mode: str = "auto",
    full_ocr: bool = False,
) -> Iterator[tuple[BatchItem, Any]]:
    """Answer every item through the Service's `ask`, the answer pipeline of `vtrag ask` and POST /v1/answer
    (api/service/answer.py: generation from stored tokens when a decoder is configured, OCR fallback, else
    extractive); yields (item, `api.client.schemas.AnswerResponse`) or (item, error message) like
    `search_many`."""
    with precomputed_queries(service, [i.text for i in items]):
        for item in items:
            try:
                yield item, service.ask(item.text, top_k=top_k, mode=mode, full_ocr=full_ocr, doc_ids=doc_ids)
            except RetrieverError:
                raise
            except ValueError as exc:
                yield item, _error(exc)


def result_line(item: BatchItem, response: Any) -> str:
    """One output line: `{"id", ...response fields}` or `{"id", "error"}`."""
    if isinstance(response, str):
        return json.dumps({"id": item.id, "error": response}, ensure_ascii=False)
    return json.dumps({"id": item.id, **response.model_dump(mode="json")}, ensure_ascii=False)
