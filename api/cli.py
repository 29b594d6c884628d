"""The `vtrag` command line. Parses options, calls the Service, prints; no business logic lives here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from api.progress import BuildProgress
from api.service import Service
from api.settings import Settings

app = typer.Typer(
    help="vtrag: vision-token RAG over your documents.", no_args_is_help=True, pretty_exceptions_enable=False
)
index_app = typer.Typer(help="Build and manage the index.", no_args_is_help=True)
app.add_typer(index_app, name="index")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Index directory (default: VTRAG_DATA_DIR or ~/.local/share/vtrag)."),
]
MilvusUri = Annotated[
    str | None,
    typer.Option(
        "--milvus-uri",
        help="Milvus server, e.g. http://127.0.0.1:19530; default: Milvus Lite inside the data dir.",
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
TopK = Annotated[int, typer.Option("--top-k", "-k", min=1, max=100, help="How many pages to return.")]
Docs = Annotated[list[str] | None, typer.Option("--doc", help="Restrict to this doc id (repeatable).")]

EXIT_FILES_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_STORE = 3


def _service(**overrides: Any) -> Service:
    try:
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as exc:
        _fail(f"invalid setting: {exc}", EXIT_BAD_INPUT)
    return Service(settings)


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _guarded(fn: Any) -> Any:
    """Turn the errors users can act on into one clear line and an exit code, not a traceback."""
    from retriever.errors import RetrieverError

    try:
        return fn()
    except RetrieverError as exc:
        _fail(str(exc), EXIT_STORE)
    except (ValueError, FileNotFoundError) as exc:
        _fail(str(exc), EXIT_BAD_INPUT)


@index_app.command("build")
def index_build(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to index.")],
    data_dir: DataDir = None,
    milvus_uri: MilvusUri = None,
    mode: Annotated[
        str | None, typer.Option("--mode", help="tiny|small|base|large|gundam (default base).")
    ] = None,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, max=64, help="Page-extraction processes.")
    ] = None,
    recreate: Annotated[bool, typer.Option("--recreate", help="Drop the existing index first.")] = False,
    no_ocr: Annotated[
        bool, typer.Option("--no-ocr", help="Skip OCR for pages without a text layer.")
    ] = False,
    batch_pages: Annotated[
        int | None,
        typer.Option(
            "--batch-pages", min=1, max=1024, help="Pages written per batch (a kill loses at most one batch)."
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            help="K/N: take only the files whose path hashes to "
            "shard K of N (parallel workers on one Milvus server).",
        ),
    ] = None,
    as_json: JsonOut = False,
) -> None:
    """Index documents (PDF, PNG, JPEG, TIFF, BMP, WebP). Unchanged files are skipped; reruns resume."""
    service = _service(
        data_dir=data_dir,
        milvus_uri=milvus_uri,
        mode=mode,
        workers=workers,
        ocr=False if no_ocr else None,
        batch_pages=batch_pages,
    )
    shard_kn = _parse_shard(shard) if shard else (0, 1)
    progress = BuildProgress(as_json=as_json, interactive=sys.stderr.isatty())
    with progress:
        report = _guarded(
            lambda: service.build(paths, recreate=recreate, shard=shard_kn, on_event=progress.on_event)
        )
    service.close()
    if report.failed:
        raise typer.Exit(EXIT_FILES_FAILED)


def _parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        _fail(f"--shard takes K/N, e.g. 0/4; got {text!r}", EXIT_BAD_INPUT)
    if not 0 <= k < n:
        _fail(f"--shard K/N needs 0 <= K < N; got {text!r}", EXIT_BAD_INPUT)
    return k, n


@index_app.command("status")
def index_status(data_dir: DataDir = None, milvus_uri: MilvusUri = None, as_json: JsonOut = False) -> None:
    """Documents, pages and bytes of the complete documents in the index."""
    service = _service(data_dir=data_dir, milvus_uri=milvus_uri)
    stats = _guarded(service.status)
    service.close()
    if as_json:
        typer.echo(json.dumps(stats))
        return
    typer.echo(f"index      {stats['index']}")
    typer.echo(f"documents  {stats['documents']}  (incomplete: {stats['incomplete_documents']})")
    by_source = ", ".join(f"{k} {v}" for k, v in stats["pages_by_text_source"].items())
    typer.echo(f"pages      {stats['pages']}  ({by_source})")
    typer.echo("bytes      " + ", ".join(f"{k} {v}" for k, v in stats["bytes"].items()))


@index_app.command("delete")
def index_delete(
    target: Annotated[str, typer.Argument(help="A doc id or the path a document was indexed from.")],
    data_dir: DataDir = None,
    milvus_uri: MilvusUri = None,
    as_json: JsonOut = False,
) -> None:
    """Remove a document with its pages and tokens."""
    service = _service(data_dir=data_dir, milvus_uri=milvus_uri)
    deleted = _guarded(lambda: service.delete(target))
    service.close()
    if as_json:
        typer.echo(json.dumps({"deleted": deleted}))
    elif deleted:
        typer.echo("\n".join(f"deleted {d}" for d in deleted))
    if not deleted:
        _fail(f"no document matches {target!r}", EXIT_BAD_INPUT)


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    top_k: TopK = 10,
    doc: Docs = None,
    data_dir: DataDir = None,
    milvus_uri: MilvusUri = None,
    as_json: JsonOut = False,
) -> None:
    """Hybrid search (BM25 + dense text, fused with RRF) over the indexed pages."""
    service = _service(data_dir=data_dir, milvus_uri=milvus_uri)
    response = _guarded(lambda: service.search(query, top_k=top_k, doc_ids=doc))
    service.close()
    if as_json:
        typer.echo(response.model_dump_json())
        return
    if not response.results:
        typer.echo("no results")
    for rank, r in enumerate(response.results, 1):
        typer.echo(f"{rank:>2}. {r.source} p.{r.page}  score {r.score:.4f}\n    {r.snippet}")


@app.command("ask")
def ask(
    question: Annotated[str, typer.Argument(help="The question.")],
    top_k: TopK = 5,
    doc: Docs = None,
    data_dir: DataDir = None,
    milvus_uri: MilvusUri = None,
    as_json: JsonOut = False,
) -> None:
    """Answer a question from the top pages, with page and box citations."""
    service = _service(data_dir=data_dir, milvus_uri=milvus_uri)
    response = _guarded(lambda: service.ask(question, top_k=top_k, doc_ids=doc))
    service.close()
    if as_json:
        typer.echo(response.model_dump_json())
        return
    typer.echo(f"answer: {response.answer or '(no answer found)'}   [{response.mode}]")
    for c in response.citations:
        box = f"  bbox(pt) {tuple(round(v, 1) for v in c.bbox.points)}" if c.bbox else ""
        typer.echo(f"  - {c.source} p.{c.page}{box}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
