"""The vision path as the product, end to end on one GPU: build with the real CLI, answer through REST + SDK.

    python bench/e2e_gpu.py [--pages 2000] [--answers 50] [--work /tmp/vtrag-e2e] [--record]

1. Writes a corpus of real PDFs (bench/e2e_setup.py) and a random DeepSeek-OCR v1 checkpoint at the real
   shapes in the official layout, with a BPE tokenizer trained on the corpus.
2. `vtrag index build CORPUS --encoder deepseek-ocr --weights W --device cuda --mode base --json` into Milvus
   Lite, sampling `nvidia-smi` meanwhile: pages/s end to end (render + text + MiniLM + encode + pooled
   vector + token write), GPU busy fraction, and the build's own per-stage seconds.
3. `vtrag serve` with the same weights; `--answers` questions through the SDK (`Client.answer`): latency
   p50/p95 (retrieve + token fetch + prefill + N new tokens), each stage's p50 as the server timed it
   (`timings_ms`), the path each answer took, and the context it read as stored vision tokens vs the same
   pages as text tokens.
4. The cost table: pages/s and GPU-seconds per 1,000 pages for (a) indexing by encoding (step 2) and (b) full
   OCR of pages by the same model (encode + ~1,000 guarded greedy tokens per page, batched), in this run.
Random weights: speeds are real, answers are noise. With `--record` the tables go to docs/BENCHMARKS.md.
`--tiny` runs the same steps with the tiny test model on the CPU (20 pages): a smoke test of the script.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.e2e_setup import make_corpus, make_weights, text_model_env  # noqa: E402
from bench.machine_load import GpuSampler, host_cpu_ticks  # noqa: E402

NEW_TOKENS = 30  # answer budget: below 31 tokens the 30-gram guard cannot fire, so random weights answer


def vtrag(*args: str) -> list[str]:
    """The real CLI, as `vtrag ARGS...` (run from the checkout, as on the GPU machine with no install)."""
    return [sys.executable, "-m", "api.cli", *args]


def run_build(
    corpus: Path,
    weights: Path,
    data: Path,
    env: dict[str, str],
    workers: int,
    device: str,
    compile_encoder: bool = False,
    gil_profile: tuple[str, Path] | None = None,
    processes: int = 1,
) -> dict:
    """One build; with `gil_profile` (py-spy binary, output path), py-spy records who holds the build's GIL
    from its first written batch to its end: the steady state, without start-up, load and compile."""
    shutil.rmtree(data, ignore_errors=True)  # a fresh build, whatever an earlier run left
    cmd = vtrag(
        "index",
        "build",
        str(corpus),
        "--data-dir",
        str(data),
        "--encoder",
        "deepseek-ocr",
        "--weights",
        str(weights),
        "--device",
        device,
        "--mode",
        "base",
        "--workers",
        str(max(1, workers // processes)),  # the extraction processes are shared out among the shards
        "--batch-pages",
        "64",
        *(("--compile",) if compile_encoder else ()),
        # shard processes on the one GPU, each with its own interpreter (api/cli/launch.py)
        *(("--processes", str(processes)) if processes > 1 else ()),
        "--json",
    )
    started = time.perf_counter()
    first_page = None
    first_written = 0
    last_page = started
    events = []
    with GpuSampler() as gpu:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            events.append(event)
            if event["event"] == "pages" and first_page is None:
                first_page, first_written = time.perf_counter(), event["written"]
                cpu_at_first = host_cpu_ticks()
                if gil_profile is not None:
                    spy, raw = gil_profile
                    flags = ["--gil", "--threads", "--nonblocking", "-r", "100", "-f", "raw"]
                    flags += ["--subprocesses"] if processes > 1 else []  # the shards under the launcher
                    recorder = subprocess.Popen(
                        [spy, "record", *flags, "-o", str(raw), "--pid", str(proc.pid)]
                    )
            if event["event"] == "done":
                last_page = time.perf_counter()
                cpu_at_done = host_cpu_ticks()
        code = proc.wait()
        if gil_profile is not None and first_page is not None:
            recorder.wait(timeout=60)  # py-spy stops when the build exits
    wall = time.perf_counter() - started
    if code != 0:  # with --json the CLI reports its error as the last event
        raise SystemExit(f"vtrag index build exited {code}: {events[-3:]}")
    done = next(e for e in events if e["event"] == "done")
    # After the first written batch: the rate a long build settles at (start-up, model load and a
    # compile land before it).
    after_first = (done["pages_written"] - first_written) / max(1e-9, last_page - (first_page or started))
    busy, total = (b - a for a, b in zip(cpu_at_first, cpu_at_done, strict=True)) if first_page else (0, 0)
    return {
        "wall_s": wall,
        "to_first_batch_s": (first_page or started) - started,
        "steady_pages_s": after_first,
        "gpu_busy": gpu.busy,
        "gpu_busy_steady": gpu.busy_between(first_page or started, last_page),  # after the first batch
        # all cores, after the first written batch: whether the host itself is the limit
        "host_cpu_busy": busy / total if total else float("nan"),
        **done,
    }


def run_answers(
    data: Path, weights: Path, env: dict[str, str], texts: dict, n: int, port: int, device: str
) -> dict:
    from api.client import Client

    serve_env = {
        **env,
        "VTRAG_ENCODER": "deepseek-ocr",
        "VTRAG_WEIGHTS_DIR": str(weights),
        "VTRAG_DEVICE": device,
        "VTRAG_ANSWER_MAX_NEW_TOKENS": str(NEW_TOKENS),
        "VTRAG_ANSWER_MIN_CONFIDENCE": "-100",  # random weights: judge only by the guard and emptiness
    }
    import httpx

    cmd = vtrag("serve", "--port", str(port), "--data-dir", str(data), "--log-level", "warning")
    started = time.perf_counter()
    server = subprocess.Popen(cmd, env=serve_env, cwd=ROOT)
    base_url = f"http://127.0.0.1:{port}"
    client = Client(base_url=base_url, max_retries=0)
    try:
        while True:
            try:
                if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.perf_counter() - started > 300:
                raise SystemExit("vtrag serve did not become ready")
            time.sleep(0.5)
        ready = time.perf_counter() - started
        facts = [fact for _, fact in texts.values()][: n + 1]
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(weights))
        latencies, modes, vision_ctx, text_ctx, stages = [], [], [], [], []
        for k, fact in enumerate(facts):
            t0 = time.perf_counter()
            response = client.answer(question=fact.question, top_k=5, timeout=120)
            elapsed = time.perf_counter() - t0
            if k == 0:
                first = elapsed  # graph capture and first-use costs
                continue
            latencies.append(elapsed)
            stages.append(response.timings_ms)
            modes.append(response.mode)
            vision_ctx.append(response.context_tokens.vision)
            page_texts = [texts.get((p.source, p.page), ("", None))[0] for p in response.pages]
            text_ctx.append(sum(len(tokenizer(t)["input_ids"]) for t in page_texts))
    finally:
        server.terminate()
        server.wait(timeout=60)
    q = statistics.quantiles(latencies, n=20)
    return {
        "ready_s": ready,
        "first_answer_s": first,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": q[18] * 1000,
        "modes": {m: modes.count(m) for m in set(modes)},
        "stage_p50_ms": {
            stage: statistics.median(t[stage] for t in stages if stage in t)
            for stage in dict.fromkeys(s for t in stages for s in t)
        },
        "vision_tokens": statistics.fmean(vision_ctx),
        "text_tokens": statistics.fmean(text_ctx),
    }


def full_ocr_rate(weights: Path, device: str, pages: int = 64, new_tokens: int = 1000) -> dict:
    """Pages/s of full OCR by the same model in-process: encode Base pages + `new_tokens` greedy, guarded."""
    import torch
    from PIL import Image

    from api.service.runtime import VisionRuntime
    from decoder import prompts
    from decoder.generate import Request
    from encoder.modes import make_views
    from encoder.pixels import v1_inputs

    runtime = VisionRuntime.load("deepseek-ocr", weights, device=device, mode="base")
    model = runtime.encoder.model
    dtype = next(model.parameters()).dtype
    views = [make_views(Image.new("RGB", (1240, 1754), "white"), "base") for _ in range(pages)]
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    with torch.inference_mode():
        rows = model.get_image_features(**v1_inputs(views, device, dtype)).pooler_output
    sync()
    t1 = time.perf_counter()
    requests = [Request([r], prompts.FREE_OCR) for r in rows]
    runtime.generator.generate_batch(requests, 8, stop_ids=())  # graph capture for this batch, off the clock
    sync()
    t2 = time.perf_counter()
    runtime.generator.generate_batch(requests, new_tokens, stop_ids=())
    sync()
    t3 = time.perf_counter()
    return {"pages": pages, "new_tokens": new_tokens, "encode_s": t1 - t0, "decode_s": t3 - t2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--answers", type=int, default=50)
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 4))
    parser.add_argument("--work", type=Path, default=Path("/tmp/vtrag-e2e"))
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--record", nargs="?", const=str(ROOT / "docs" / "BENCHMARKS.md"), default=None)
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--tiny", action="store_true", help="tiny model on the CPU, 20 pages: a smoke test")
    parser.add_argument("--steps", default="build,answers,ocr", help="which of build, answers, ocr to run")
    parser.add_argument("--compile", action="store_true", help="build with `vtrag index build --compile`")
    parser.add_argument("--write-threads", type=int, default=None, help="VTRAG_WRITE_THREADS for the build")
    parser.add_argument(
        "--write-processes", type=int, default=None, help="VTRAG_WRITE_PROCESSES for the build (unset: 0)"
    )
    parser.add_argument(
        "--gil-profile",
        type=Path,
        default=None,
        help="py-spy's record (raw) of who holds the build's GIL after its first written batch",
    )
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy binary for --gil-profile")
    parser.add_argument(
        "--processes", type=int, default=1, help="build with this many shard processes on the one GPU"
    )
    args = parser.parse_args(argv)
    device = "cpu" if args.tiny else "cuda"
    if args.tiny:
        args.pages, args.answers = min(args.pages, 20), min(args.answers, 3)

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "VTRAG_TEXT_BACKEND": "torch", "PYTHONUNBUFFERED": "1"}
    if args.write_threads is not None:
        env["VTRAG_WRITE_THREADS"] = str(args.write_threads)
    if args.write_processes is not None:
        env["VTRAG_WRITE_PROCESSES"] = str(args.write_processes)
    t0 = time.perf_counter()
    texts = make_corpus(args.work / "corpus", args.pages)
    weights = make_weights(args.work / "weights", [t for t, _ in texts.values()], tiny=args.tiny)
    env.update(text_model_env(args.work / "minilm", [t for t, _ in texts.values()]))
    print(f"corpus + weights in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    steps = set(args.steps.split(","))
    out: dict = {}
    if "build" in steps:
        out["build"] = run_build(
            args.work / "corpus",
            weights,
            args.work / "index",
            env,
            args.workers,
            device,
            args.compile,
            (args.py_spy, args.gil_profile) if args.gil_profile else None,
            args.processes,
        )
        print(json.dumps(out["build"]), file=sys.stderr, flush=True)
    if "answers" in steps:
        out["answers"] = run_answers(
            args.work / "index", weights, env, texts, args.answers, args.port, device
        )
        print(json.dumps(out["answers"]), file=sys.stderr, flush=True)
    if "ocr" in steps:
        out["full_ocr"] = full_ocr_rate(weights, device, *((2, 8) if args.tiny else ()))
        print(json.dumps(out["full_ocr"]), file=sys.stderr, flush=True)
    if args.json_out:
        args.json_out.write_text(json.dumps(out, indent=2))
    if steps != {"build", "answers", "ocr"}:
        return 0  # a partial run: the parts above, no report
    text = report(out)
    print(text)
    if args.record:
        with open(args.record, "a", encoding="utf-8") as fh:
            fh.write(f"\n## {dt.date.today().isoformat()} — bench/e2e_gpu.py\n\n{environment()}\n\n{text}\n")
    return 0


def environment() -> str:
    import torch
    import transformers

    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "no GPU"
    versions = f"torch {torch.__version__}; transformers {transformers.__version__}"
    return f"{name}, {os.cpu_count()} CPU cores; {versions}"


def report(out: dict) -> str:
    b, a, o = out["build"], out["answers"], out["full_ocr"]
    index_rate = b["pages_written"] / b["seconds"]
    ocr_rate = o["pages"] / (o["encode_s"] + o["decode_s"])
    # a launcher's summary (--processes) has no stage seconds of its own
    stages = ", ".join(f"{k} {v:.1f} s" for k, v in b.get("stage_seconds", {}).items()) or "n/a"
    latency = f"{a['p50_ms']:.0f} / {a['p95_ms']:.0f} ms"
    stage_p50 = ", ".join(f"{k} {v:.0f} ms" for k, v in a.get("stage_p50_ms", {}).items())
    context = f"{a['vision_tokens']:.0f} vs {a['text_tokens']:.0f}"
    ocr = f"(b) full OCR: encode + {o['new_tokens']} guarded tokens/page, batch {o['pages']}"
    lines = [
        "| measure | value |",
        "|---|---:|",
        f"| pages indexed (Base, real PDFs) | {b['pages_written']} |",
        f"| build pages/s (job: render + text + MiniLM + encode + write) | {index_rate:.1f} |",
        f"| build pages/s after the first written batch (start-up, load, any compile before it) | "
        f"{b['steady_pages_s']:.1f} |",
        f"| build wall time incl. start-up and model load | {b['wall_s']:.1f} s |",
        f"| GPU busy during the build / after the first written batch (nvidia-smi) | {b['gpu_busy']:.0%} / "
        f"{b['gpu_busy_steady']:.0%} |",
        f"| host CPU busy after the first written batch (all cores, /proc/stat) | {b['host_cpu_busy']:.0%} |",
        f"| build stage seconds (summed over threads; {b.get('write_threads', '?')} writer threads) | "
        f"{stages} |",
        f"| serve ready after | {a['ready_s']:.1f} s |",
        f"| answer latency p50 / p95 ({NEW_TOKENS} new tokens, 5 pages) | {latency} |",
        f"| first answer (graph capture) | {a['first_answer_s'] * 1000:.0f} ms |",
        f"| answer paths | {a['modes']} |",
        f"| answer stages, p50 (server side) | {stage_p50} |",
        f"| context per answer: stored vision tokens vs same pages as text | {context} |",
        "",
        "| cost (one GPU, this run) | pages/s | GPU-s per 1,000 pages |",
        "|---|---:|---:|",
        f"| (a) index by encoding (vtrag build) | {index_rate:.1f} | {1000 / index_rate:.1f} |",
        f"| {ocr} | {ocr_rate:.2f} | {1000 / ocr_rate:.0f} |",
        f"| ratio (b)/(a) | {index_rate / ocr_rate:.0f}x | |",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
