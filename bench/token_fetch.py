"""CPU benchmark of the stored-token read path: IndexStore.get_tokens for 5 Base pages from Milvus Lite.

    python bench/token_fetch.py               # 5 pages of (273, 1280) bf16, median of 20 after warm-up

Writes 5 pages of random (273, 1280) bf16 tokens (the v1 Base layout: 16 x (16 + 1 newline) + 1 separator
rows of 1280) into a temporary Lite index, then times one get_tokens call for the 5 page ids: one query of
the chunked base64 rows (byte planes + zstd, ~0.7 of the raw size for this data; see retriever/tokens.py),
base64 decode, zstd decompress and plane interleave, sha256 check of the raw bytes, tensor rebuild. Moving
the payload through Milvus Lite's in-process gRPC path is most of the time, so "stored MB" is printed too.
DESIGN.md's reference: 25 ms for chunked bytes vs 6.9 s for one FLOAT_VECTOR row per token.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from retriever.records import DocRecord, IndexConfig, PageRecord  # noqa: E402
from retriever.store import IndexStore  # noqa: E402
from retriever.tokens import encode_tensor  # noqa: E402

ROWS, HIDDEN = 273, 1280  # v1 Base: 16 x (16 + 1) + 1 rows of the 1280-wide projector output
TEXT_DIM = 384


def _fill(store: IndexStore, n_pages: int) -> tuple[list[str], dict[int, torch.Tensor]]:
    doc_id = "bench"
    store.begin_doc(DocRecord(doc_id, "/bench.pdf", n_pages, "indexing", 0, "base"))
    rng = np.random.default_rng(0)
    pages = [
        PageRecord(doc_id, n, "/bench.pdf", "base", ROWS, f"page {n}", "pdf", 612.0, 792.0, 144.0, [],
                   rng.standard_normal(TEXT_DIM).astype(np.float32))
        for n in range(1, n_pages + 1)
    ]  # fmt: skip
    tokens = {n: torch.randn(ROWS, HIDDEN).to(torch.bfloat16) for n in range(1, n_pages + 1)}
    store.write_pages(pages, tokens)
    store.complete_doc(doc_id)
    return [p.page_id for p in pages], tokens


def measure(n_pages: int = 5, repeats: int = 20) -> dict[str, float]:
    """Median/min/max seconds of one get_tokens call for n_pages Base pages (after a warm-up)."""
    config = IndexConfig(text_model="bench", text_dim=TEXT_DIM, mode="base")
    with tempfile.TemporaryDirectory() as tmp, IndexStore.open(Path(tmp) / "bench.db", config) as store:
        page_ids, tokens = _fill(store, n_pages)
        # base64 characters in the payload rows = bytes each call moves through Milvus
        stored_mb = sum(len(c) for t in tokens.values() for c in encode_tensor("", t).chunks) / 1e6
        store.get_tokens(page_ids)  # warm-up: first query loads segments and caches
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            got = store.get_tokens(page_ids)
            times.append(time.perf_counter() - start)
        assert len(got) == n_pages and all(t.shape == (ROWS, HIDDEN) for t in got.values())
    return {
        "median": statistics.median(times),
        "min": min(times),
        "max": max(times),
        "raw_mb": n_pages * ROWS * HIDDEN * 2 / 1e6,
        "stored_mb": stored_mb,
    }


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=5, help="pages fetched per call")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls (median reported)")
    args = parser.parse_args()
    m = measure(args.pages, args.repeats)
    print("| pages | rows x hidden | dtype | raw MB | stored MB | median ms | min ms | max ms | MB/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| {args.pages} | {ROWS} x {HIDDEN} | bf16 | {m['raw_mb']:.2f} | {m['stored_mb']:.2f} | "
        f"{m['median'] * 1e3:.1f} | {m['min'] * 1e3:.1f} | {m['max'] * 1e3:.1f} | "
        f"{m['raw_mb'] / m['median']:.0f} |"
    )


if __name__ == "__main__":
    main()
