"""Measure the extractive reader alone, without Milvus: paragraphs become fake pages, SQuAD EM/F1 comes out.

Two settings per question:
- gold: the reader gets only the paragraph the question was written on (as the SQuAD leaderboard readers did);
- bm25: the reader gets the top-k paragraphs of an in-memory BM25 over the whole corpus (title + text, the
  baseline's analyzer), in rank order, so retrieval misses count.

Each paragraph becomes a `PageRecord` whose text is the paragraph (the title is not rendered unless --title),
with one `TextLine` per sentence on a fake 612x792 pt page at 144 dpi.

    .venv/bin/python -m evaluation.reader_eval /work/shared/evaldata/squad-v1.1-dev --sample sample_1000
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from decoder.extractive import ExtractiveAnswer, answer_extractive
from decoder.extractive.text import split_sentences
from evaluation.bm25 import BM25
from evaluation.datasets import CorpusDoc, EvalDataset, load_dataset
from evaluation.metrics import evaluate_answers, evaluate_retrieval, exact_match, f1_score, max_over_gold
from retriever.records import PageRecord, SearchHit, TextLine

PAGE_W, PAGE_H, DPI = 612.0, 792.0, 144.0


def paragraph_page(
    doc: CorpusDoc, page_no: int = 1, *, title: bool = False, per_sentence: bool = True
) -> PageRecord:
    """A fake page holding one paragraph: one line per sentence (or one line), boxes stacked down the page.

    Args:
        doc: the paragraph.
        page_no: the page number to give it.
        title: render the title as a first line.
        per_sentence: one TextLine per sentence; otherwise a single line for the whole text.

    Returns:
        A `PageRecord` (doc_id = paragraph id, source = "<id>.pdf").
    """
    text = f"{doc.title}\n{doc.text}" if title else doc.text
    spans = split_sentences(text) if per_sentence else [(0, len(text))]
    lines = []
    for k, (s, e) in enumerate(spans):
        y0 = 72.0 + 14.0 * k
        lines.append(TextLine(s, e, (72.0, y0, PAGE_W - 72.0, y0 + 12.0)))
    return PageRecord(
        doc_id=doc.id,
        page_no=page_no,
        source=f"{doc.id}.pdf",
        mode="lite",
        n_tokens=0,
        text=text,
        text_source="pdf",
        width=PAGE_W,
        height=PAGE_H,
        dpi=DPI,
        lines=lines,
        text_vec=None,
    )


class CachedEmbedder:
    """Memoises an embedder's vectors per text: re-reading the same paragraphs costs one forward pass each."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self._cache: dict[str, Any] = {}

    def embed(self, texts: list[str]) -> Any:
        import numpy as np

        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            for t, v in zip(todo, self.embedder.embed(todo), strict=True):
                self._cache[t] = v
        return np.stack([self._cache[t] for t in texts]) if texts else self.embedder.embed([])

    def embed_query(self, text: str) -> Any:
        return self.embed([text])[0]


def select_queries(
    ds: EvalDataset, limit: int | None = None, exclude: set[str] | None = None, seed: int = 7
) -> list[str]:
    """Query ids with answers, minus `exclude`; a seeded random `limit` of them if given (file order kept)."""
    ids = [q for q in ds.queries if q in ds.answers and not (exclude and q in exclude)]
    if limit is not None and limit < len(ids):
        keep = set(random.Random(seed).sample(ids, limit))
        ids = [q for q in ids if q in keep]
    return ids


