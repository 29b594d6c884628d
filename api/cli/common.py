"""Shared pieces of the `vtrag` commands: option types, exit codes, error handling, answer printing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from api.settings import Settings

if TYPE_CHECKING:
    from api.client.schemas import AnswerResponse
    from api.service.facade import Service

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Index directory (default: VTRAG_DATA_DIR or ~/.local/share/vtrag)."),
]
MilvusUri = Annotated[
    str | None,
    typer.Option(
        "--milvus-uri", help="Milvus server, e.g. http://127.0.0.1:19530 (default: Lite in the data dir)."
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
TopK = Annotated[int, typer.Option("--top-k", "-k", min=1, max=100, help="How many pages to return.")]
Docs = Annotated[list[str] | None, typer.Option("--doc", help="Restrict to this doc id (repeatable).")]

Encoder = Annotated[
    str | None, typer.Option("--encoder", help="Vision encoder: none | deepseek-ocr | deepseek-ocr-2.")
]
Weights = Annotated[Path | None, typer.Option("--weights", help="Local directory with the model weights.")]
Device = Annotated[str | None, typer.Option("--device", help="auto | cpu | cuda.")]

EXIT_FILES_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_STORE = 3


def make_settings(**overrides: Any) -> Settings:
    """VTRAG_* settings with command-line overrides (None = not given); a bad value is one error line."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        fail(f"invalid setting: {exc}", EXIT_BAD_INPUT)


def make_service(**overrides: Any) -> Service:
    """A Service from VTRAG_* settings with the given command-line overrides (None = not given)."""
    from api.service.facade import Service  # torch and friends load only for commands that work locally

    return Service(make_settings(**overrides))


def fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def guarded(fn: Any) -> Any:
    """Turn the errors users can act on into one clear line and an exit code, not a traceback."""
    from retriever.errors import RetrieverError

    try:
        return fn()
    except RetrieverError as exc:
        fail(str(exc), EXIT_STORE)
    except (ValueError, FileNotFoundError) as exc:
        fail(str(exc), EXIT_BAD_INPUT)


def print_answer(response: AnswerResponse) -> None:
    """The answer, which path and reader produced it, its supporting passage with the answer marked, and
    the citations (the human form of `vtrag ask`, local or through --server)."""
    how = response.mode + (f", reader: {response.reader}" if response.reader else "")
    typer.echo(f"answer: {response.answer or '(no answer found)'}   [{how}]")
    if response.fallback.ran:
        typer.echo(f"  (fallback: {response.fallback.reason}, read by {response.fallback.engine})")
    if response.passage is not None:
        p = response.passage
        typer.echo(f"  passage ({p.source} p.{p.page}): {highlight(p.text, p.span)}")
    for c in response.citations:
        box = f"  bbox(pt) {tuple(round(v, 1) for v in c.bbox.points)}" if c.bbox else ""
        typer.echo(f"  - {c.source} p.{c.page}{box}")


def highlight(text: str, span: tuple[int, int]) -> str:
    """`text` on one line with the answer span marked: bold yellow on a terminal, «…» otherwise."""
    a, b = span
    inner = text[a:b]
    marked = typer.style(inner, fg="yellow", bold=True) if sys.stdout.isatty() else f"«{inner}»"
    return " ".join((text[:a] + "\0" + text[b:]).split()).replace("\0", " ".join(marked.split()))
