"""Numerics of the fast paths at the real shapes, beside their timings (bench/gpu.py --check).

- encoder: the stored rows with SAM's relative positions fused into FlexAttention vs transformers' SDPA with a
  dense bias (Base and Gundam pages), as relative Frobenius error;
- decoder: prompt logits of the static-cache prefill vs the dynamic cache, and greedy tokens of the static
  CUDA-graph loop vs the dynamic loop over 64 steps on a fixed prompt (how many agree before they part).
The CPU tests (tests/encoder/test_sam_attention.py, tests/decoder/test_static_decode.py) prove the same on
tiny models in float32; here bf16 rounding differs between kernels, so these are measured, not asserted.
"""

from __future__ import annotations

from typing import Any

import torch

from decoder.generate import Generator, Request


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.float() - b.float()).norm() / b.float().norm().clamp(min=1e-12))


def encoder_checks(
    model: Any, backend: str, device: torch.device, dtype: torch.dtype
) -> list[tuple[str, str]]:
    from bench.gpu_models import product_attention, set_sam_attention

    gen = torch.Generator().manual_seed(7)
    tile = 640 if backend == "v1" else 768
    pixels = torch.randn(2, 3, 1024, 1024, generator=gen).to(device, dtype)
    local = torch.randn(2, 3, tile, tile, generator=gen).to(device, dtype)
    layout: Any = [[2, 1], [0, 0]] if backend == "v1" else [2, 0]  # page 1: two tiles; page 2: none
    outs = {}
    for variant in ("sdpa", "folded", "flex"):
        set_sam_attention(model, variant)
        with torch.inference_mode():
            rows = model.get_image_features(pixels, pixel_values_local=local, num_local_patches=layout)
        outs[variant] = rows.pooler_output
    set_sam_attention(model, product_attention(device))
    checks = []
    for variant in ("folded", "flex"):
        errors = [rel_error(f, s) for f, s in zip(outs[variant], outs["sdpa"], strict=True)]
        what = f"encoder rows {variant} vs sdpa (rel. error: tiled page / global view only)"
        checks.append((what, " / ".join(f"{e:.2e}" for e in errors)))
    if backend == "v1":
        checks.append(product_path_check(model))
    return checks


def product_path_check(model: Any, pages: int = 10, batch: int = 4) -> tuple[str, str]:
    """`DeepseekOcrEncoder.encode` (pinned transfers, rows copied home on a side stream while the next batch
    runs) against the model's own forward over the same batches: the same kernels, so the same bits."""
    from PIL import Image

    from encoder.modes import make_views
    from encoder.pixels import v1_inputs
    from encoder.vision import DeepseekOcrEncoder

    weight = next(model.parameters())
    encoder = DeepseekOcrEncoder(model, mode="base", batch_size=batch, workers=1)
    views = [
        make_views(Image.effect_noise((1240, 1754), 40 + k).convert("RGB"), "base") for k in range(pages)
    ]
    encoded = encoder.encode(views)
    direct = []
    with torch.inference_mode():
        for start in range(0, pages, batch):
            out = model.get_image_features(
                **v1_inputs(views[start : start + batch], weight.device, weight.dtype)
            )
            direct += [rows.cpu() for rows in out.pooler_output]
    equal = sum(torch.equal(e.rows, d) for e, d in zip(encoded, direct, strict=True))
    worst = max(rel_error(e.rows, d) for e, d in zip(encoded, direct, strict=True))
    what = f"product encode path vs the model's forward ({pages} Base pages, batches of {batch})"
    return what, f"{equal}/{pages} pages bit-equal, worst {worst:.1e}"


def decoder_checks(
    model: Any, tokenizer: Any, stored: list[torch.Tensor], prompt: str, steps: int = 64
) -> list[tuple[str, str]]:
    dynamic = Generator(model, tokenizer, static=False)
    static = Generator(model, tokenizer, static=True)
    a = dynamic.generate_batch([Request(stored, prompt)], steps, stop_ids=())[0]
    b = static.generate_batch([Request(stored, prompt)], steps, stop_ids=())[0]
    agree = next((k for k, (x, y) in enumerate(zip(a.token_ids, b.token_ids, strict=True)) if x != y), steps)
    lp = max(
        abs(x - y) for x, y in zip(a.logprobs[:agree] or [0.0], b.logprobs[:agree] or [0.0], strict=True)
    )
    # The same static-cache steps run eagerly: a replayed graph runs the very same kernels, so the prefill
    # and step graphs must give the eager tokens and log-probs bit for bit.
    eager = Generator(model, tokenizer, static=True)
    assert eager._static is not None
    eager._static.graph = False
    c = eager.generate_batch([Request(stored, prompt)], steps, stop_ids=())[0]
    same = sum(x == y for x, y in zip(b.token_ids, c.token_ids, strict=True))
    lp_graph = max(abs(x - y) for x, y in zip(b.logprobs, c.logprobs, strict=True))
    return [
        (
            f"greedy tokens static-graph vs dynamic ({steps} steps)",
            f"{agree}/{steps} identical before they part",
        ),
        ("chosen-token log-prob, largest difference while identical", f"{lp:.2e}"),
        (
            f"static cache: graphs (prefill + step) vs the same steps eagerly ({steps} steps)",
            f"{same}/{steps} tokens identical, log-probs within {lp_graph:.1e}",
        ),
    ]
