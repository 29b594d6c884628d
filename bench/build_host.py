"""The index build's host path at GPU speed: how many Base pages a second the build can feed and write when
the model costs (almost) nothing.

    python bench/build_host.py [--pages 480] [--doc-pages 10] [--workers N] [--device-ms 0,3.3]
                               [--write-threads 1,4] [--write-processes 0,4] [--profile] [--record]

The real `IndexBuilder` over generated text PDFs (bench/index_cpu.py's corpus) into a fresh Milvus Lite
index: real extraction workers (open, text, render, cut into Base views), real token and page writes
(lossless codec, Base-sized rows). Two parts stand in for the GPU:
- the encoder (`StandInEncoder`): takes the pre-cut views, copies them into one host buffer as the real
  encoder does before its copy to the device (`encoder.vision.host_pixels`), waits `--device-ms` per
  page (the GPU's time: 3.3 ms is 300 pages/s) and returns Base-shaped bf16 rows (273 x 1280) made
  once, cloned per page;
- the embedder: a fixed unit vector per page (MiniLM on a GPU costs ~1 ms a page, bench/e2e_gpu.py).
So the table is the ceiling the host sets on `vtrag index build --encoder deepseek-ocr --device cuda` on this
machine; with `--device-ms` it also shows whether the GPU's time overlaps the host's or adds to it.
`--extracted` extracts every page before the clock starts and serves them from memory: the GPU machine's
dozen extraction processes keep ahead of the build, this machine's two cores do not, so without it a 2-core
table measures the rendering. `--profile` prints where the build's main thread spends its time (cProfile).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import os
import platform
import pstats
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.index_cpu import make_corpus  # noqa: E402
from encoder.modes import ModeViews, get_mode  # noqa: E402
from encoder.pixels import host_pixels  # noqa: E402
from encoder.vision import EncodedPage  # noqa: E402
from indexer import extract_stream  # noqa: E402
from indexer.build_state import BuildOptions  # noqa: E402
from indexer.extract import ExtractedPage, extract_pages  # noqa: E402
from indexer.job import IndexBuilder  # noqa: E402
from retriever.records import IndexConfig  # noqa: E402
from retriever.store import IndexStore  # noqa: E402

ROWS, HIDDEN, TEXT_DIM = 273, 1280, 384  # v1 Base rows per page; the decoder's hidden size; MiniLM


class StandInEncoder:
    """The build's view of a v1 encoder in Base mode, with the model's time replaced by a wait."""

    name = "deepseek-ocr"
    mode = "base"
    dim = HIDDEN

    def __init__(self, device_ms: float, batch_size: int = 32) -> None:
        self.view_mode = get_mode("base")
        self.device_s = device_ms / 1e3
        self.batch_size = batch_size
        generator = torch.Generator().manual_seed(0)
        self._rows = torch.randn(batch_size, ROWS, HIDDEN, generator=generator).to(torch.bfloat16)
        self._pooled = torch.nn.functional.normalize(torch.randn(HIDDEN, generator=generator), dim=0)

    def encode(self, images: list[ModeViews], mode: object = None) -> list[EncodedPage]:
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            # The host's share of a real encode: pinned as there where a GPU is (torch's host cache reuses the
            # buffer); without one, a fresh buffer a batch, whose page faults overstate the copy.
            host_pixels([v.global_view for v in batch], pinned=torch.cuda.is_available())
            time.sleep(self.device_s * len(batch))
            out += [EncodedPage(self._rows[k].clone(), self._pooled.clone()) for k in range(len(batch))]
        return out


class StandInEmbedder:
    def __init__(self) -> None:
        vector = np.random.default_rng(0).standard_normal(TEXT_DIM).astype(np.float32)
        self._vector = vector / np.linalg.norm(vector)

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.tile(self._vector, (len(texts), 1))


class Preextracted:
    """`extract_pages` answered from memory (filled on first use, before the clock)."""

    def __init__(self) -> None:
        self.pages: dict[tuple[str, tuple[int, ...]], list[ExtractedPage]] = {}

    def __call__(self, path: str, page_nos: list[int], *args: object) -> list[ExtractedPage]:
        key = (path, tuple(page_nos))
        if key not in self.pages:
            self.pages[key] = extract_pages(path, page_nos, *args)  # type: ignore[arg-type]
        return [dataclasses.replace(page) for page in self.pages[key]]  # the build drops its images


def build(
    corpus: Path, args: argparse.Namespace, device_ms: float, threads: int, processes: int
) -> dict[str, float]:
    config = IndexConfig(
        text_model="stand-in",
        text_dim=TEXT_DIM,
        mode="base",
        encoder=StandInEncoder.name,
        vision_dim=HIDDEN,
    )
    workers = 1 if args.extracted else args.workers  # in this process: the cached pages are here
    options = BuildOptions(
        mode="base",
        workers=workers,
        batch_pages=args.batch_pages,
        write_threads=threads,
        write_processes=processes,
        ocr=False,
    )
    with tempfile.TemporaryDirectory() as tmp, IndexStore.open(Path(tmp) / "host.db", config) as store:
        builder = IndexBuilder(store, StandInEmbedder(), options, vision=StandInEncoder(device_ms))
        profile = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profile is not None:
            profile.enable()
        report = builder.run([corpus])
        if profile is not None:
            profile.disable()
        seconds = time.perf_counter() - started
    if report.failed or report.pages_written != args.pages:
        raise RuntimeError(f"build wrote {report.pages_written} of {args.pages} pages: {report.failed}")
    if profile is not None:
        print(
            f"\n-- main thread, device {device_ms} ms/page, {threads} write threads, {processes} processes --"
        )
        pstats.Stats(profile).sort_stats("tottime").print_stats(14)
        # the same time by the build's own calls: what that thread does besides waiting
        pstats.Stats(profile).sort_stats("cumulative").print_stats(r"(indexer|retriever)/", 24)
    return {"pages_s": args.pages / seconds, "seconds": seconds, **report.stage_seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=480)
    parser.add_argument("--doc-pages", type=int, default=10, help="pages per generated PDF")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="extraction processes")
    parser.add_argument("--batch-pages", type=int, default=64)
    parser.add_argument("--device-ms", default="0,3.3", help="stand-in GPU ms per page, comma-separated")
    parser.add_argument("--write-threads", default="1,4", help="writer threads, comma-separated")
    parser.add_argument("--write-processes", default="0", help="token-writer processes, comma-separated")
    parser.add_argument("--extracted", action="store_true", help="pages extracted before the clock")
    parser.add_argument("--profile", action="store_true", help="cProfile the main thread of each build")
    parser.add_argument("--record", action="store_true", help="append the table to docs/BENCHMARKS.md")
    args = parser.parse_args()
    if args.pages % args.doc_pages:
        parser.error("--pages must be a multiple of --doc-pages")

    table = [
        "| device ms/page | write threads | token processes | pages/s | wall s | extract wait s | embed s "
        "| encode s | write s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp)
        make_corpus(corpus, args.pages // args.doc_pages, args.doc_pages, scanned=False)
        if args.extracted:
            extract_stream.extract_pages = cache = Preextracted()
            view = get_mode("base")
            for pdf in sorted(corpus.glob("*.pdf")):
                for start in range(1, args.doc_pages + 1, extract_stream.PAGES_PER_TASK):
                    chunk = list(range(start, min(start + extract_stream.PAGES_PER_TASK, args.doc_pages + 1)))
                    cache(str(pdf), chunk, False, True, view, False)
        for device_ms in (float(x) for x in args.device_ms.split(",")):
            runs = [
                (int(p), int(t))
                for p in args.write_processes.split(",")
                for t in args.write_threads.split(",")
            ]
            for processes, threads in runs:
                r = build(corpus, args, device_ms, threads, processes)
                table.append(
                    f"| {device_ms:g} | {threads} | {processes} | {r['pages_s']:.1f} | {r['seconds']:.1f} | "
                    f"{r.get('extract', 0):.1f} | {r.get('embed', 0):.1f} | {r.get('encode', 0):.1f} | "
                    f"{r.get('write', 0):.1f} |"
                )
                print(table[-1], flush=True)
    print("\n".join(table))
    if args.record:
        machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        command = (
            f"python bench/build_host.py --pages {args.pages} --doc-pages {args.doc_pages} --workers "
            f"{args.workers} --batch-pages {args.batch_pages} --device-ms {args.device_ms} --write-threads "
            f"{args.write_threads} --write-processes {args.write_processes}"
            f"{' --extracted' if args.extracted else ''} --record"
        )
        section = (
            f"\n## {dt.date.today()} — bench/build_host.py (the build's host path, stand-in GPU)\n"
            f"`{command}` on {machine}, load average {os.getloadavg()[0]:.1f} at the end.\n\n"
            + "\n".join(table)
            + "\n"
        )
        with open(ROOT / "docs" / "BENCHMARKS.md", "a") as fh:
            fh.write(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
