"""`vtrag ask` latency on a ~2k-page index of real manuals: per question in a batch, and as one CLI call.

    python bench/ask_latency.py                          # the default reader (shipped, or VTRAG_READER_DIR's)
    python bench/ask_latency.py --reader DIR             # a trained reader folder (float or int8)
    python bench/ask_latency.py --stand-in-reader        # an int8 reader with the trained reader's shapes
    python bench/ask_latency.py --record                 # and append the table to docs/BENCHMARKS.md

The index is the scratch index `vtrag eval qa datasets/manuals-dev` builds and caches (1,902 pages of 14
Debian manuals; built through the normal build path on first use, ~10-15 minutes on 2 cores). Two numbers:
- batch: one process opens the index and models once, then answers each dev-set question through
  `Service.ask` (what `vtrag ask --questions F` and the REST server do); the first answer is a warm-up;
- single call: `vtrag ask "QUESTION" --data-dir D` as a fresh subprocess, start to exit.
A shared 2-core VM runs at very different speeds from one minute to the next, so each row also carries the
CPU seconds the work used (process time; for the single call, the child's user + system time) and the
load average: on an idle machine the wall time approaches the CPU time.

`--stand-in-reader` times the trained reader's cost without its weights: all-MiniLM-L6-v2 with an untrained
span head, exported to int8 exactly as `vtrag reader export` does (same graph, same shapes, same windows),
so its answers mean nothing and its timings are the trained int8 reader's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
VTRAG = Path(sys.executable).with_name("vtrag")


def stand_in_reader(cache: Path) -> Path:
    """The int8 stand-in reader folder (built once under `cache`)."""
    out = cache / "stand-in-minilm-int8"
    if (out / "vtrag-reader.json").is_file():
        return out
    import json

    import torch
    from transformers import AutoModelForQuestionAnswering

    from decoder.span_reader_format import READER_FORMAT, READER_META
    from decoder.span_reader_onnx import TOKENIZER_FILES, export_int8
    from encoder.quiet import quiet_loading
    from encoder.text_embedder import bundled_model_dir

    base = bundled_model_dir()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp, quiet_loading():
        AutoModelForQuestionAnswering.from_pretrained(str(base), local_files_only=True).save_pretrained(tmp)
        for name in TOKENIZER_FILES:
            if (base / name).is_file():
                shutil.copyfile(base / name, Path(tmp, name))
        note = "all-MiniLM-L6-v2 with an untrained span head: the trained reader's cost, not its answers"
        Path(tmp, READER_META).write_text(json.dumps({"format": READER_FORMAT, "stand_in": note}))
        export_int8(Path(tmp), out)
    return out


def batch(data_dir: Path, questions: list[str], reader: Path | None) -> dict[str, float]:
    """Per-question wall and CPU ms through one Service (models loaded once; first answer is a warm-up)."""
    from api.service.facade import Service
    from api.settings import Settings

    service = Service(Settings(data_dir=data_dir, milvus_uri=None, reader_dir=reader))
    try:
        service.ask(questions[0], top_k=5)
        walls, cpus = [], []
        for q in questions:
            w, c = time.perf_counter(), time.process_time()
            service.ask(q, top_k=5)
            walls.append(1000 * (time.perf_counter() - w))
            cpus.append(1000 * (time.process_time() - c))
    finally:
        service.close()
    walls.sort()
    return {"mean": statistics.fmean(walls), "p90": walls[int(0.9 * (len(walls) - 1))],
            "cpu": statistics.fmean(cpus), "n": len(walls)}  # fmt: skip


def single_calls(data_dir: Path, questions: list[str], reader: Path | None) -> dict[str, float]:
    """Median wall and CPU seconds of `vtrag ask QUESTION` as fresh processes."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("VTRAG_READER_DIR", None)
    if reader is not None:
        env["VTRAG_READER_DIR"] = str(reader)
    walls, cpus = [], []
    for q in questions:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        w = time.perf_counter()
        subprocess.run([str(VTRAG), "ask", q, "--data-dir", str(data_dir)], env=env, check=True,
                       capture_output=True)  # fmt: skip
        walls.append(time.perf_counter() - w)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {"wall": statistics.median(walls), "cpu": statistics.median(cpus), "n": len(walls)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dataset", type=Path, default=ROOT / "datasets" / "manuals-dev")
    ap.add_argument("--reader", type=Path, default=None, help="a reader folder (default: the settings')")
    ap.add_argument("--stand-in-reader", action="store_true", help="time an int8 reader of the trained shape")
    ap.add_argument("--single", type=int, default=5, help="single CLI calls to time (median)")
    ap.add_argument("--record", action="store_true", help="append the table to docs/BENCHMARKS.md")
    a = ap.parse_args()
    from evaluation.datasets import load_dataset
    from evaluation.scratch import default_cache_dir, prepare

    ds = load_dataset(a.dataset)
    index = prepare(ds.name, list(ds.corpus.values()))
    reader = a.reader
    if a.stand_in_reader:
        reader = stand_in_reader(default_cache_dir().parent / "readers")
    if reader is None:  # what answers by default: the shipped reader when the package has one, else the rules
        from api.settings import Settings

        reader = Settings(milvus_uri=None).reader_dir
    questions = list(ds.queries.values())
    label = "rules" if reader is None else reader.name
    b = batch(index.data_dir, questions, reader)
    s = single_calls(index.data_dir, questions[: a.single], reader)
    load = os.getloadavg()[0]
    rows = [
        "| measurement | wall | CPU | notes |",
        "|---|---|---|---|",
        f"| `ask` in a batch, per question | {b['mean']:.0f} ms (p90 {b['p90']:.0f}) | {b['cpu']:.0f} ms | "
        f"{b['n']:.0f} questions, models loaded once |",
        f"| `vtrag ask QUESTION`, one CLI call | {s['wall']:.2f} s | {s['cpu']:.2f} s | median of "
        f"{s['n']:.0f} fresh processes |",
    ]
    head = (
        f"`python bench/ask_latency.py{' --stand-in-reader' if a.stand_in_reader else ''}` — reader "
        f"{label}, {index.build.get('pages', len(ds.corpus))} pages ({ds.name}), {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average {load:.1f} at the end."
    )
    table = "\n".join([head, "", *rows])
    print(table)
    if a.record:
        stamp = dt.date.today().isoformat()
        with (ROOT / "docs" / "BENCHMARKS.md").open("a", encoding="utf-8") as f:
            f.write(f"\n## {stamp} — bench/ask_latency.py (answer latency, CPU)\n{table}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
