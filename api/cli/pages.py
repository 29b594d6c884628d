"""`vtrag extract` and `vtrag similar`: the vision profile's per-page commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import DataDir, Device, Encoder, JsonOut, MilvusUri, TopK, Weights, guarded, make_service


def extract(
    page_id: Annotated[str, typer.Argument(help="DOC_ID:PAGE (1-based page).")],
    task: Annotated[str, typer.Option("--task", help="markdown | free_ocr | figure | locate.")] = "markdown",
    query: Annotated[str | None, typer.Option("--query", help="The text to locate (task locate).")] = None,
    max_new_tokens: Annotated[int, typer.Option("--max-new-tokens", min=1, max=16384)] = 2048,
    encoder: Encoder = None,
    weights: Weights = None,
    device: Device = None,
    data_dir: DataDir = None,
    milvus_uri: MilvusUri = None,
    as_json: JsonOut = False,
) -> None:
    """Decode a page from its stored vision tokens (no re-rendering, no re-encoding)."""
    service = make_service(
        data_dir=data_dir, milvus_uri=milvus_uri, encoder=encoder, weights_dir=weights, device=device
    )
    result = guarded(lambda: service.extract(page_id, task, query=query, max_new_tokens=max_new_tokens))
    service.close()
    if as_json:
        typer.echo(result.model_dump_json())
        return
    typer.echo(result.text)
    guard = ", repetition guard fired" if result.guard_fired else ""
    typer.echo(f"[{result.vision_tokens} vision tokens, confidence {result.confidence:.3f}{guard}]", err=True)


def similar(
    page: Annotated[str | None, typer.Option("--page", help="Find pages like this DOC_ID:PAGE.")] = None,
    image: Annotated[Path | None, typer.Option("--image", help="Find pages like this image file.")] = None,
    top_k: TopK = 10,
    encoder: Encoder = None,
    weights: Weights = None,
    device: Device = None,
    data_dir: DataDir = None,
    milvus_uri: MilvusUri = None,
    as_json: JsonOut = False,
) -> None:
    """Pages whose pooled vision embedding is closest to a stored page or to an image."""
    from PIL import Image

    service = make_service(
        data_dir=data_dir, milvus_uri=milvus_uri, encoder=encoder, weights_dir=weights, device=device
    )
    picture = guarded(lambda: Image.open(image).convert("RGB")) if image else None
    response = guarded(lambda: service.similar(page_id=page, image=picture, top_k=top_k))
    service.close()
    if as_json:
        typer.echo(response.model_dump_json())
        return
    for rank, r in enumerate(response.results, 1):
        typer.echo(f"{rank:>2}. {r.source} p.{r.page}  score {r.score:.4f}  [{r.page_id}]")
