"""Load test of the REST service: N concurrent SDK clients for T seconds against a server on loopback.

    python bench/load.py                           # starts `vtrag serve` on a temp index, 32 clients, 60 s
    python bench/load.py --clients 8 --seconds 20  # lighter
    python bench/load.py --server http://127.0.0.1:8000   # an already running server (VTRAG_API_KEY)
    python bench/load.py --mix search=1                    # searches only

Without --server it builds a small corpus (generated PDFs), starts `vtrag serve` in a subprocess on a free
loopback port with a fresh data dir and a generated API key, uploads the corpus through the SDK, waits for the
job, then runs the load. Each client is its own `AsyncClient` (own connection pool) in one asyncio loop, and
issues requests back to back, picking the operation from --mix (default 80% search, 20% answer) and the text
from a fixed list. Latency is measured around each SDK call (retries off, so errors are counted, not hidden).
Prints one table (per operation and overall: requests, errors, throughput, p50/p95/p99/max ms); `--record`
appends it to docs/BENCHMARKS.md with the command, machine and date.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.cli.serve import serve_argv  # noqa: E402
from api.client import AsyncClient, Client, VtragError  # noqa: E402

MAX_SECONDS = 600
MAX_CLIENTS = 256
QUERIES = [
    "lighthouse keeper storm",
    "When was the Harbour Lighthouse built?",
    "rye bread caraway sourdough",
    "How long should the dough rise?",
    "movable type printing press Europe",
    "Who introduced movable metal type?",
    "electric light nautical miles",
    "canal lock engineer",
    "Who rebuilt the canal lock?",
    "observatory refractor telescope lens",
]
CORPUS = {
    "lighthouse.pdf": [
        "The Harbour Lighthouse was built in 1871 on the northern breakwater. Its keeper, Thomas Rowe, kept "
        "the lamp burning through the great storm of 1893, when waves broke over the gallery.",
        "In 1921 the oil lamp was replaced by an electric light visible for twenty nautical miles.",
    ],
    "bread.pdf": [
        "To bake a rye loaf, mix sourdough starter with dark rye flour, water and caraway seeds. Let the "
        "dough rise for twelve hours before baking at two hundred and thirty degrees."
    ],
    "printing.pdf": [
        "Johannes Gutenberg introduced movable metal type in Mainz around 1450, and the printing press "
        "spread across Europe within fifty years."
    ],
    "canal.pdf": ["The Grand Canal lock was rebuilt in 1822 by the engineer Mary Fenwick."],
    "observatory.pdf": [
        "The hill observatory opened in 1904.",
        "Its great refractor telescope was ground by Alvan Clark and has a lens of twenty-six inches.",
    ],
}


def make_pdf(path: Path, pages: list[str]) -> Path:
    from indexer.pdf import pymupdf

    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page(width=595, height=842)
        page.insert_textbox(pymupdf.Rect(56, 56, 539, 786), text, fontsize=11, fontname="helv")
    doc.save(path)
    doc.close()
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def local_server(workdir: Path) -> Iterator[tuple[str, str]]:
    """`vtrag serve` on a fresh data dir; yields (base_url, api_key) once it is ready and holds the corpus."""
    key = secrets.token_urlsafe(24)
    port = free_port()
    env = {
        **os.environ,
        "VTRAG_API_KEYS": key,
        "VTRAG_WORKERS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    log = (workdir / "server.log").open("w")
    proc = subprocess.Popen(
        serve_argv(sys.executable, port=port, data_dir=workdir / "data"),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with Client(base_url=base, api_key=key, max_retries=0, timeout=5) as client:
            deadline = time.monotonic() + 180
            while True:
                try:
                    client.health()
                    break
                except VtragError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"the server did not start; see {workdir / 'server.log'}") from None
                    time.sleep(0.25)
            files = [make_pdf(workdir / name, pages) for name, pages in CORPUS.items()]
            sent = client.documents.upload(files=files, timeout=120)
            job = client.jobs.wait(job_id=sent.job_id, timeout=300)
            if job.status != "succeeded":
                raise SystemExit(f"indexing the corpus failed: {job}")
        yield base, key
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def one_client(
    index: int,
    base: str,
    key: str | None,
    stop_at: float,
    mix: list[tuple[str, float]],
    top_k: int,
    samples: dict[str, list[float]],
    errors: dict[str, list[str]],
) -> None:
    rng = random.Random(index)
    ops, weights = zip(*mix, strict=True)
    async with AsyncClient(base_url=base, api_key=key, max_retries=0, timeout=60) as client:
        while time.monotonic() < stop_at:
            op = rng.choices(ops, weights)[0]
            text = rng.choice(QUERIES)
            started = time.perf_counter()
            try:
                if op == "search":
                    await client.search(query=text, top_k=top_k)
                else:
                    await client.answer(question=text, top_k=top_k, mode="auto")
            except VtragError as exc:
                errors[op].append(type(exc).__name__)
                continue
            samples[op].append(time.perf_counter() - started)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def table(samples: dict[str, list[float]], errors: dict[str, list[str]], seconds: float) -> str:
    rows = [
        "| operation | requests | errors | req/s | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    names = sorted(set(samples) | set(errors))
    groups = [(n, samples.get(n, []), errors.get(n, [])) for n in names]
    groups.append(
        ("all", [v for n in names for v in samples.get(n, [])], [e for n in names for e in errors.get(n, [])])
    )
    for name, values, errs in groups:
        if not values:
            rows.append(f"| {name} | 0 | {len(errs)} | 0 | - | - | - | - |")
            continue
        ms = [v * 1000 for v in values]
        rows.append(
            f"| {name} | {len(values)} | {len(errs)} | {len(values) / seconds:.1f} | "
            f"{statistics.median(ms):.1f} | {percentile(ms, 95):.1f} | {percentile(ms, 99):.1f} | "
            f"{max(ms):.1f} |"
        )
    kinds = sorted({e for errs in errors.values() for e in errs})
    if kinds:
        counts = [f"{k} x{sum(e.count(k) for e in errors.values())}" for k in kinds]
        rows.append("\nerrors by kind: " + ", ".join(counts))
    return "\n".join(rows)


def parse_mix(text: str) -> list[tuple[str, float]]:
    mix = []
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in ("search", "answer"):
            raise SystemExit(f"--mix: unknown operation {name!r} (search, answer)")
        mix.append((name, float(weight or 1)))
    return mix


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--server", help="base URL of a running server (default: start one on a temp index)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent SDK clients (default 32)")
    parser.add_argument(
        "--seconds", type=float, default=60.0, help=f"duration (default 60, max {MAX_SECONDS})"
    )
    parser.add_argument("--mix", default="search=0.8,answer=0.2", help="operation weights")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--record", action="store_true", help="append the table to docs/BENCHMARKS.md")
    args = parser.parse_args()
    if not 1 <= args.clients <= MAX_CLIENTS:
        raise SystemExit(f"--clients must be 1..{MAX_CLIENTS}")
    if not 0 < args.seconds <= MAX_SECONDS:
        raise SystemExit(f"--seconds must be in (0, {MAX_SECONDS}]")
    mix = parse_mix(args.mix)

    with tempfile.TemporaryDirectory(prefix="vtrag-load-") as tmp:
        if args.server:
            run_ctx = contextmanager(
                lambda: iter([(args.server.rstrip("/"), os.environ.get("VTRAG_API_KEY"))])
            )()
        else:
            run_ctx = local_server(Path(tmp))
        with run_ctx as (base, key):
            samples: dict[str, list[float]] = defaultdict(list)
            errors: dict[str, list[str]] = defaultdict(list)

            async def run() -> float:
                start = time.monotonic()
                stop_at = start + args.seconds
                await asyncio.gather(
                    *(
                        one_client(i, base, key, stop_at, mix, args.top_k, samples, errors)
                        for i in range(args.clients)
                    )
                )
                return time.monotonic() - start

            elapsed = asyncio.run(run())
    result = table(samples, errors, elapsed)
    command = "python bench/load.py " + " ".join(sys.argv[1:])
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs visible, Python {platform.python_version()}"
    header = (
        f"{args.clients} clients, {elapsed:.1f} s, mix {args.mix}, top_k {args.top_k}, "
        f"{'server ' + args.server if args.server else 'local vtrag serve (lite profile, 5 docs / 7 pages)'}"
    )
    print(header)
    print(result)
    if args.record:
        with (ROOT / "docs" / "BENCHMARKS.md").open("a") as out:
            out.write(
                f"\n## {date.today()} — REST load: `{command.strip()}`\n\nMachine: {machine}. {header}.\n\n"
                f"{result}\n"
            )


if __name__ == "__main__":
    main()
