"""Index build scaling over GPUs on one host: `vtrag index build --gpus K` for K = 1, 2, 4, 8 (issue 19).

    python bench/multi_gpu.py [--pages 10000] [--gpus 1,2,4,8] [--work /tmp/vtrag-multi] [--record]
    python bench/multi_gpu.py --tiny                  # smoke test on the CPU: tiny model, --processes 1,2

Writes one corpus of real PDFs and one random DeepSeek-OCR v1 checkpoint at the released shapes
(bench/e2e_setup.py), then for each K builds a fresh Base-mode index of the whole corpus with the real CLI:
`vtrag index build CORPUS --encoder deepseek-ocr --weights W --mode base --gpus 0,…,K-1 --json` — K shard
processes, each pinned to its GPU, writing one Milvus (the data dir's file served on loopback for the run).
Reports pages/s end to end, the scaling efficiency rate_K / (K · rate_1), and the pages per shard (files are
split by path hash, so shards are uneven and the largest sets the wall time). Counts above the visible GPUs
are skipped.
Random weights: the speeds are real. With --record the table is appended to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e_setup import make_corpus, make_weights  # noqa: E402


def build(corpus: Path, weights: Path, data: Path, k: int, tiny: bool) -> dict:
    """One whole-corpus build with K shard processes; the launcher's summary plus the wall time."""
    shutil.rmtree(data, ignore_errors=True)
    spread = ["--processes", str(k)] if tiny else ["--gpus", ",".join(str(i) for i in range(k))]
    if tiny and k == 1:
        spread = []  # --processes starts at 2: one process is the plain build
    device = ["--device", "cpu"] if tiny else []
    cmd = [sys.executable, "-m", "api.cli", "index", "build", str(corpus), "--data-dir", str(data)]
    cmd += [
        "--encoder",
        "deepseek-ocr",
        "--weights",
        str(weights),
        "--mode",
        "base",
        *device,
        *spread,
        "--json",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"build with {k} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    summary["wall"] = wall
    return summary


def table(rows: list[tuple[int, dict]], unit: str) -> str:
    base = rows[0][1]["pages_written"] / rows[0][1]["wall"]
    out = [
        f"| {unit} | pages | wall s | pages/s | efficiency | pages per shard (min-max) |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for k, s in rows:
        rate = s["pages_written"] / s["wall"]
        per_shard = [sh["pages_written"] for sh in s.get("shards") or [{"pages_written": s["pages_written"]}]]
        spread = f"{min(per_shard)}-{max(per_shard)}"
        efficiency = rate / (k * base)
        out.append(
            f"| {k} | {s['pages_written']} | {s['wall']:.1f} | {rate:.1f} | {efficiency:.0%} | {spread} |"
        )
    return "\n".join(out)


def _gpu_name() -> str:
    import torch

    return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--gpus", default="1,2,4,8", help="GPU counts to measure (comma-separated)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/vtrag-multi"))
    parser.add_argument(
        "--tiny", action="store_true", help="tiny model, CPU processes 1,2, 40 pages: a smoke test"
    )
    parser.add_argument("--record", nargs="?", const=str(ROOT / "docs" / "BENCHMARKS.md"), default=None)
    args = parser.parse_args()
    counts = [int(c) for c in args.gpus.split(",")]
    if args.tiny:
        args.pages, counts = min(args.pages, 40), [1, 2]
    else:
        import torch

        visible = torch.cuda.device_count()
        skipped = [k for k in counts if k > visible]
        counts = [k for k in counts if k <= visible]
        if skipped:
            print(f"skipping {skipped}: {visible} GPU(s) visible", file=sys.stderr)
        if not counts:
            raise SystemExit("no GPU visible: run on a GPU machine, or --tiny for the CPU smoke test")
    texts = make_corpus(args.work / "corpus", args.pages)
    weights = make_weights(args.work / "weights", [t for t, _ in texts.values()], tiny=args.tiny)
    rows = []
    for k in counts:
        summary = build(args.work / "corpus", weights, args.work / f"data-{k}", k, args.tiny)
        rows.append((k, summary))
        print(
            f"{k}: {summary['pages_written']} pages in {summary['wall']:.1f} s", file=sys.stderr, flush=True
        )
    text = table(rows, "processes (CPU)" if args.tiny else "GPUs")
    command = "python bench/multi_gpu.py " + " ".join(sys.argv[1:])
    machine = "CPU" if args.tiny else _gpu_name()
    note = f"`{command}` — {dt.date.today()}, {machine}, Python {platform.python_version()}"
    print(text + "\n\n" + note)
    if args.record:
        with open(args.record, "a", encoding="utf-8") as fh:
            fh.write(f"\n### Index build scaling over GPUs (`bench/multi_gpu.py`)\n\n{text}\n\n{note}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
