"""`vtrag index build | status | delete`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FILES_FAILED,
    DataDir,
    Device,
    Encoder,
    JsonOut,
    MilvusUri,
    Weights,
    fail,
    guarded,
    make_service,
    make_settings,
)
from api.cli.progress import BuildProgress
from api.client.schemas import DeleteResponse

index_app = typer.Typer(help="Build and manage the index.", no_args_is_help=True)


@index_app.command("build")
def index_build(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to index.")],
    data_dir: DataDir = None,
    milvus_uri: MilvusUri = None,
    mode: Annotated[
        str | None,
        typer.Option(
            "--mode",
            help="tiny|small|base|large|gundam|gundam-m (default base), or auto: a mode per page, the "
            "smallest whose text tokens per vision token stay within --max-compression.",
        ),
    ] = None,
    max_compression: Annotated[
        float | None,
        typer.Option(
            "--max-compression",
            help="--mode auto: most text tokens per vision token a page may carry (default 10, the paper's "
            "~97% OCR precision; 20 gives ~60%).",
        ),
    ] = None,
    max_tiles: Annotated[
        int | None,
        typer.Option(
            "--max-tiles",
            min=2,
            max=9,
            help="Gundam modes: most tiles per page (default 6 as the official vLLM config; 9 as its HF "
            "infer). Recorded with the index.",
        ),
    ] = None,
    token_codec: Annotated[
        str | None,
        typer.Option(
            "--token-codec",
            help="lossless (default, bit for bit) | int8 | fp8-e4m3: how a new index stores vision-token "
            "rows (the lossy ones take about half the bytes). Recorded with the index.",
        ),
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
    gpus: Annotated[
        str | None,
        typer.Option(
            "--gpus", help="all, N or ids like 0,2: one shard process per GPU, one Milvus, one bar."
        ),
    ] = None,
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            min=2,
            max=64,
            help="N shard processes on this machine (with --device cuda: sharing its GPU), one bar.",
        ),
    ] = None,
    encoder: Encoder = None,
    weights: Weights = None,
    device: Device = None,
    compile_encoder: Annotated[
        bool,
        typer.Option(
            "--compile", help="torch.compile the deepseek-ocr encoder (GPU builds: ~50 s once, then faster)."
        ),
    ] = False,
    as_json: JsonOut = False,
) -> None:
    """Index documents (PDF, PNG, JPEG, TIFF, BMP, WebP). Unchanged files are skipped; reruns resume."""
    if gpus is not None or processes is not None:
        raise typer.Exit(_launch(gpus, processes, shard, data_dir, milvus_uri, recreate, as_json, device))
    service = make_service(
        data_dir=data_dir,
        milvus_uri=milvus_uri,
        mode=mode,
        max_compression=max_compression,
        gundam_max_tiles=max_tiles,
        token_codec=token_codec,
        workers=workers,
        ocr=False if no_ocr else None,
        batch_pages=batch_pages,
        encoder=encoder,
        weights_dir=weights,
        device=device,
        encoder_compile=True if compile_encoder else None,
    )
    shard_kn = parse_shard(shard) if shard else (0, 1)
    progress = BuildProgress(as_json=as_json, interactive=sys.stderr.isatty())
    with progress:
        report = guarded(
            lambda: service.build(paths, recreate=recreate, shard=shard_kn, on_event=progress.on_event)
        )
    service.close()
    if report.failed:
        raise typer.Exit(EXIT_FILES_FAILED)


def _launch(
    gpus: str | None,
    processes: int | None,
    shard: str | None,
    data_dir: Path | None,
    milvus_uri: str | None,
    recreate: bool,
    as_json: bool,
    device: str | None,
) -> int:
    """`--gpus` / `--processes`: run the shard processes (api/cli/launch.py); returns the exit status."""
    from api.cli.launch import child_argv, launch, parse_gpus
    from retriever.engine import engine_for, is_server_uri

    if gpus is not None and processes is not None:
        fail("give --gpus or --processes, not both", EXIT_BAD_INPUT)
    if shard is not None or recreate:
        fail(
            "--gpus/--processes choose the shards and reuse the index: drop --shard and --recreate",
            EXIT_BAD_INPUT,
        )
    ids = parse_gpus(gpus) if gpus is not None else None
    index_uri = make_settings(data_dir=data_dir, milvus_uri=milvus_uri).index_uri
    served = is_server_uri(index_uri)
    if not served and engine_for(index_uri).in_process:
        fail("--gpus/--processes on a data dir need milvus-lite 2.5; or give --milvus-uri", EXIT_BAD_INPUT)
    if not served:
        Path(index_uri).parent.mkdir(parents=True, exist_ok=True)
    argv = child_argv(sys.argv[sys.argv.index("build") + 1 :])
    shards = len(ids) if ids is not None else int(processes or 1)
    return launch(
        argv,
        shards=shards,
        gpus=ids,
        index_uri=index_uri,
        served=served,
        as_json=as_json,
        device=device or "cpu",
    )


def parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        fail(f"--shard takes K/N, e.g. 0/4; got {text!r}", EXIT_BAD_INPUT)
    if not 0 <= k < n:
        fail(f"--shard K/N needs 0 <= K < N; got {text!r}", EXIT_BAD_INPUT)
    return k, n


@index_app.command("status")
def index_status(data_dir: DataDir = None, milvus_uri: MilvusUri = None, as_json: JsonOut = False) -> None:
    """Documents, pages and bytes of the complete documents in the index."""
    service = make_service(data_dir=data_dir, milvus_uri=milvus_uri)
    stats = guarded(service.status)
    service.close()
    if as_json:
        typer.echo(stats.model_dump_json())
        return
    typer.echo(f"index      {stats.index}")
    typer.echo(f"documents  {stats.documents}  (incomplete: {stats.incomplete_documents})")
    by_source = ", ".join(f"{k} {v}" for k, v in stats.pages_by_text_source.items())
    typer.echo(f"pages      {stats.pages}  ({by_source})")
    typer.echo("bytes      " + ", ".join(f"{k} {v}" for k, v in stats.bytes.items()))
    for label, groups in (("by mode", stats.by_mode), ("by codec", stats.by_codec)):
        for name, g in groups.items():
            typer.echo(
                f"{label:<10} {name}: {g.pages} pages, tokens {g.token_bytes}, text {g.text_bytes} bytes "
                f"({g.bytes_per_million_pages / 1e9:.1f} GB per million pages)"
            )
    projected = stats.projected_bytes_per_million_pages.get("total", 0)
    typer.echo(f"projected  {projected / 1e9:.1f} GB per million pages like these")


@index_app.command("delete")
def index_delete(
    target: Annotated[str, typer.Argument(help="A doc id or the path a document was indexed from.")],
    data_dir: DataDir = None,
    milvus_uri: MilvusUri = None,
    as_json: JsonOut = False,
) -> None:
    """Remove a document with its pages and tokens."""
    service = make_service(data_dir=data_dir, milvus_uri=milvus_uri)
    deleted = guarded(lambda: service.delete(target))
    service.close()
    if as_json:
        typer.echo(DeleteResponse(deleted=deleted).model_dump_json())
    elif deleted:
        typer.echo("\n".join(f"deleted {d}" for d in deleted))
    if not deleted:
        fail(f"no document matches {target!r}", EXIT_BAD_INPUT)