def run_reader(
    ds: EvalDataset,
    qids: Sequence[str],
    *,
    setting: str = "gold",
    top_k: int = 5,
    title: bool = False,
    embedder: Any = None,
    reader: Callable[..., ExtractiveAnswer] = answer_extractive,
    bm25: BM25 | None = None,
) -> dict[str, Any]:
    """Answer each query from gold or BM25-retrieved paragraphs and score the answers.

    Args:
        ds: the dataset (with answers).
        qids: which queries.
        setting: "gold" or "bm25".
        top_k: paragraphs handed to the reader in the bm25 setting.
        title: render titles into the page text.
        embedder: passed to the reader.
        reader: the reader function (question, hits, embedder=...) -> ExtractiveAnswer.
        bm25: a prebuilt index (built over title + text when None and needed).

    Returns:
        {"exact_match", "f1", "questions", "predicted", "ms_per_question", "retrieval" (bm25 only),
         "records": [per question {"id", "question", "prediction", "answers", "em", "f1", "page",
         "gold_page", "score"}]}.
    """
    if setting not in ("gold", "bm25"):
        raise ValueError(f"setting must be 'gold' or 'bm25', got {setting!r}")
    if setting == "bm25" and bm25 is None:
        bm25 = BM25((d.id, f"{d.title} {d.text}") for d in ds.corpus.values())
    pages: dict[str, PageRecord] = {}

    def page(doc_id: str) -> PageRecord:
        if doc_id not in pages:
            pages[doc_id] = paragraph_page(ds.corpus[doc_id], title=title)
        return pages[doc_id]

    preds: dict[str, str] = {}
    runs: dict[str, list[str]] = {}
    records = []
    elapsed = 0.0
    for qid in qids:
        question = ds.queries[qid]
        gold = ds.relevant(qid)
        if setting == "gold":
            hits = [SearchHit(page(d), 1.0) for d in gold[:1]]
        else:
            assert bm25 is not None
            ranked = bm25.search(question, k=max(top_k, 10))
            runs[qid] = [d for d, _ in ranked]
            hits = [SearchHit(page(d), s) for d, s in ranked[:top_k]]
        t0 = time.perf_counter()
        ans = reader(question, hits, embedder=embedder)
        elapsed += time.perf_counter() - t0
        preds[qid] = ans.text
        golds = ds.answers[qid]
        records.append(
            {
                "id": qid,
                "question": question,
                "prediction": ans.text,
                "answers": golds,
                "em": max_over_gold(exact_match, ans.text, golds),
                "f1": max_over_gold(f1_score, ans.text, golds),
                "page": ans.page_id.split(":")[0] if ans.page_id else "",
                "gold_page": gold[0] if gold else "",
                "score": ans.score,
            }
        )
    out: dict[str, Any] = evaluate_answers(preds, {q: ds.answers[q] for q in qids})
    out["ms_per_question"] = 1000.0 * elapsed / max(1, len(qids))
    if setting == "bm25":
        out["retrieval"] = evaluate_retrieval(runs, {q: ds.qrels.get(q, {}) for q in qids}, ks=(1, 5, 10))
    out["records"] = records
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset", help="dataset folder, e.g. .../squad-v1.1-dev")
    ap.add_argument("--sample", default=None, help="sample subfolder (e.g. sample_1000)")
    ap.add_argument("--setting", choices=["gold", "bm25", "both"], default="both")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--limit", type=int, default=None, help="a seeded random subset of this many questions")
    ap.add_argument("--exclude-sample", default=None, help="drop the questions of this sample (a dev split)")
    ap.add_argument("--title", action="store_true", help="render paragraph titles into the page text")
    ap.add_argument("--embedder", action="store_true", help="use encoder.text_embedder.TextEmbedder")
    ap.add_argument("--dump", default=None, help="write per-question records (jsonl) here")
    a = ap.parse_args(argv)
    ds = load_dataset(a.dataset, a.sample)
    exclude = None
    if a.exclude_sample:
        exclude = set(load_dataset(a.dataset, a.exclude_sample).queries)
    qids = select_queries(ds, a.limit, exclude)
    embedder = None
    if a.embedder:
        from encoder.text_embedder import TextEmbedder

        embedder = CachedEmbedder(TextEmbedder())
    settings = ["gold", "bm25"] if a.setting == "both" else [a.setting]
    bm25 = None
    for setting in settings:
        if setting == "bm25" and bm25 is None:
            bm25 = BM25((d.id, f"{d.title} {d.text}") for d in ds.corpus.values())
        res = run_reader(
            ds, qids, setting=setting, top_k=a.top_k, title=a.title, embedder=embedder, bm25=bm25
        )
        label = setting if setting == "gold" else f"bm25 top-{a.top_k}"
        extra = ""
        if "retrieval" in res:
            r = res["retrieval"]
            extra = f"  (R@1 {r['Recall@1']:.3f}, R@{a.top_k if a.top_k in (1, 5, 10) else 5} "
            extra += f"{r.get(f'Recall@{a.top_k}', r['Recall@5']):.3f})"
        print(
            f"{ds.name} [{label}] n={res['questions']}: EM {res['exact_match']:.1f}  F1 {res['f1']:.1f}  "
            f"{res['ms_per_question']:.2f} ms/q{extra}"
        )
        if a.dump:
            path = Path(a.dump if len(settings) == 1 else f"{a.dump}.{setting}")
            with path.open("w", encoding="utf-8") as f:
                for rec in res["records"]:
                    f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
