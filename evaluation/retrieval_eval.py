"""Retrieval quality of the pipeline against BM25 on the raw text, in one run, over one scratch index.

The pipeline is `Service.search` (hybrid: Milvus BM25 + dense text, fused) over the rendered pages.
Beside it, for diagnosis, each of its legs alone (Milvus BM25, dense MiniLM), and the reference baseline:
an in-memory BM25 over the records' raw text (`bm25.py`, the baseline script's analyzer and k1/b), on
exactly the text the pages show (title + text, or text only).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from api.service.batch import BatchItem, search_many
from evaluation.bm25 import BM25
from evaluation.datasets import EvalDataset
from evaluation.metrics import RETRIEVAL_KEYS, evaluate_retrieval
from evaluation.scratch import ScratchIndex

DEPTH = 100  # ranks kept per query: Recall@100 needs them


def select_queries(ds: EvalDataset, sample: int | None, seed: int = 13) -> list[str]:
    """Query ids with a judged document in the corpus; a seeded random `sample` of them (file order kept)."""
    import random

    ids = [q for q in ds.queries if any(d in ds.corpus for d in ds.relevant(q))]
    if sample is not None and sample < len(ids):
        keep = set(random.Random(seed).sample(ids, sample))
        ids = [q for q in ids if q in keep]
    return ids


def restrict_corpus(ds: EvalDataset, qids: Sequence[str], size: int, seed: int = 13) -> EvalDataset:
    """The dataset with its corpus cut to `size` records: every record judged for `qids`, plus a seeded random
    draw of the others (distractors). For runs too expensive on the full corpus (OCR'ing every page); the
    numbers are then easier than full-corpus ones and comparable only with runs on the same cut.
    """
    import random
    from dataclasses import replace

    judged = [d for q in qids for d in ds.relevant(q) if d in ds.corpus]
    keep = set(judged)
    others = [d for d in ds.corpus if d not in keep]
    extra = max(0, size - len(keep))
    keep |= set(random.Random(seed).sample(others, min(extra, len(others))))
    corpus = {d: doc for d, doc in ds.corpus.items() if d in keep}
    return replace(ds, corpus=corpus)


def raw_text(title: str, text: str, with_title: bool) -> str:
    return f"{title} {text}" if with_title and title else text


def run_retrieval(
    ds: EvalDataset,
    qids: Sequence[str],
    index: ScratchIndex,
    *,
    title: bool = True,
    legs: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Rank the corpus for each query with the pipeline (and its legs) and with BM25 on the raw text.

    Args:
        ds: the dataset (its corpus is what `index` holds).
        qids: the queries to run.
        index: the scratch index of `ds.corpus`.
        title: whether titles are on the pages (BM25 then indexes title + text too).
        legs: also run the Milvus BM25 leg and the dense leg alone.
        progress: called with a short line now and then.

    Returns:
        {"queries", "fusion", "systems": {name: {metric: value, "ms_per_query"}},
         "ratio": {metric: pipeline / bm25}, "runs": {name: {qid: [record ids]}}}.
    """
    say = progress or (lambda line: None)
    qrels = {q: ds.qrels.get(q, {}) for q in qids}
    items = [BatchItem(q, ds.queries[q]) for q in qids]
    runs: dict[str, dict[str, list[str]]] = {}
    times: dict[str, float] = {}

    service = index.service()
    fusion = service.settings.fusion
    try:
        t0 = time.perf_counter()
        pipeline: dict[str, list[str]] = {}
        for n, (item, resp) in enumerate(search_many(service, items, top_k=DEPTH), 1):
            if isinstance(resp, str):
                pipeline[item.id] = []
            else:
                ids = (index.record_id(r.source) for r in resp.results)
                pipeline[item.id] = [d for d in ids if d is not None]
            if n % 500 == 0:
                say(f"pipeline: {n}/{len(items)} queries")
        runs["pipeline"], times["pipeline"] = pipeline, time.perf_counter() - t0
        if legs:
            store = service.store()
            t0 = time.perf_counter()
            vecs = service.embedder.embed([i.text for i in items])
            embed_s = time.perf_counter() - t0
            for name, query_of in (
                ("milvus_bm25", lambda i, v: (i.text, None)),
                ("dense", lambda i, v: ("", v.tolist())),
            ):
                t0 = time.perf_counter()
                run: dict[str, list[str]] = {}
                for item, vec in zip(items, vecs, strict=True):
                    text, qvec = query_of(item, vec)
                    if not text.strip() and qvec is None:
                        run[item.id] = []
                        continue
                    hits = store.search(text, qvec, top_k=DEPTH)
                    run[item.id] = [d for h in hits if (d := index.record_id(h.page.source)) is not None]
                runs[name] = run
                times[name] = time.perf_counter() - t0 + (embed_s if name == "dense" else 0.0)
                say(f"{name}: done")
    finally:
        service.close()

    t0 = time.perf_counter()
    bm25 = BM25((d.id, raw_text(d.title, d.text, title)) for d in ds.corpus.values())
    runs["bm25_raw"] = {q: [d for d, _ in bm25.search(ds.queries[q], k=DEPTH)] for q in qids}
    times["bm25_raw"] = time.perf_counter() - t0

    systems = {}
    for name, run in runs.items():
        m = evaluate_retrieval(run, qrels)
        m["ms_per_query"] = round(1000.0 * times[name] / max(1, len(qids)), 2)
        systems[name] = m
    base, pipe = systems["bm25_raw"], systems["pipeline"]
    ratio = {k: (pipe[k] / base[k] if base[k] else 0.0) for k in RETRIEVAL_KEYS}
    return {"queries": len(qids), "fusion": fusion, "systems": systems, "ratio": ratio, "runs": runs}
