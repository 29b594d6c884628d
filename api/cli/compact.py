"""`vtrag index compact`: optical forgetting — cold pages re-encoded in a smaller mode, or text only."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from api.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FILES_FAILED,
    DataDir,
    Device,
    Docs,
    Encoder,
    JsonOut,
    MilvusUri,
    Weights,
    fail,
    guarded,
    make_service,
)
from api.cli.index import index_app

Target = Annotated[
    str, typer.Option("--to", help="small | tiny: re-encode in that mode; text: drop the tokens.")
]
NotReadFor = Annotated[
    str | None,
    typer.Option(
        "--not-read-for",
        help="Pages no search, answer or extraction showed for this long (never read: since indexed), "
        "e.g. 90d.",
    ),
]
OlderThan = Annotated[
    str | None, typer.Option("--older-than", help="Pages of documents indexed this long ago, e.g. 90d.")
]
Everything = Annotated[bool, typer.Option("--all", help="Every page larger than --to.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print pages and bytes now/after; change nothing.")]
TokenCodec = Annotated[
    str | None,
    typer.Option("--token-codec", help="lossless | int8 | fp8-e4m3 for the new rows (default: the index's)."),
]
Limit = Annotated[int, typer.Option("--limit", min=0, help="At most N pages, coldest first (0: all).")]
BatchPages = Annotated[
    int,
    typer.Option(
        "--batch-pages", min=1, max=256, help="Pages swapped together (a kill loses one batch's work)."
    ),
]


@index_app.command("compact")
def index_compact(
    to: Target,
    not_read_for: NotReadFor = None,
    older_than: OlderThan = None,
    doc: Docs = None,
    everything: Everything = False,
    dry_run: DryRun = False,
    token_codec: TokenCodec = None,
    limit: Limit = 0,
    batch_pages: BatchPages = 8,
    data_dir: DataDir = None,
    milvus_uri: MilvusUri = None,
    encoder: Encoder = None,
    weights: Weights = None,
    device: Device = None,
    as_json: JsonOut = False,
) -> None:
    """Re-encode cold pages in a smaller mode (or keep only their text), swapping each page's token rows
    so that a kill at any moment leaves the old or the new version. Reruns finish what a kill cut short."""
    from pydantic import ValidationError

    from api.client.compaction_schemas import CompactRequest

    try:
        request = CompactRequest(
            to=to, not_read_for=not_read_for, older_than=older_than, doc_ids=doc or [], all=everything,
            dry_run=dry_run, token_codec=token_codec, limit=limit, batch_pages=batch_pages,
        )  # type: ignore[arg-type]  # fmt: skip
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"--{str(first['loc'][0]).replace('_', '-')}: {first['msg']}", EXIT_BAD_INPUT)
    service = make_service(
        data_dir=data_dir, milvus_uri=milvus_uri, encoder=encoder, weights_dir=weights, device=device
    )
    events = _Events(as_json)
    result = guarded(lambda: service.compact(request, events))
    service.close()
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        _print(result)
    if result.failed:
        raise typer.Exit(EXIT_FILES_FAILED)


class _Events:
    """JSON lines on stdout with --json (a script can follow the stages); failures on stderr otherwise."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json

    def __call__(self, event: dict[str, Any]) -> None:
        if self.as_json and event["event"] != "done":  # the final object is printed once, at the end
            typer.echo(json.dumps(event))
            sys.stdout.flush()
        elif event["event"] == "failed":
            typer.echo(f"error: document {event['doc_id']}: {event['error']}", err=True)
        elif event["event"] == "stage" and event["stage"] == "dropped" and sys.stderr.isatty():
            typer.echo(f"compacted {event['pages']} pages of {event['doc_id'][:12]}", err=True)


def _print(result: Any) -> None:
    verb = "would compact" if result.dry_run else "compacted"
    n = result.pages if result.dry_run else result.compacted
    typer.echo(f"{verb} {n} pages to {result.target} (token codec {result.token_codec})")
    after = result.bytes_after
    typer.echo(f"token bytes {result.bytes_now} now -> {after} after ({_saved(result.bytes_now, after)})")
    for reason, count in result.skipped.items():
        typer.echo(f"  left as they are: {count} pages ({reason})")
    if not result.dry_run:
        typer.echo(f"  {result.pages_per_s} pages/s; stale token sets removed first: {result.swept}")
        if result.failed:
            typer.echo(f"  failed: {result.failed} pages (see the errors above)")


def _saved(now: int, after: int) -> str:
    return f"{100 * (now - after) / now:.0f}% saved" if now else "nothing stored now"
