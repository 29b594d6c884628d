"""Search latency at 2k / 20k / 100k pages, per Milvus engine, through the same path as the CLI and REST.

    python bench/search_scale.py                             # the installed Lite engine, 2k,20k,100k
    python bench/search_scale.py --sizes 2000,20000 --serve  # the same engine served over gRPC
    python bench/search_scale.py --recall --record           # + dense recall vs exact, into BENCHMARKS.md

Which engine is measured is whichever milvus-lite the interpreter has (retriever/engine.py): run it with the
venv of each engine. `--serve` starts `python -m retriever.lite_server` on a loopback port and measures the
server-URI path instead.

The pages (built straight through `IndexStore`, not the PDF path: embedding 100k pages with MiniLM on 2 CPU
cores would take ~2 hours): the 2,067 SQuAD v1.1 dev paragraphs are embedded once with the bundled MiniLM
(the index's text backend; cached). Page k is three paragraphs — paragraph k mod 2067 first, then two drawn by
a seeded RNG — joined as one ~360-word page (one text line per paragraph); its text vector is
normalise(0.6·v_k + 0.3·v_b + 0.3·v_c + noise), noise N(0, 0.02²) per dimension, so every page has a distinct
vector in the region real MiniLM pages occupy. Documents are 100 pages each: begin_doc → write_pages (batches
of 50) → complete_doc, as the indexer writes. With --vision the index also has a 1280-d pooled vision vector
per page (a fixed random projection of its text vector plus noise, normalised).

Measured, per size:
- write rate: pages/s through the store (vectors given; no embedding), the whole build.
- `Service.search(query, top_k=10)` p50/p95 over --queries SQuAD questions (after 3 warm-up queries): query
  embedding, every leg, convex fusion, page fetch, visibility check, snippets: what `vtrag search` and
  `POST /v1/search` run.
- each leg alone (one Milvus search, ids + scores, the candidate depth search uses), p50/p95.
- a profile of the same queries: time inside each step, summed over the run, per query.
- RSS of the process(es) holding the index (ours plus Milvus' child or server process), disk per page.
- with --recall: the dense leg's recall@10 and @100 against exact cosine top-k (numpy over all page vectors).
Indexes are cached under --cache (default ~/.cache/vtrag-bench) by engine, profile and size.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.search_scale_corpus import (  # noqa: E402
    DOC_PAGES,
    Corpus,
    build_index,
    load_corpus,
    page_mix,
    page_vectors,
    vision_query,
)

DATASET = Path("/work/shared/evaldata/squad-v1.1-dev")
BENCHMARKS = ROOT / "docs" / "BENCHMARKS.md"
TOP_K = 10
WARMUP = 3


@dataclass
class Stopwatch:
    """Accumulates wall time per named call while installed on objects."""

    totals: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @contextmanager
    def wrap(self, owner: Any, attr: str, label: str | Callable[..., str]) -> Iterator[None]:
        original = getattr(owner, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            name = label(*args, **kwargs) if callable(label) else label
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.totals[name] += time.perf_counter() - t0
                self.counts[name] += 1

        setattr(owner, attr, timed)
        try:
            yield
        finally:
            setattr(owner, attr, original)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def rss_mb(pids: list[int]) -> float:
    import psutil

    total = 0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            continue
        for p in [proc, *proc.children(recursive=True)]:
            with suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
    return total / 2**20


def disk_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(settings: Any, corpus: Corpus, vision: bool, recall: bool, n: int) -> dict[str, Any]:
    """Latencies of Service.search and of each leg, the profile, and (optionally) dense recall."""
    import api.service.facade as service_mod
    from api.service.facade import Service
    from retriever import search as search_mod
    from retriever.connection import Connection
    from retriever.filters import Filter

    service = Service(settings)
    store = service.store()
    conn = store._conn
    names = store._names
    for q in corpus.queries[:WARMUP]:
        service.search(q, top_k=TOP_K)
    watch = Stopwatch()

    def milvus_call(kind: str) -> Callable[..., str]:
        def label(_conn: Any, name: str, *args: Any, **kwargs: Any) -> str:
            if kind == "search_leg":
                return f"milvus search {args[0].anns_field}"
            return f"milvus {kind} {name.rsplit('_', 1)[-1]}"

        return label

    def vision_search(q: str) -> Any:
        vec = service.embedder.embed_query(q)
        hits = store.search(q, vec.tolist(), top_k=TOP_K, vision_vec=vision_query(vec).tolist())
        return [service_mod._result(h, q) for h in hits]

    run = vision_search if vision else (lambda q: service.search(q, top_k=TOP_K))
    latencies: list[float] = []
    with (
        watch.wrap(type(service.embedder), "embed_query", "embed query (MiniLM int8)"),
        watch.wrap(Connection, "search_leg", milvus_call("search_leg")),
        watch.wrap(Connection, "query", milvus_call("query")),
        watch.wrap(search_mod, "hidden_doc_ids", "milvus query docs (hidden documents)"),
        watch.wrap(search_mod, "convex_fuse", "fusion"),
        watch.wrap(service_mod, "snippet", "snippets"),
    ):
        for q in corpus.queries:
            t0 = time.perf_counter()
            run(q)
            latencies.append((time.perf_counter() - t0) * 1000)
    # Each leg alone, at the depth search asks for.
    limit = search_mod.candidate_limit(TOP_K)
    qvecs = [service.embedder.embed_query(q) for q in corpus.queries]
    legs: dict[str, list[float]] = defaultdict(list)
    dense_ids: list[list[str]] = []
    for q, vec in zip(corpus.queries, qvecs, strict=True):
        vvec = vision_query(vec) if vision else None
        for req in search_mod.build_requests(store.config, conn.engine, q, vec, vvec, Filter(), limit):
            t0 = time.perf_counter()
            hits = conn.search_leg(names.pages, req)
            legs[req.anns_field].append((time.perf_counter() - t0) * 1000)
            if req.anns_field == "text_vec":
                dense_ids.append([str(h["entity"]["page_id"]) for h in hits])
    out: dict[str, Any] = {
        "search_p50": pct(latencies, 0.5),
        "search_p95": pct(latencies, 0.95),
        "legs": {k: (pct(v, 0.5), pct(v, 0.95)) for k, v in legs.items()},
        "profile": {k: watch.totals[k] * 1000 / len(corpus.queries) for k in sorted(watch.totals)},
        "calls": {k: watch.counts[k] / len(corpus.queries) for k in sorted(watch.counts)},
        "engine": conn.engine.name,
        "dense_index": conn.engine.dense_index,
    }
    if recall:
        out["recall"] = dense_recall(corpus, n, qvecs, dense_ids)
    service.close()
    return out


def dense_recall(corpus: Corpus, n: int, qvecs: list[np.ndarray], got: list[list[str]]) -> dict[str, float]:
    """Recall@10 and @100 of the dense leg against exact cosine search over all n page vectors."""
    mix = page_mix(n, len(corpus.texts))
    text_vecs, _ = page_vectors(corpus, mix, False)
    ids = [f"{k // DOC_PAGES:064x}:{k % DOC_PAGES + 1}" for k in range(n)]
    out: dict[str, list[float]] = defaultdict(list)
    for vec, found in zip(qvecs, got, strict=True):
        scores = text_vecs @ vec.astype(np.float32)
        for k in (10, 100):
            exact = {ids[i] for i in np.argpartition(-scores, k)[:k]}
            out[f"recall@{k}"].append(len(exact & set(found[:k])) / k)
    return {k: float(np.mean(v)) for k, v in out.items()}


@contextmanager
def served(data_dir: Path) -> Iterator[tuple[str, int]]:
    """`python -m retriever.lite_server` on a free loopback port; yields (uri, pid)."""
    from tests.retriever.helpers import free_port, wait_for_port

    port = free_port()
    cmd = [sys.executable, "-m", "retriever.lite_server", "--data-dir", str(data_dir), "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        if not wait_for_port(port, proc, 120):
            raise RuntimeError("the Lite server did not start")
        yield f"http://127.0.0.1:{port}", proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_size(args: argparse.Namespace, corpus: Corpus, n: int, slug: str) -> dict[str, Any]:
    """Build (or reuse) one index and measure it."""
    from api.settings import Settings

    profile = "vision" if args.vision else "lite"
    root = args.cache / slug / f"{profile}-{n}"
    marker = root / "build.json"
    name = "bench"
    if not marker.exists() and root.exists():
        shutil.rmtree(root)  # an interrupted build
    root.mkdir(parents=True, exist_ok=True)
    with served(root / "served") if args.serve else _nothing() as server:
        uri = server[0] if server else str(root / "milvus.db")
        if marker.exists():
            build = json.loads(marker.read_text())
        else:
            print(f"building {n} pages ({slug}, {profile})", file=sys.stderr)
            build = build_index(uri, name, corpus, n, args.vision)
            marker.write_text(json.dumps(build))
        settings = Settings(data_dir=root, milvus_uri=server[0] if server else None, collection=name)
        result = measure(settings, corpus, args.vision, args.recall, n)
        pids = [os.getpid()] + ([server[1]] if server else [])
        result.update(build)
        result["rss_mb"] = rss_mb(pids)
        stored = root / "served" if server else root / "milvus.db"
        result["disk_kb_per_page"] = disk_bytes(stored) / n / 1024
    return result


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def table(results: list[dict[str, Any]], title: str) -> str:
    lines = [
        f"#### {title}",
        "",
        "| pages | search p50 ms | search p95 ms | BM25 leg p50/p95 | dense leg p50/p95 | vision leg p50/p95 "
        "| write pages/s | RSS MiB | disk KiB/page | dense recall@10 / @100 |",
        "|---:|---:|---:|---|---|---|---:|---:|---:|---|",
    ]
    for r in results:
        legs = r["legs"]

        def leg(name: str, legs: dict[str, Any] = legs) -> str:
            return f"{legs[name][0]:.1f} / {legs[name][1]:.1f}" if name in legs else "–"

        rec = r.get("recall")
        recall = f"{rec['recall@10']:.3f} / {rec['recall@100']:.3f}" if rec else "–"
        lines.append(
            f"| {r['pages']:,} | {r['search_p50']:.1f} | {r['search_p95']:.1f} | {leg('sparse')} | "
            f"{leg('text_vec')} | {leg('vision_vec')} | {r['pages_per_s']:.0f} | {r['rss_mb']:.0f} | "
            f"{r['disk_kb_per_page']:.2f} | {recall} |"
        )
    lines += ["", "Time per query inside each step (ms, mean over the queries; calls per query):", ""]
    lines += ["| step | " + " | ".join(f"{r['pages']:,}" for r in results) + " |"]
    lines += ["|---|" + "---:|" * len(results)]
    steps = sorted({k for r in results for k in r["profile"]})
    for step in steps:
        cells = [
            f"{r['profile'][step]:.1f} ({r['calls'][step]:.0f})" if step in r["profile"] else "–"
            for r in results
        ]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="2000,20000,100000", help="page counts (comma-separated)")
    parser.add_argument("--queries", type=int, default=200, help="SQuAD questions measured per size")
    parser.add_argument("--serve", action="store_true", help="measure the engine served over gRPC (loopback)")
    parser.add_argument(
        "--vision", action="store_true", help="vision profile: a 1280-d pooled vector leg too"
    )
    parser.add_argument("--recall", action="store_true", help="dense recall vs exact search")
    parser.add_argument("--dataset", type=Path, default=DATASET)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "vtrag-bench")
    parser.add_argument("--record", action="store_true", help="append the table to docs/BENCHMARKS.md")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from retriever.engine import lite_engine

    engine = lite_engine()
    slug = engine.name.replace(" ", "-") + ("-served" if args.serve else "")
    corpus = load_corpus(args.dataset, args.cache, args.queries)
    results = []
    for n in [int(s) for s in args.sizes.split(",")]:
        results.append(run_size(args, corpus, n, slug))
        print(json.dumps(results[-1]), file=sys.stderr)
    how = "served over gRPC on loopback (`python -m retriever.lite_server`)" if args.serve else "embedded"
    title = (
        f"{engine.name}, {how}, {'vision' if args.vision else 'lite'} profile, "
        f"dense index {results[0]['dense_index']}"
    )
    text = table(results, title)
    load = os.getloadavg()[0]
    cmd = "python bench/search_scale.py " + " ".join(sys.argv[1:])
    footer = (
        f"\n\n`{cmd}` — {date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {load:.1f} at the end; {len(corpus.queries)} SQuAD "
        f"questions, top-{TOP_K}."
    )
    print(text + footer)
    if args.record:
        with BENCHMARKS.open("a") as fh:
            fh.write("\n" + text + footer + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
