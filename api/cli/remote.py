"""`vtrag search|ask --server URL`: the same commands through the SDK against a running `vtrag serve`.

A running server owns its Milvus Lite data dir, so this is how to query it from another process.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from api.cli.common import EXIT_BAD_INPUT, EXIT_STORE, fail, print_answer

if TYPE_CHECKING:
    from api.client import Client

T = TypeVar("T")

Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="Query a running `vtrag serve` at this URL (e.g. http://127.0.0.1:8000) instead of the local "
        "index; the API key comes from VTRAG_API_KEY.",
    ),
]


def _client(server: str) -> Client:
    from api.client import Client

    try:
        return Client(base_url=server)
    except ValueError as exc:
        fail(f"--server: {exc}", EXIT_BAD_INPUT)


def _single(text: str | None, batch: Path | None, what: str) -> str:
    if batch is not None:
        fail(f"--server takes a single {what}, not a file of them", EXIT_BAD_INPUT)
    if text is None:
        fail(f"give a {what.upper()}", EXIT_BAD_INPUT)
    return text


def _run(call: Callable[[], T]) -> T:
    from api.client import APIConnectionError, APIStatusError

    try:
        return call()
    except APIStatusError as exc:
        fail(
            f"server: {exc.message} ({exc.status_code})",
            EXIT_BAD_INPUT if exc.status_code < 500 else EXIT_STORE,
        )
    except APIConnectionError as exc:
        fail(str(exc), EXIT_STORE)


def remote_search(
    server: str, query: str | None, batch: Path | None, *, top_k: int, doc: list[str] | None, as_json: bool
) -> None:
    text = _single(query, batch, "query")
    filters = {"doc_ids": doc} if doc else None
    with _client(server) as client:
        response = _run(lambda: client.search(query=text, top_k=top_k, filters=filters))
    if as_json:
        typer.echo(response.model_dump_json())
        return
    if not response.results:
        typer.echo("no results")
    for rank, r in enumerate(response.results, 1):
        typer.echo(f"{rank:>2}. {r.source} p.{r.page}  score {r.score:.4f}\n    {r.snippet}")


def remote_ask(
    server: str, question: str | None, batch: Path | None, *, top_k: int, doc: list[str] | None, as_json: bool
) -> None:
    text = _single(question, batch, "question")
    filters = {"doc_ids": doc} if doc else None
    with _client(server) as client:
        response = _run(lambda: client.answer(question=text, top_k=top_k, filters=filters))
    if as_json:
        typer.echo(response.model_dump_json())
        return
    print_answer(response)
