"""Shared pieces of the `vtrag` commands: option types, exit codes, error handling."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from api.settings import Settings

if TYPE_CHECKING:
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


def make_service(**overrides: Any) -> Service:
    """A Service from VTRAG_* settings with the given command-line overrides (None = not given)."""
    from api.service.facade import Service  # torch and friends load only for commands that work locally

    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        fail(f"invalid setting: {exc}", EXIT_BAD_INPUT)
    return Service(settings)


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
