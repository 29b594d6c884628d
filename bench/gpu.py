"""GPU benchmark of the vision path: encode pages/s per mode, time to first token from stored rows vs from
pixels, decode tok/s single stream and at batch 32. Random weights at the real shapes, bf16, SDPA, HF eager.

    python bench/gpu.py                      # H100: real shapes, prints a table
    python bench/gpu.py --record             # ... and appends a dated section to docs/BENCHMARKS.md
    python bench/gpu.py --tiny               # CPU smoke test: tiny configs, one timed run each

Backends: DeepSeek-OCR v1 (`encoder.deepseek_ocr`, skipped with a message when it does not import) and
DeepSeek-OCR-2 (transformers' native `DeepseekOcr2ForConditionalGeneration`). Both decode through
`decoder.generate.Generator`, so the numbers include our prompt layout, row injection, guard and confidence.

Context for decoding: 5 stored Base pages in the official layout. v1: 5 x 273 rows (16 x (16 + 1 newline)
+ 1 separator) = 1365 image rows; OCR-2: 5 x 257 rows (256 queries + 1 separator) = 1285. The multi-page
question prompt adds its labels, instruction and question (word-level stand-in tokenizer: no real vocabulary
is available here). "from pixels" re-encodes the 5 page images first (host -> device copy included);
"stored" copies the stored bf16 rows host -> device and prefills. Timings: CUDA events after warm-up,
medians; tok/s = (N - 1) / (t(N tokens) - t(1 token)).
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gpu_checks import decoder_checks, encoder_checks  # noqa: E402
from bench.gpu_encoder_path import bench_encoder_path  # noqa: E402
from bench.gpu_models import (  # noqa: E402
    StandInTokenizer,
    build,
    load_v1,
    ocr2_config,
    product_attention,
    set_sam_attention,
)
from bench.gpu_timing import Clock, Result, table  # noqa: E402
from decoder.generate import Generator, Request  # noqa: E402
from decoder.prompts import question_prompt  # noqa: E402

N_PAGES = 5
BATCH = 32
QUESTION = "What was the total revenue in the fourth quarter, and which segment grew fastest?"


# ---- encode


def _pixels(n: int, size: int, dtype: torch.dtype) -> torch.Tensor:
    return torch.randn(n, 3, size, size, dtype=dtype)  # host memory, as a page batch arrives


def encode_cases(backend: str, tiny: bool) -> list[tuple[str, int, tuple | None, int]]:
    """(name, global view px, ((across, down), tile px) or None, batch) per timed encode."""
    if backend == "v1":
        from encoder.modes import MODES, gundam_grid

        # Letter page at 144 dpi for the tiled modes: the official PDF rendering; the default tile cap (6).
        cases: list[tuple[str, int, tuple | None, int]] = []
        for m in MODES.values():
            if m.tiled:
                cases.append((m.name, m.size, (gundam_grid(1224, 1584, m.max_tiles, m.tile), m.tile), 8))
            else:
                cases.append((m.name, m.size, None, 64 if m.size <= 640 else 32))
        cases.append(("base", 1024, None, 64))  # the largest batch the indexer would use
    else:
        across, down = 3, 2  # a 6-tile OCR-2 layout (tiles of 768 px, 144 queries each)
        cases = [("global-1024", 1024, None, 32), ("global+6x768", 1024, ((across, down), 768), 8)]
    return [(n, s, t, 2 if tiny else b) for n, s, t, b in cases]


def bench_encode(
    model, backend: str, clock: Clock, tiny: bool, dtype: torch.dtype, variants: list[str], only: set[str]
) -> list[Result]:
    """pages/s per mode for each SAM attention variant: sdpa (transformers' dense bias), folded (the
    encoder's GPU default) or flex (fused); the model is left with the product's variant."""
    device = clock.device
    results = []
    if backend == "v1" and (not only or "product" in only):
        results += bench_encoder_path(model, clock, tiny)
    for variant in variants:
        set_sam_attention(model, variant)
        for name, size, tiles, batch in encode_cases(backend, tiny):
            if only and name not in only:
                continue
            if variant != "flex" and batch > 32:
                continue  # the dense bias of a 64-page batch needs >100 GB
            pixels = _pixels(batch, size, dtype)
            if device.type == "cuda":
                pixels = pixels.pin_memory()
            local, layout = None, None
            if tiles is not None:
                (a, d), tile = tiles
                local = _pixels(batch * a * d, tile, dtype)
                layout = [[a, d]] * batch if backend == "v1" else [a * d] * batch

            def run(pixels=pixels, local=local, layout=layout):
                with torch.inference_mode():
                    out = model.get_image_features(
                        pixels.to(device, non_blocking=True),
                        pixel_values_local=None if local is None else local.to(device, non_blocking=True),
                        num_local_patches=layout,
                    )
                return out.pooler_output

            try:
                rows = run()[0].shape[0]
                seconds = clock.median(run)
            except torch.OutOfMemoryError:
                label = f"encode {name} [{variant}]"
                results.append(Result(backend, label, float("nan"), "pages/s", f"batch {batch}: OOM"))
                torch.cuda.empty_cache()
                continue
            note = f"batch {batch}, {rows} rows/page"
            results.append(Result(backend, f"encode {name} [{variant}]", batch / seconds, "pages/s", note))
            print(table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    set_sam_attention(model, product_attention(device))  # what the decode rows' re-encoding should use
    return results


# ---- decode


def decode_context(model, device: torch.device, dtype: torch.dtype):
    """(stand-in tokenizer, 5 stored Base pages in host memory as the token store returns them, prompt)."""
    config = model.config
    tokenizer = StandInTokenizer(config.image_token_id, config.text_config.vocab_size)
    with torch.inference_mode():
        page_rows = model.get_image_features(_pixels(1, 1024, dtype).to(device)).pooler_output[0].shape[0]
    gen = torch.Generator().manual_seed(3)
    hidden = config.text_config.hidden_size
    stored = [torch.randn(page_rows, hidden, generator=gen).to(dtype) for _ in range(N_PAGES)]
    prompt = question_prompt(QUESTION, [f"annual-report.pdf p. {i}" for i in range(1, N_PAGES + 1)])
    return tokenizer, stored, prompt


def bench_decode(
    model, backend: str, clock: Clock, tiny: bool, dtype: torch.dtype, new_tokens: int, variant: str
) -> list[Result]:
    """TTFT and tok/s with the dynamic-cache loop or the static cache + CUDA-graph step ("static")."""
    device = clock.device
    tokenizer, stored, prompt = decode_context(model, device, dtype)
    generator = Generator(model, tokenizer, static=variant == "static")
    backend = f"{backend} [{variant}]"
    page_rows = stored[0].shape[0]
    pages = _pixels(N_PAGES, 1024, dtype)
    prompt_tokens = len(generator.prompt_ids(stored, prompt))
    context = f"{N_PAGES} pages x {page_rows} rows, {prompt_tokens} prompt tokens"

    def from_stored(n: int, batch: int = 1):
        return generator.generate_batch([Request(stored, prompt)] * batch, n, stop_ids=())

    def from_pixels():
        with torch.inference_mode():
            rows = model.get_image_features(pages.to(device, non_blocking=True)).pooler_output
        return generator.generate(list(rows), prompt, 1, stop_ids=())

    results = []
    t_stored = clock.median(lambda: from_stored(1))
    t_pixels = clock.median(from_pixels)
    results.append(Result(backend, "TTFT from stored rows", t_stored * 1000, "ms", context))
    results.append(
        Result(
            backend, "TTFT re-encoding pixels", t_pixels * 1000, "ms", f"{t_pixels / t_stored:.1f}x slower"
        )
    )
    for batch in (1, BATCH):
        if tiny and batch > 1:
            batch = 4
        t1 = clock.median(lambda batch=batch: from_stored(1, batch))
        tn = clock.median(lambda batch=batch: from_stored(new_tokens, batch))
        # Timer noise can beat a tiny decode (CPU smoke test): report nothing rather than nonsense.
        rate = batch * (new_tokens - 1) / (tn - t1) if tn > t1 else float("nan")
        label = "decode single stream" if batch == 1 else f"decode batch {batch}"
        results.append(
            Result(
                backend,
                label,
                rate,
                "tok/s",
                f"{new_tokens} new tokens, guard on, prefill {t1 * 1000:.0f} ms",
            )
        )
    return results


# ---- report


def environment(device: torch.device) -> str:
    import transformers

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "CPU"
    return f"{name}; torch {torch.__version__}; transformers {transformers.__version__}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tiny", action="store_true", help="tiny configs on CPU: a smoke test, not a benchmark"
    )
    parser.add_argument(
        "--record",
        nargs="?",
        const=str(ROOT / "docs" / "BENCHMARKS.md"),
        default=None,
        help="append a dated section to this markdown file (default docs/BENCHMARKS.md)",
    )
    parser.add_argument("--iters", type=int, default=None, help="timed runs per measurement (median)")
    parser.add_argument("--new-tokens", type=int, default=None, help="tokens per decode measurement")
    parser.add_argument("--backends", default="v1,ocr2", help="comma list: v1, ocr2")
    parser.add_argument("--encode", default="sdpa,folded", help="SAM attention variants: sdpa, folded, flex")
    parser.add_argument("--decode", default="dynamic,static", help="decode loops: dynamic, static")
    parser.add_argument("--check", action="store_true", help="also compare the fast paths' numerics")
    parser.add_argument("--modes", default="", help="comma list of encode cases to time (default: all)")
    parser.add_argument(
        "--compile-product", action="store_true", help="last: the product's encode path after torch.compile"
    )
    args = parser.parse_args(argv)
    encode_variants = [v for v in args.encode.split(",") if v]
    decode_variants = [v for v in args.decode.split(",") if v]

    cuda = torch.cuda.is_available() and not args.tiny
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    iters = args.iters or (5 if cuda else 1)
    clock = Clock(device, warmup=2 if cuda else 0, iters=iters)
    new_tokens = args.new_tokens or (64 if cuda else 4)
    if not cuda and not args.tiny:
        print("no CUDA device: use --tiny for the CPU smoke test", file=sys.stderr)
        return 2
    torch.manual_seed(0)

    results: list[Result] = []
    notes: list[str] = []
    checks: list[tuple[str, str, str]] = []
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        if backend == "v1":
            loaded, reason = load_v1(args.tiny)
            if loaded is None:
                notes.append(f"v1 skipped: encoder/ is not importable yet ({reason})")
                print(notes[-1], file=sys.stderr)
                continue
            cls, config = loaded
        elif backend == "ocr2":
            from transformers import DeepseekOcr2ForConditionalGeneration

            cls, config = DeepseekOcr2ForConditionalGeneration, ocr2_config(args.tiny)
        else:
            parser.error(f"unknown backend {backend!r}")
        t0 = time.perf_counter()
        model = build(cls, config, device, dtype)
        params = sum(p.numel() for p in model.parameters()) / 1e9
        inject = Generator(model, StandInTokenizer(config.image_token_id, 10**6), static=False).inject
        experts = model.config.text_config._experts_implementation
        notes.append(
            f"{backend}: {params:.2f}B params; attention {model.config._attn_implementation}, MoE experts "
            f"{experts}, stored rows injected via {inject}"
        )
        print(notes[-1], f"(built in {time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
        only = {m for m in args.modes.split(",") if m}
        results += bench_encode(model, backend, clock, args.tiny, dtype, encode_variants, only)
        if args.check:
            checks += [(backend, *c) for c in encoder_checks(model, backend, device, dtype)]
        for variant in decode_variants:
            results += bench_decode(model, backend, clock, args.tiny, dtype, new_tokens, variant)
            print(table(results[-4:]), file=sys.stderr, flush=True)
        if args.check:
            tokenizer, stored, prompt = decode_context(model, device, dtype)
            checks += [(backend, *c) for c in decoder_checks(model, tokenizer, stored, prompt)]
        if args.compile_product and backend == "v1":
            results += bench_encoder_path(model, clock, args.tiny, compiled=True)
        del model
        if cuda:
            torch.cuda.empty_cache()

    env = environment(device)
    text = table(results)
    if checks:
        text += "\n\n| backend | numerics check | result |\n|---|---|---|\n"
        text += "\n".join(f"| {b} | {what} | {value} |" for b, what, value in checks)
    print(f"\n{env}\n\n{text}")
    for note in notes:
        print(f"\n{note}")
    if args.record:
        path = Path(args.record)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "" if path.exists() else "# Benchmarks\n"
        mode = "tiny smoke test" if args.tiny else "random weights at real shapes, bf16"
        section = [
            header,
            f"\n## {dt.date.today().isoformat()} — bench/gpu.py ({mode})\n\n",
            f"{env}; medians of {iters} runs after warm-up.\n\n",
            "Decode context: 5 stored Base pages in the official layout (v1 5 x 273 = 1365 rows, "
            "OCR-2 5 x 257 = 1285) + the multi-page question prompt; greedy with the 30/90 n-gram guard; "
            "TTFT from pixels = encode the 5 page images, then the same prefill.\n",
            "\n" + text + "\n",
        ] + [f"\n{note}\n" for note in notes]
        with path.open("a", encoding="utf-8") as fh:
            fh.write("".join(section))
        print(f"\nappended to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
