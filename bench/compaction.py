"""Optical forgetting's cost and yield: `vtrag index compact` rates and bytes per million pages (issue 18).

    python bench/compaction.py [--pages 1000] [--device cuda] [--work /tmp/vtrag-compact] [--record]
    python bench/compaction.py --tiny --pages 40      # smoke test on the CPU: tiny model

Writes a corpus of real PDFs and a random DeepSeek-OCR v1 checkpoint at the released shapes
(bench/e2e_setup.py), builds one Base index with the real CLI, then compacts the whole index with the real
CLI, each time on a copy of the Base index: `--to small`, `--to tiny`, `--to small --token-codec int8` and
`--to text`. Each row: pages, wall seconds of the compact command (model load included), pages/s from the
command's own timer (render + encode + swap), token bytes per page, and bytes per million pages (tokens +
text).
Random weights: the speeds and sizes are real. With --record the table is appended to docs/BENCHMARKS.md.
The bytes per million pages per mode and codec at the released shapes are in the token-codec section of
docs/BENCHMARKS.md (bench/token_codecs.py).
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

from bench.e2e_setup import make_corpus, make_weights, text_model_env  # noqa: E402

CASES = (("small", "lossless"), ("tiny", "lossless"), ("small", "int8"), ("text", "lossless"))


def vtrag(*args: str) -> tuple[dict, float]:
    """Run the CLI with --json; its last JSON line and the wall seconds."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "api.cli", *args, "--json"], capture_output=True, text=True, env=env, cwd=ROOT
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(
            f"vtrag {' '.join(args[:3])} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def per_million(status: dict) -> int:
    return int(status["projected_bytes_per_million_pages"]["total"])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--work", type=Path, default=Path("/tmp/vtrag-compact"))
    parser.add_argument("--tiny", action="store_true", help="tiny random model on the CPU (smoke test)")
    parser.add_argument("--record", nargs="?", const=str(ROOT / "docs" / "BENCHMARKS.md"), default=None)
    args = parser.parse_args()
    device = "cpu" if args.tiny else args.device
    texts = make_corpus(args.work / "corpus", args.pages)
    weights = make_weights(args.work / "weights", [t for t, _ in texts.values()], tiny=args.tiny)
    os.environ.update(text_model_env(args.work / "minilm", [t for t, _ in texts.values()]))
    if device.startswith("cuda"):
        os.environ["VTRAG_TEXT_BACKEND"] = "torch"  # the build's MiniLM on the GPU, as e2e_gpu.py runs it
    model = ("--encoder", "deepseek-ocr", "--weights", str(weights), "--device", device)
    base = args.work / "base"
    shutil.rmtree(base, ignore_errors=True)
    built, build_wall = vtrag(
        "index", "build", str(args.work / "corpus"), "--data-dir", str(base), "--mode", "base", *model
    )
    status, _ = vtrag("index", "status", "--data-dir", str(base))
    pages = status["pages"]
    rows = [("base (as built)", "lossless", pages, build_wall, built["pages_per_second"],
             status["bytes"]["tokens"] / pages, per_million(status))]  # fmt: skip
    for target, codec in CASES:
        data = args.work / f"{target}-{codec}"
        shutil.rmtree(data, ignore_errors=True)
        shutil.copytree(base, data)
        how = ("--all", "--to", target, "--token-codec", codec, "--batch-pages", "32")
        done, wall = vtrag("index", "compact", *how, "--data-dir", str(data), *model)
        after, _ = vtrag("index", "status", "--data-dir", str(data))
        if done["compacted"] != pages or done["failed"]:
            raise SystemExit(
                f"--to {target}: compacted {done['compacted']} of {pages}, failed {done['failed']}"
            )
        rows.append(
            (
                target,
                codec,
                pages,
                wall,
                done["pages_per_s"],
                after["bytes"]["tokens"] / pages,
                per_million(after),
            )
        )
        print(f"--to {target} ({codec}): {done['pages_per_s']} pages/s", file=sys.stderr, flush=True)
    header = (
        "| pages now in | token codec | pages | command s | pages/s | token bytes / page | per 1M pages |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|"]
    for m, c, n, w, r, b, pm in rows:
        lines.append(f"| {m} | {c} | {n} | {w:.1f} | {r:.1f} | {b:,.0f} | {pm / 1e9:.1f} GB |")
    text = "\n".join(lines)
    command = "python bench/compaction.py " + " ".join(sys.argv[1:])
    note = f"`{command}` — {dt.date.today()}, {_machine(device)}, Python {platform.python_version()}"
    print(text + "\n\n" + note)
    if args.record:
        with open(args.record, "a", encoding="utf-8") as fh:
            title = "Optical forgetting: compaction rate and bytes (`bench/compaction.py`)"
            fh.write(f"\n### {title}\n\n{text}\n\n{note}\n")
    return 0


def _machine(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(0)
    return f"CPU ({os.cpu_count()} cores)"


if __name__ == "__main__":
    sys.exit(main())
