"""`vtrag reader train`: fine-tune the trained span reader on a question-answering dataset folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from api.cli.common import EXIT_BAD_INPUT, JsonOut, fail

if TYPE_CHECKING:
    from evaluation.reader_data import HeldOut

reader_app = typer.Typer(help="Train and check the span reader used for answers.", no_args_is_help=True)


@reader_app.command("train")
def reader_train(
    dataset: Annotated[
        Path, typer.Argument(help="Dataset folder: corpus.jsonl, queries.jsonl, qrels.tsv, answers.jsonl.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Reader folder to write (replaced if it exists).")],
    exclude: Annotated[
        list[Path] | None,
        typer.Option(
            "--exclude",
            help="A sample folder (queries + qrels) whose paragraphs must not train "
            "the reader, e.g. the one you will evaluate with (repeatable).",
        ),
    ] = None,  # fmt: skip
    base_model: Annotated[
        Path | None, typer.Option("--base-model", help="Local BERT-family folder (default: bundled MiniLM).")
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, max=50)] = 3,
    lr: Annotated[float, typer.Option("--lr", min=1e-7, max=1e-2)] = 1e-4,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=1024)] = 32,
    validation: Annotated[
        float, typer.Option("--validation", min=0.0, max=0.5, help="Share of paragraphs held out.")
    ] = 0.05,
    negatives: Annotated[
        int,
        typer.Option(
            "--negatives",
            min=0,
            max=10,
            help="No-answer paragraphs (BM25's best others) per question: teaches it to rank pages.",
        ),
    ] = 2,
    seed: Annotated[int, typer.Option("--seed")] = 13,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda.")] = "auto",
    half: Annotated[bool, typer.Option("--half", help="Store the weights as float16 (half the size).")] = (
        False
    ),
    bf16: Annotated[
        bool, typer.Option("--bf16", help="bfloat16 autocast on the CPU too (faster where the CPU has it).")
    ] = False,
    threads: Annotated[int, typer.Option("--threads", min=0, max=256, help="CPU threads (0: torch's).")] = 0,
    as_json: JsonOut = False,
) -> None:
    """Fine-tune a span reader; questions on excluded paragraphs never train it. Prints held-out EM/F1, from
    the question's own paragraph alone and among BM25's 4 best other paragraphs.

    Point `VTRAG_READER_DIR` (or `vtrag eval qa --reader`) at the folder to answer with it.
    """
    from api.service.runtime import resolve_device
    from decoder.span_reader_train import TrainConfig, train_reader, write_meta
    from encoder.text_embedder import bundled_model_dir
    from evaluation.datasets import load_dataset
    from evaluation.reader_data import split_for_reader

    try:
        ds = load_dataset(dataset)
        excluded: set[str] = set()
        for sample in exclude or []:
            held = load_dataset(sample)
            excluded |= {p for q in held.queries for p in held.relevant(q)}
        split = split_for_reader(ds, excluded, validation, seed, negatives=negatives)
        device = resolve_device(device)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    base = base_model or bundled_model_dir()
    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                         save_dtype="float16" if half else "float32", bf16=bf16, threads=threads)  # fmt: skip
    answered = sum(e.answer_start >= 0 for e in split.train)
    _say(as_json, f"training on {answered} questions + {len(split.train) - answered} negatives "
                  f"({split.excluded_paragraphs} paragraphs excluded, {len(split.validation)} questions held "
                  f"out) on {device}")  # fmt: skip
    try:
        with _StepProgress(as_json) as progress:
            meta = train_reader(base, split.train, out, config, device=device, on_step=progress.step)
    except OSError as exc:  # transformers' way of saying the base folder is missing or incomplete
        fail(f"cannot load the base model from {base}: {exc}", EXIT_BAD_INPUT)
    except FloatingPointError as exc:
        fail(str(exc), 1)
    meta.update(
        dataset=str(dataset.resolve()),
        excluded=[str(p.resolve()) for p in exclude or []],
        excluded_paragraphs=split.excluded_paragraphs,
        unlocated_answers=split.unlocated,
        validation=_validate(out, split.validation, device),
    )
    write_meta(out, meta)
    if as_json:
        typer.echo(json.dumps(meta))
    else:
        v = meta["validation"]
        d = v["with_distractors"]
        typer.echo(f"wrote {out} in {meta['train_seconds']} s; held-out {v['questions']} questions: own page "
                   f"EM {v['exact_match']:.1f} / F1 {v['f1']:.1f}, among 5 pages EM {d['exact_match']:.1f} / "
                   f"F1 {d['f1']:.1f}")  # fmt: skip


@reader_app.command("export")
def reader_export(
    reader: Annotated[Path, typer.Argument(help="A reader folder written by `vtrag reader train`.")],
    out: Annotated[Path, typer.Option("--out", help="The int8 reader folder to write (replaced if there).")],
    as_json: JsonOut = False,
) -> None:
    """Export a trained reader as an int8 ONNX Runtime graph: a few times smaller and faster on a CPU, and
    read without torch or transformers (a single `vtrag ask` starts faster). Point VTRAG_READER_DIR at it."""
    from decoder.span_reader import ReaderError, SpanReader
    from decoder.span_reader_onnx import ReaderExportError, export_int8

    try:
        SpanReader(reader)  # a clear error for a folder that is not a reader
        meta = export_int8(reader, out)
    except (ReaderError, ReaderExportError, OSError) as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    size = sum(f.stat().st_size for f in out.iterdir()) / 2**20
    if as_json:
        typer.echo(json.dumps({**meta, "out": str(out), "megabytes": round(size, 1)}))
    else:
        typer.echo(f"wrote {out} ({size:.1f} MB, int8 logits correlate {meta['int8_logit_correlation']} with "
                   "the float reader's)")  # fmt: skip


def _validate(out: Path, held: dict[str, HeldOut], device: str) -> dict[str, Any]:
    """EM/F1 of the written reader on the held-out questions: from their own paragraph alone, and with BM25's
    best other paragraphs beside it (the reader must also pick the page)."""
    from decoder.span_reader import SpanReader
    from evaluation.metrics import evaluate_answers

    golds = {q: h.answers for q, h in held.items()}
    if not held:
        empty = {"exact_match": 0.0, "f1": 0.0, "questions": 0, "predicted": 0}
        return {**empty, "with_distractors": empty}
    reader = SpanReader(out, device=device)
    alone, among = {}, {}
    for qid, h in held.items():
        texts = [h.context, *h.distractors]
        spans = reader.read(h.question, texts)
        own = spans[0]
        alone[qid] = h.context[own.start : own.end] if own else ""
        found = [(s, t) for s, t in zip(spans, texts, strict=True) if s is not None]
        best = max(found, key=lambda f: f[0].score, default=None)
        among[qid] = best[1][best[0].start : best[0].end] if best else ""
    result: dict[str, Any] = evaluate_answers(alone, golds)
    result["with_distractors"] = evaluate_answers(among, golds)
    return result


def _say(as_json: bool, line: str) -> None:
    typer.echo(json.dumps({"event": "info", "message": line}) if as_json else line, err=not as_json)


class _StepProgress:
    """A rich bar on a terminal; JSON lines every 50 steps with --json; nothing otherwise."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _StepProgress:
        if not self.as_json and sys.stderr.isatty():
            from rich.progress import Progress

            self.bar = Progress(transient=True)
            self.bar.start()
            self.task = self.bar.add_task("training", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def step(self, step: int, total: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=step, total=total, description=f"training, loss {loss:.3f}")
        elif self.as_json and (step % 50 == 0 or step == total):
            typer.echo(json.dumps({"event": "step", "step": step, "steps": total, "loss": round(loss, 4)}))
