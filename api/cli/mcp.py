"""`vtrag mcp`: vtrag's tools for agents over MCP on stdio, on the local index or a running server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.common import EXIT_BAD_INPUT, DataDir, Device, Encoder, MilvusUri, Weights, fail, make_service

if TYPE_CHECKING:
    from api.mcp.backends import LocalBackend

Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        help="Call a running `vtrag serve` at this URL through the SDK (its auth rules apply; the key comes "
        "from VTRAG_API_KEY) instead of opening the index here.",
    ),
]


def mcp(
    server: Server = None,
    data_dir: DataDir = None,
    milvus_uri: MilvusUri = None,
    encoder: Encoder = None,
    weights: Weights = None,
    device: Device = None,
) -> None:
    """Serve search, answer, extract_page, list_documents and get_page_image as MCP tools on stdio.

    An MCP client (an agent, an IDE) starts this command and talks to it over stdin/stdout. Without --server
    the index is opened here, on the first call: a running `vtrag serve` owns a Milvus Lite data dir, so
    point --server at it instead (or use its streamable HTTP endpoint, /mcp).
    """
    from api.mcp.backends import Backend, RemoteBackend
    from api.mcp.server import build_server

    backend: Backend
    if server is not None:
        from api.client import Client

        try:
            backend = RemoteBackend(Client(base_url=server))
        except ValueError as exc:
            fail(f"--server: {exc}", EXIT_BAD_INPUT)
    else:
        backend = _local(
            data_dir=data_dir,
            milvus_uri=milvus_uri,
            encoder=encoder,
            weights_dir=weights,
            device=device,
        )
    build_server(lambda: backend).run("stdio")


def _local(**overrides: Any) -> LocalBackend:
    """The Service on this index, showing uploaded files (of a server that ran on it) by their names."""
    from pathlib import Path

    from api.mcp.backends import LocalBackend
    from api.rest.uploads import UploadStore

    service = make_service(**overrides)
    s = service.settings
    uploads = UploadStore(
        Path(s.uploads_dir).absolute(), max_bytes=s.max_upload_bytes, max_pages=s.max_pages_per_document
    )
    return LocalBackend(service, display=uploads.display, filename=uploads.filename)
