"""`vtrag eval retrieval | qa | ocr`: the built-in evaluation on a dataset folder (docs/EVALUATION.md)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import EXIT_BAD_INPUT, EXIT_FILES_FAILED, JsonOut, fail, guarded

eval_app = typer.Typer(
    help="Measure retrieval, QA and OCR quality on a dataset folder.", no_args_is_help=True
)

DatasetDir = Annotated[
    Path,
    typer.Argument(help="Dataset folder (corpus.jsonl, queries.jsonl, qrels.tsv, answers.jsonl) or a sample "
                   "subfolder of one (its corpus is the parent's)."),
]  # fmt: skip
Sample = Annotated[
    int | None,
    typer.Option("--sample", min=1, help="A seeded random sample of this many queries (or pages)."),
]
Mode = Annotated[str, typer.Option("--mode", help="Resolution mode of the index (and of scans).")]
TextSource = Annotated[
    str,
    typer.Option("--text-source", help="pdf: pages with a text layer; ocr: image-only pages read by OCR."),
]
Title = Annotated[bool, typer.Option("--title/--no-title", help="Set each record's title on its page.")]
CacheDir = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Scratch indexes (default $VTRAG_EVAL_CACHE or ~/.cache/vtrag/eval)."),
]
OutDir = Annotated[
    Path, typer.Option("--out", help="Folder for the result JSON (with per-query records) and the PNG plot.")
]
Benchmarks = Annotated[
    Path | None,
    typer.Option("--benchmarks", help="Also record the result as a block of this Markdown file "
                 "(e.g. docs/BENCHMARKS.md)."),
]  # fmt: skip
CorpusSample = Annotated[
    int | None,
    typer.Option("--corpus-sample", min=1, help="Index only the judged records of the chosen queries plus "
                 "random others up to this many (for costly runs such as OCR; not comparable with full-corpus"
                 " numbers)."),
]  # fmt: skip
Details = Annotated[
    bool,
    typer.Option(
        "--details/--no-details", help="Also write per-query runs and records (<name>.details.json.gz)."
    ),
]
Workers = Annotated[
    int | None, typer.Option("--workers", min=1, max=64, help="Page-extraction processes for the build.")
]
DEFAULT_OUT = Path("vtrag-eval")


def _say(line: str) -> None:
    typer.echo(line, err=True)


def _build_events(event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind == "render" and event["done"] == event["total"]:
        _say(f"rendered {event['total']} pages")
    elif kind == "plan":
        _say(f"indexing {event['pages']} pages ...")
    elif kind == "done":
        _say(f"indexed {event['pages_written']} pages in {event['seconds']:.0f} s")
    elif kind == "document" and event.get("status") == "failed":
        _say(f"error: {event['path']}: {event.get('error', '')}")


def _dataset(path: Path, need_answers: bool = False) -> Any:
    from evaluation.datasets import load_dataset

    ds = guarded(lambda: load_dataset(path))
    if need_answers and not ds.answers:
        fail(f"{path} has no answers.jsonl", EXIT_BAD_INPUT)
    return ds


def _index(
    ds: Any, text_source: str, mode: str, title: bool, cache_dir: Path | None, workers: int | None
) -> Any:
    from evaluation.scratch import prepare

    if text_source not in ("pdf", "ocr"):
        fail(f"--text-source must be pdf or ocr, not {text_source!r}", EXIT_BAD_INPUT)
    docs = list(ds.corpus.values())
    try:
        index = guarded(
            lambda: prepare(
                ds.name.split("/")[0], docs, text_source=text_source, mode=mode, title=title,  # type: ignore[arg-type]
                cache_dir=cache_dir, workers=workers, on_event=_build_events,
            )
        )  # fmt: skip
    except RuntimeError as exc:
        fail(str(exc), EXIT_FILES_FAILED)
    _say(f"index: {index.root} ({'reused' if index.reused else 'built'})")
    return index


def _record(
    kind: str, result: dict[str, Any], out: Path, benchmarks: Path | None, as_json: bool, details: bool
) -> None:
    """Summary JSON + plot (+ per-query details, + the BENCHMARKS.md block); print the summary."""
    from evaluation import report

    c = result["config"]
    name = report.slug(kind, c["dataset"], *(str(c[k]) for k in c.get("slug_keys", [])))
    summary = {k: v for k, v in result.items() if k not in ("runs", "records")}
    json_path = report.write_json(out / f"{name}.json", summary)
    if details:
        report.write_json(out / f"{name}.details.json.gz", result)
    plot = {"retrieval": report.plot_retrieval, "qa": report.plot_qa, "ocr": report.plot_ocr}[kind]
    try:
        png: Path | None = plot(result, out / f"{name}.png")
    except ImportError:  # matplotlib is optional: the numbers matter, the picture helps
        png = None
        _say("no plot: install matplotlib for the PNG")
    md = {"retrieval": report.retrieval_markdown, "qa": report.qa_markdown, "ocr": report.ocr_markdown}[kind]
    if benchmarks is not None:
        rel = os.path.relpath(png.resolve(), benchmarks.resolve().parent) if png else None
        report.update_benchmarks(benchmarks, name, md(result, rel))
    if as_json:
        typer.echo(json.dumps(summary))
    else:
        typer.echo(md(result))
        wrote = f"{json_path} and {png}" if png else str(json_path)
        typer.echo(f"\nwrote {wrote}" + (f"; updated {benchmarks}" if benchmarks else ""))


@eval_app.command("retrieval")
def eval_retrieval(
    dataset: DatasetDir,
    sample: Sample = None,
    mode: Mode = "base",
    text_source: TextSource = "pdf",
    title: Title = True,
    legs: Annotated[bool, typer.Option("--legs/--no-legs", help="Also score each search leg alone.")] = True,
    corpus_sample: CorpusSample = None,
    cache_dir: CacheDir = None,
    workers: Workers = None,
    out: OutDir = DEFAULT_OUT,
    benchmarks: Benchmarks = None,
    details: Details = True,
    as_json: JsonOut = False,
) -> None:
    """nDCG@10, MRR@10, Recall@1/5/10/100 of the pipeline and of BM25 on the raw text, in one run.

    Every corpus record becomes a one-page PDF, indexed through the normal build into a cached scratch index
    (reused while corpus and settings are the same). --sample restricts the queries only: the whole corpus
    is always indexed and searched, so numbers compare across samples and one index serves them all.
    """
    from evaluation import report
    from evaluation.retrieval_eval import restrict_corpus, run_retrieval, select_queries

    ds = _dataset(dataset)
    qids = select_queries(ds, sample)
    if not qids:
        fail("no query has a judged record in the corpus", EXIT_BAD_INPUT)
    if corpus_sample is not None:
        ds = restrict_corpus(ds, qids, corpus_sample)
    index = _index(ds, text_source, mode, title, cache_dir, workers)
    result = guarded(lambda: run_retrieval(ds, qids, index, title=title, legs=legs, progress=_say))
    result["config"] = {
        "dataset": ds.name, "sample": sample, "mode": index.key["mode"], "text_source": text_source,
        "title": title, "corpus_records": len(ds.corpus), "corpus_sample": corpus_sample,
        "slug_keys": ["text_source", "mode", "sample", "corpus_sample", "title"],
    }  # fmt: skip
    result["index"], result["index_reused"] = index.build, index.reused
    result["stamp"] = report.stamp()
    _record("retrieval", result, out, benchmarks, as_json, details)


@eval_app.command("qa")
def eval_qa(
    dataset: DatasetDir,
    sample: Sample = None,
    mode: Mode = "base",
    text_source: TextSource = "pdf",
    title: Title = True,
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, max=100, help="Pages read per answer.")] = 5,
    oracle: Annotated[
        bool, typer.Option("--oracle/--no-oracle", help="Also answer from the judged page alone.")
    ] = True,
    reader: Annotated[
        Path | None,
        typer.Option(
            "--reader",
            help="Answer with this trained span reader folder, or `rules` for the rule-based reader; "
            "default: VTRAG_READER_DIR, else the shipped reader (docs/READER.md), else the rules.",
        ),
    ] = None,
    corpus_sample: CorpusSample = None,
    cache_dir: CacheDir = None,
    workers: Workers = None,
    out: OutDir = DEFAULT_OUT,
    benchmarks: Benchmarks = None,
    details: Details = True,
    as_json: JsonOut = False,
) -> None:
    """SQuAD EM/F1 of answers end to end (retrieve → answer), with the retrieval hit rate beside them.

    The answer is also taken from the judged page alone, so a lost point is attributed to retrieval or to
    reading. Uses the same cached scratch index as `vtrag eval retrieval`.
    """
    from evaluation import report
    from evaluation.qa_eval import run_qa
    from evaluation.retrieval_eval import restrict_corpus, select_queries

    if reader is not None:  # a wrong folder is refused before the index is built
        from api.settings import Settings

        guarded(lambda: Settings(reader_dir=reader))
    ds = _dataset(dataset, need_answers=True)
    qids = [q for q in select_queries(ds, None) if q in ds.answers]
    if sample is not None and sample < len(qids):
        import random

        keep = set(random.Random(13).sample(qids, sample))
        qids = [q for q in qids if q in keep]
    if not qids:
        fail("no question has answers and a judged record in the corpus", EXIT_BAD_INPUT)
    if corpus_sample is not None:
        ds = restrict_corpus(ds, qids, corpus_sample)
    index = _index(ds, text_source, mode, title, cache_dir, workers)
    result = guarded(
        lambda: run_qa(ds, qids, index, top_k=top_k, oracle=oracle, reader_dir=reader, progress=_say)
    )
    result["config"] = {
        "dataset": ds.name, "sample": sample, "mode": index.key["mode"], "text_source": text_source,
        "title": title, "corpus_records": len(ds.corpus), "corpus_sample": corpus_sample,
        "reader": _reader_label(reader),
        "slug_keys": ["text_source", "mode", "sample", "corpus_sample", "title", "reader"],
    }  # fmt: skip
    result["stamp"] = report.stamp()
    _record("qa", result, out, benchmarks, as_json, details)


def _reader_label(reader: Path | None) -> str:
    """The reader's name for reports: its folder's name (from --reader or VTRAG_READER_DIR), else "rules"."""
    from api.settings import Settings

    folder = reader or Settings().reader_dir
    return "rules" if folder is None else Path(folder).name


@eval_app.command("ocr")
def eval_ocr(
    dataset: DatasetDir,
    modes: Annotated[
        str, typer.Option("--modes", help="Comma-separated modes: tiny,small,base,large,gundam.")
    ] = "tiny,small,base,large",
    sample: Sample = None,
    pack: Annotated[
        int, typer.Option("--pack", min=1, max=64, help="Records per page (denser pages, Fox-like).")
    ] = 1,
    title: Annotated[bool, typer.Option("--title/--no-title", help="Set the title on the page.")] = False,
    cache_dir: CacheDir = None,
    out: OutDir = DEFAULT_OUT,
    benchmarks: Benchmarks = None,
    details: Details = True,
    as_json: JsonOut = False,
) -> None:
    """Character accuracy (1 − CER) of pages read back in each resolution mode, by text length.

    Lite profile: each page is rendered as the mode's view and read by the OCR fallback (RapidOCR). With a
    vision model configured (VTRAG_ENCODER, VTRAG_WEIGHTS_DIR) the pages are indexed in each mode and decoded
    from their stored tokens ("Free OCR.") instead.
    """
    from api.settings import Settings
    from encoder.modes import get_mode
    from evaluation import report
    from evaluation.ocr_eval import make_pages, run_ocr

    names = [m.strip().lower() for m in modes.split(",") if m.strip()]
    for m in names:
        guarded(lambda m=m: get_mode(m))
    if not names:
        fail("--modes is empty", EXIT_BAD_INPUT)
    ds = _dataset(dataset)
    pages = guarded(lambda: make_pages(ds, sample, pack))
    if not pages:
        fail("the corpus is empty", EXIT_BAD_INPUT)
    encoder = Settings().encoder
    if encoder != "none":
        from evaluation.ocr_eval import vision_readers

        readers = guarded(
            lambda: vision_readers(ds.name.split("/")[0], pages, names, cache_dir=cache_dir, title=title)
        )
        result: dict[str, Any] = {
            "engine": f"{encoder} (stored tokens, Free OCR)",
            "pages": len(pages),
            "modes": {},
            "records": [],
        }
        for m in names:
            part = guarded(lambda m=m: run_ocr(pages, [m], reader=readers[m], title=title, progress=_say))
            result["modes"].update(part["modes"])
            result["records"] += part["records"]
    else:
        result = guarded(lambda: run_ocr(pages, names, title=title, progress=_say))
    result["config"] = {
        "dataset": ds.name, "sample": sample, "pack": pack, "modes": names, "encoder": encoder,
        "slug_keys": ["encoder", "pack", "sample"],
    }  # fmt: skip
    result["stamp"] = report.stamp()
    _record("ocr", result, out, benchmarks, as_json, details)
