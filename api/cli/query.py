"""`vtrag search` and `vtrag ask`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.common import (
    EXIT_BAD_INPUT,
    DataDir,
    Device,
    Docs,
    Encoder,
    JsonOut,
    MilvusUri,
    TopK,
    Weights,
    fail,
    guarded,
    make_service,
    print_answer,
)
from api.cli.remote import Server, remote_ask, remote_search
from api.client.schemas import SearchResults

if TYPE_CHECKING:
    from api.service.facade import Service

QueriesFile = Annotated[
    Path | None,
    typer.Option("--queries", help='JSONL of {"id", "text"}: one result line per query (models load once).'),
]
QuestionsFile = Annotated[
    Path | None,
    typer.Option(
        "--questions", help='JSONL of {"id", "text"}: one answer line per question (models load once).'
    ),
]


def search(
    query: Annotated[str | None, typer.Argument(help="What to look for.")] = None,
    top_k: TopK = 10,
    doc: Docs = None,
    data_dir: DataDir = None,
    milvus_uri: MilvusUri = None,
    as_json: JsonOut = False,
    queries: QueriesFile = None,
    server: Server = None,
) -> None:
    """Hybrid search (BM25 + dense text, fused; VTRAG_FUSION picks convex or rrf) over the indexed pages."""
    if server is not None:
        return remote_search(server, query, queries, top_k=top_k, doc=doc, as_json=as_json)
    service = make_service(data_dir=data_dir, milvus_uri=milvus_uri)
    if _batch("search", service, query, queries, top_k=top_k, doc=doc, as_json=as_json):
        return
    assert query is not None
    response = guarded(lambda: service.search(query, top_k=top_k, doc_ids=doc))
    service.close()
    if as_json:
        typer.echo(response.model_dump_json())
        return
    if not response.results:
        typer.echo("no results")
    for rank, r in enumerate(response.results, 1):
        typer.echo(f"{rank:>2}. {r.source} p.{r.page}  score {r.score:.4f}\n    {r.snippet}")


def ask(
    question: Annotated[str | None, typer.Argument(help="The question.")] = None,
    top_k: TopK = 5,
    doc: Docs = None,
    mode: Annotated[
        str, typer.Option("--mode", help="auto | generate | extract | extractive (see docs/SERVICE.md).")
    ] = "auto",
    full_ocr: Annotated[
        bool, typer.Option("--full-ocr", help="Answer from a fresh full OCR of the pages.")
    ] = False,
    encoder: Encoder = None,
    weights: Weights = None,
    device: Device = None,
    data_dir: DataDir = None,
    milvus_uri: MilvusUri = None,
    as_json: JsonOut = False,
    questions: QuestionsFile = None,
    server: Server = None,
) -> None:
    """Answer a question from the top pages, with page and box citations.

    The same pipeline as POST /v1/answer: with a vision model, generated from the pages' stored tokens and
    checked (repetition guard, confidence), falling back to a full OCR of the pages; else extractive."""
    if server is not None:
        return remote_ask(server, question, questions, top_k=top_k, doc=doc, as_json=as_json)
    service = make_service(
        data_dir=data_dir, milvus_uri=milvus_uri, encoder=encoder, weights_dir=weights, device=device
    )
    answer_options = {"mode": mode, "full_ocr": full_ocr}
    if _batch("ask", service, question, questions, top_k=top_k, doc=doc, as_json=as_json, **answer_options):
        return
    assert question is not None
    response = guarded(lambda: service.ask(question, top_k=top_k, mode=mode, full_ocr=full_ocr, doc_ids=doc))
    service.close()
    if as_json:
        typer.echo(response.model_dump_json())
        return
    print_answer(response)


def _batch(
    kind: str,
    service: Service,
    one: str | None,
    path: Path | None,
    *,
    top_k: int,
    doc: list[str] | None,
    as_json: bool,
    **answer_options: Any,
) -> bool:
    """Run a --queries/--questions file if one was given (True), or check a single query was (False).

    `answer_options` (mode, full_ocr) go to each answer of an --questions file, as to a single `vtrag ask`."""
    if path is None:
        if one is None:
            what = ("QUERY", "--queries") if kind == "search" else ("QUESTION", "--questions")
            fail(f"give a {what[0]} or {what[1]} FILE", EXIT_BAD_INPUT)
        return False
    if one is not None:
        fail("give either a single query or a file of them, not both", EXIT_BAD_INPUT)
    from api.service.batch import ask_many, read_queries, result_line, search_many

    items = guarded(lambda: read_queries(path))
    failed = 0

    def emit() -> None:
        nonlocal failed
        if kind == "search":
            responses = search_many(service, items, top_k=top_k, doc_ids=doc)
        else:
            responses = ask_many(service, items, top_k=top_k, doc_ids=doc, **answer_options)
        for item, response in responses:
            failed += isinstance(response, str)
            if as_json:
                typer.echo(result_line(item, response))
            elif isinstance(response, str):
                typer.echo(f"{item.id}\terror: {response}")
            elif isinstance(response, SearchResults):
                top = response.results[0] if response.results else None
                typer.echo(
                    f"{item.id}\t"
                    + (f"{top.source} p.{top.page}  score {top.score:.4f}" if top else "no results")
                )
            else:
                typer.echo(f"{item.id}\t{response.answer or '(no answer found)'}")

    guarded(emit)
    service.close()
    if failed:
        raise typer.Exit(EXIT_BAD_INPUT)
    return True
