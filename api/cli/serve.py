"""`vtrag serve`: the REST API (FastAPI under uvicorn) over one index."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import EXIT_BAD_INPUT, DataDir, Device, Encoder, MilvusUri, Weights, fail, make_settings


def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1; VTRAG_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Port (default 8000; VTRAG_PORT).")
    ] = None,
    data_dir: DataDir = None,
    milvus_uri: MilvusUri = None,
    encoder: Encoder = None,
    weights: Weights = None,
    device: Device = None,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn log level: critical|error|warning|info|debug.")
    ] = "info",
) -> None:
    """Serve search, answers, extraction and uploads over REST (/v1, OpenAPI at /docs).

    API keys come from VTRAG_API_KEYS only (never a flag: it would show in the process list), each optionally
    scoped `read:` or `write:` (docs/SERVICE.md). With no keys, reads are open and writes are refused unless
    VTRAG_ALLOW_UNAUTHENTICATED_WRITES=1 on a loopback host.
    """
    import uvicorn

    from api.rest.app import create_app

    settings = make_settings(
        host=host,
        port=port,
        data_dir=data_dir,
        milvus_uri=milvus_uri,
        encoder=encoder,
        weights_dir=weights,
        device=device,
    )
    if log_level not in ("critical", "error", "warning", "info", "debug"):
        fail(f"--log-level: unknown level {log_level!r}", EXIT_BAD_INPUT)
    if not settings.api_keys:
        typer.echo(
            "note: no API keys configured (VTRAG_API_KEYS): reads are open, writes are "
            + ("allowed without a key" if settings.allow_unauthenticated_writes else "refused"),
            err=True,
        )
    # One process: Milvus Lite lets one process open the data dir, and the upload jobs run in this one.
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=log_level, workers=1)


def serve_argv(python: str, *, port: int, data_dir: Path, host: str = "127.0.0.1") -> list[str]:
    """The command line that runs `vtrag serve` as a child process (benchmarks and tests start it so)."""
    argv = [python, "-m", "api.cli", "serve", "--host", host, "--port", str(port)]
    return [*argv, "--data-dir", str(data_dir), "--log-level", "warning"]
