"""CPU benchmark of the lite profile's index build, and of the stored-token read path.

    python bench/index_cpu.py                 # prints the table
    python bench/index_cpu.py --record        # and appends it, dated, to docs/BENCHMARKS.md

Three numbers, each through the real code on Milvus Lite in a temporary directory:
- text-layer PDFs: `Service.build` over generated born-digital PDFs (~400 words a page): pages/s end to end
  (open, text + line boxes, MiniLM embedding, Milvus writes, completion flushes);
- OCR path: the same over image-only (scanned) pages, so every page goes through RapidOCR;
- token fetch: `IndexStore.get_tokens` for 5 Base pages of (273, 1280) bf16 (see bench/token_fetch.py).

A shared 2-core VM runs at very different speeds from one hour to the next (the same commit has measured
7 and 12 text-layer pages/s), so the table also carries the machine's fp32 matrix-multiply rate, taken
before and after the builds: a reader can tell a slow phase from a slow change.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# vtrag's modules are imported inside the functions: extraction workers (forkserver) re-import the main
# module, and this script should cost them what the `vtrag` entry point does (~0.5 s), not the ~3.5 s of
# torch + transformers + pymilvus that `api.service.facade` pulls in.

WORDS = [
    "harbour",
    "lighthouse",
    "keeper",
    "storm",
    "tide",
    "ledger",
    "cargo",
    "vessel",
    "pilot",
    "berth",
    "crane",
    "manifest",
    "customs",
    "weather",
    "gallery",
    "lamp",
    "lens",
    "signal",
    "reef",
    "current",
    "anchor",
    "mooring",
    "freight",
    "schooner",
    "steamer",
    "dock",
    "warehouse",
    "tonnage",
    "voyage",
    "captain",
    "crew",
    "log",
    "entry",
    "wind",
    "glass",
    "falling",
    "rising",
    "barometer",
]


def prose(rng: random.Random, n_words: int) -> str:
    sentences, words = [], 0
    while words < n_words:
        k = rng.randint(8, 18)
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(k)).capitalize() + ".")
        words += k
    return " ".join(sentences)


def make_corpus(root: Path, docs: int, pages: int, scanned: bool, seed: int = 0) -> int:
    from indexer.pdf import pymupdf

    rng = random.Random(seed)
    for d in range(docs):
        doc = pymupdf.open()
        for _ in range(pages):
            page = doc.new_page(width=595, height=842)
            rect = pymupdf.Rect(56, 56, 539, 786)
            if scanned:  # typeset, rasterise, keep only the picture: no text layer survives
                src = pymupdf.open()
                tmp = src.new_page(width=595, height=842)
                tmp.insert_textbox(rect, prose(rng, 250), fontsize=11, fontname="helv")
                page.insert_image(page.rect, stream=tmp.get_pixmap(dpi=144).tobytes("png"))
            else:
                page.insert_textbox(rect, prose(rng, 400), fontsize=10, fontname="helv")
        doc.save(root / f"doc{d:03d}.pdf")
    return docs * pages


def matmul_gflops(seconds: float = 1.0) -> float:
    """fp32 GEMM rate of this machine right now (numpy, all cores): the yardstick for the other rows."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    a @ a  # first call pays for thread start-up
    runs, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ a
        runs += 1
    return runs * 2 * 1024**3 / (time.perf_counter() - start) / 1e9


def time_build(corpus: Path, workers: int) -> tuple[int, float]:
    from api.service.facade import Service
    from api.settings import Settings

    with tempfile.TemporaryDirectory() as data:
        service = Service(Settings(data_dir=Path(data), workers=workers))
        service.embedder.embed(["warm up"])  # model load is start-up, not throughput
        start = time.perf_counter()
        report = service.build([corpus])
        seconds = time.perf_counter() - start
        service.close()
    if report.failed:
        raise RuntimeError(f"build failed: {report.failed}")
    return report.pages_written, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text-pages", type=int, default=200, help="text-layer pages")
    parser.add_argument("--doc-pages", type=int, default=10, help="pages per text-layer document")
    parser.add_argument("--ocr-pages", type=int, default=12, help="scanned pages (2 per document)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeats", type=int, default=3, help="text-layer builds; the median is reported")
    parser.add_argument("--record", action="store_true", help="append the table to docs/BENCHMARKS.md")
    args = parser.parse_args()

    rows = []
    speed_before = matmul_gflops()
    with tempfile.TemporaryDirectory() as tmp:
        text_dir, ocr_dir = Path(tmp, "text"), Path(tmp, "ocr")
        text_dir.mkdir()
        ocr_dir.mkdir()
        make_corpus(text_dir, args.text_pages // args.doc_pages, args.doc_pages, scanned=False)
        make_corpus(ocr_dir, args.ocr_pages // 2, 2, scanned=True)
        rates = []
        for _ in range(max(1, args.repeats)):
            pages, secs = time_build(text_dir, args.workers)
            rates.append(pages / secs)
        rates.sort()
        rows.append(
            (
                "build, text-layer PDFs (~400 words/page)",
                f"{rates[len(rates) // 2]:.1f} pages/s",
                f"median of {len(rates)} builds of {pages} pages in files of {args.doc_pages} "
                f"({rates[0]:.1f}-{rates[-1]:.1f}), {args.workers} workers",
            )
        )
        pages, secs = time_build(ocr_dir, args.workers)
        rows.append(
            (
                "build, scanned pages (RapidOCR)",
                f"{pages / secs:.2f} pages/s",
                f"{pages} pages in {secs:.1f} s, {args.workers} workers",
            )
        )
    from bench.token_fetch import measure as measure_token_fetch

    fetch = measure_token_fetch(5, 20)
    rows.append(
        (
            "token fetch, 5 Base pages (273x1280 bf16)",
            f"{fetch['median'] * 1e3:.1f} ms",
            f"median of 20; min {fetch['min'] * 1e3:.1f} ms",
        )
    )

    rows.append(
        (
            "machine speed: fp32 matmul (numpy, 1024^2)",
            f"{speed_before:.0f} / {matmul_gflops():.0f} GFLOP/s",
            "before / after the rows above",
        )
    )
    table = ["| measurement | result | notes |", "|---|---|---|"]
    table += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    print("\n".join(table))
    if args.record:
        load = os.getloadavg()[0]
        machine = (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {load:.1f} at the end"
        )
        section = (
            f"\n## {dt.date.today()} — bench/index_cpu.py (lite profile, CPU)\n"
            f"`python bench/index_cpu.py --text-pages {args.text_pages} --doc-pages {args.doc_pages} "
            f"--ocr-pages {args.ocr_pages} "
            f"--repeats {args.repeats} --record`"
            f" on {machine}.\n\n" + "\n".join(table) + "\n"
        )
        with open(ROOT / "docs" / "BENCHMARKS.md", "a") as fh:
            fh.write(section)


if __name__ == "__main__":
    main()
