"""Build-side token writes: Base pages per second into Milvus Lite with 1, 2 and 4 writer threads, and with
the tokens packed and sent by writer processes (`--processes`, retriever/token_writers.py).

    python bench/token_writes.py [--batches 8] [--batch-pages 32] [--threads 1,2,4] [--processes 0,4]
                                 [--token-codec lossless|int8|fp8-e4m3] [--record]

Each run writes `--batches` batches of `--batch-pages` pages of random (273, 1280) bf16 tokens (v1 Base)
through `IndexStore.write_pages` (tokens, then page rows) on `indexer.writer.BackgroundWriter` with the given
threads, as a build does (`write_threads`, VTRAG_WRITE_THREADS), into a fresh Lite index; one document per
batch, completed together at the end (`IndexStore.complete_docs`). The batches are made before the clock
starts, so only the writes are timed. Random rows are incompressible: ~700 KB a page goes through the codec
and Milvus Lite's gRPC path (trained-model-like rows: ~480 KB).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.token_fetch import HIDDEN, ROWS, TEXT_DIM  # noqa: E402
from indexer.writer import BackgroundWriter  # noqa: E402
from retriever.records import LOSSLESS, TOKEN_CODECS, DocRecord, IndexConfig, PageRecord  # noqa: E402
from retriever.store import IndexStore  # noqa: E402

Batch = tuple[str, list[PageRecord], dict[int, torch.Tensor]]  # (doc id, page records, page_no -> rows)


def batches(n: int, pages: int) -> list[Batch]:
    rng = np.random.default_rng(0)
    out = []
    for b in range(n):
        doc = f"doc{b}"
        records = [
            PageRecord(doc, p, f"/{doc}.pdf", "base", ROWS, f"page {p}", "pdf", 612.0, 792.0, 144.0, [],
                       rng.standard_normal(TEXT_DIM).astype(np.float32))
            for p in range(1, pages + 1)
        ]  # fmt: skip
        tokens = {r.page_no: torch.randn(ROWS, HIDDEN).to(torch.bfloat16) for r in records}
        out.append((doc, records, tokens))
    return out


def pages_per_second(threads: int, processes: int, work: list[Batch], codec: str = LOSSLESS) -> float:
    config = IndexConfig(text_model="bench", text_dim=TEXT_DIM, mode="base", token_codec=codec)
    with tempfile.TemporaryDirectory() as tmp, IndexStore.open(Path(tmp) / "bench.db", config) as store:
        for doc, records, _ in work:
            store.begin_doc(DocRecord(doc, f"/{doc}.pdf", len(records), "indexing", 0, "base"))
        token_writers = store.token_writers(processes)
        if token_writers is not None:  # the processes' start-up (imports, connect) is not a write
            store.write_pages(*work[0][1:], writers=token_writers)
        writer = BackgroundWriter(threads=threads)
        started = time.perf_counter()
        for _, records, tokens in work:
            write = lambda r=records, t=tokens: store.write_pages(r, t, writers=token_writers)  # noqa: E731
            writer.submit(write, lambda: None)
        writer.drain()
        store.complete_docs([doc for doc, _, _ in work])
        seconds = time.perf_counter() - started
        writer.close()
        if token_writers is not None:
            token_writers.close()
    return sum(len(r) for _, r, _ in work) / seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-pages", type=int, default=32)
    parser.add_argument("--threads", default="1,2,4")
    parser.add_argument("--processes", default="0", help="token-writer processes (0: the threads write them)")
    parser.add_argument("--token-codec", default=LOSSLESS, choices=TOKEN_CODECS, help="the new index's codec")
    parser.add_argument("--record", action="store_true", help="append the table to docs/BENCHMARKS.md")
    args = parser.parse_args()
    work = batches(args.batches, args.batch_pages)
    pages_per_second(1, 0, work[:1])  # warm-up: Milvus Lite start, first collection load
    runs = [(int(p), int(t)) for p in args.processes.split(",") for t in args.threads.split(",")]
    rates = {run: pages_per_second(run[1], run[0], work, args.token_codec) for run in runs}
    first = next(iter(rates.values()))
    rows = [f"| {t} | {p} | {rate:.1f} | {rate / first:.2f}x |" for (p, t), rate in rates.items()]
    header = "| writer threads | token processes | Base pages/s | vs the first row |"
    table = "\n".join([header, "|---:|---:|---:|---:|", *rows])
    print(table)
    if args.record:
        command = "python bench/token_writes.py " + " ".join(sys.argv[1:])
        machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        with open(ROOT / "docs" / "BENCHMARKS.md", "a", encoding="utf-8") as fh:
            title = f"{dt.date.today()} — token writes per writer thread"
            fh.write(f"\n## {title}\n\n`{command}` on {machine}.\n\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
