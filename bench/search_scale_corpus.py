"""The pages bench/search_scale.py searches: SQuAD paragraphs mixed three to a page, their MiniLM vectors with
noise, and (for the vision profile) a stand-in pooled vector; written straight through `IndexStore`."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

DOC_PAGES = 100
WRITE_BATCH = 50
NOISE = 0.02
VISION_DIM = 1280
SEED = 14


@dataclass
class Corpus:
    """The base paragraphs, their MiniLM vectors and the questions used as queries."""

    texts: list[str]
    vecs: np.ndarray  # (n, 384) float32, L2-normalised
    queries: list[str]


def load_corpus(dataset: Path, cache: Path, n_queries: int) -> Corpus:
    """Paragraphs (title + text), their vectors (embedded once, cached) and the first questions."""
    from encoder.text_embedder import TextEmbedder

    rows = [json.loads(line) for line in (dataset / "corpus.jsonl").read_text().splitlines() if line.strip()]
    texts = [f"{r.get('title', '')}\n{r['text']}".strip() for r in rows]
    queries = [
        json.loads(line)["text"]
        for line in (dataset / "queries.jsonl").read_text().splitlines()
        if line.strip()
    ]
    embedder = TextEmbedder()
    path = cache / f"squad-paragraphs-{embedder.name.replace('@', '-')}-{len(texts)}.npy"
    if path.exists():
        vecs = np.load(path)
    else:
        t0 = time.perf_counter()
        vecs = embedder.embed(texts).astype(np.float32)
        print(f"embedded {len(texts)} paragraphs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        cache.mkdir(parents=True, exist_ok=True)
        np.save(path, vecs)
    rng = np.random.default_rng(SEED)
    picked = rng.choice(len(queries), size=min(n_queries, len(queries)), replace=False)
    return Corpus(texts, vecs, [queries[i] for i in picked])


def _normalise(m: np.ndarray) -> np.ndarray:
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)


def page_mix(n: int, n_base: int) -> np.ndarray:
    """(n, 3) paragraph indices of each page: k mod n_base, then two seeded random ones."""
    rng = np.random.default_rng(SEED)
    others = rng.integers(0, n_base, size=(n, 2))
    return np.column_stack([np.arange(n) % n_base, others])


def page_vectors(corpus: Corpus, mix: np.ndarray, vision: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Text (and vision) vectors of every page, derived as the module docstring says."""
    rng = np.random.default_rng(SEED + 1)
    v = corpus.vecs
    text = 0.6 * v[mix[:, 0]] + 0.3 * v[mix[:, 1]] + 0.3 * v[mix[:, 2]]
    text = _normalise(text + rng.normal(0, NOISE, size=text.shape))
    if not vision:
        return text, None
    pooled = text @ _projection(v.shape[1])
    return text, _normalise(pooled + rng.normal(0, NOISE, size=pooled.shape))


@lru_cache(maxsize=1)
def _projection(dim: int) -> np.ndarray:
    """The fixed random projection text vector → stand-in pooled vision vector."""
    return np.random.default_rng(SEED + 2).normal(0, 1 / np.sqrt(dim), size=(dim, VISION_DIM))


def vision_query(vec: np.ndarray) -> np.ndarray:
    """The query's stand-in pooled vector: the same projection as the pages'."""
    out = vec @ _projection(vec.shape[0])
    return (out / np.linalg.norm(out)).astype(np.float32)


def build_index(uri: str, name: str, corpus: Corpus, n: int, vision: bool) -> dict[str, Any]:
    """Write n pages through IndexStore; returns the build facts (seconds, pages/s)."""
    from encoder.text_embedder import TextEmbedder, text_model_name
    from retriever.records import DocRecord, IndexConfig, PageRecord, TextLine
    from retriever.store import IndexStore

    mix = page_mix(n, len(corpus.texts))
    text_vecs, vision_vecs = page_vectors(corpus, mix, vision)
    config = IndexConfig(
        text_model=text_model_name("onnx-int8"),
        text_dim=TextEmbedder.dim,
        mode="base",
        encoder="bench-pooled" if vision else None,
        vision_dim=VISION_DIM if vision else None,
    )
    t0 = time.perf_counter()
    with IndexStore.open(uri, config, name=name, recreate=True) as store:
        for d, start in enumerate(range(0, n, DOC_PAGES)):
            doc_id = f"{d:064x}"
            count = min(DOC_PAGES, n - start)
            store.begin_doc(
                DocRecord(doc_id=doc_id, source=f"/bench/doc{d:05d}.pdf", pages=count, status="indexing",
                          bytes=count * 2000, mode="base")
            )  # fmt: skip
            pages = []
            for i in range(count):
                k = start + i
                parts = [corpus.texts[j] for j in mix[k]]
                lines, text, y = [], "", 72.0
                for part in parts:
                    begin = len(text)
                    text += part + "\n"
                    lines.append(TextLine(begin, begin + len(part), (56.0, y, 539.0, y + 12.0)))
                    y += 14.0
                pages.append(
                    PageRecord(
                        doc_id=doc_id, page_no=i + 1, source=f"/bench/doc{d:05d}.pdf", mode="base",
                        n_tokens=273,
                        text=text, text_source="pdf", width=595.0, height=842.0, dpi=144.0, lines=lines,
                        text_vec=text_vecs[k],
                        vision_vec=None if vision_vecs is None else vision_vecs[k],
                    )
                )  # fmt: skip
            for b in range(0, count, WRITE_BATCH):
                store.write_pages(pages[b : b + WRITE_BATCH])
            store.complete_doc(doc_id)
            if d % 100 == 99:
                rate = (start + count) / (time.perf_counter() - t0)
                print(f"  {start + count} pages, {rate:.0f} pages/s", file=sys.stderr)
    seconds = time.perf_counter() - t0
    return {"pages": n, "build_s": round(seconds, 1), "pages_per_s": round(n / seconds, 1)}
