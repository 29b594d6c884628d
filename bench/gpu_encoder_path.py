"""The product's encode path timed three ways (bench/gpu.py): how a caller feeds `DeepseekOcrEncoder` decides
whether the GPU waits for the host between batches."""

from __future__ import annotations

import time

import torch

from bench.gpu_models import product_attention
from bench.gpu_timing import Clock, Result


def bench_encoder_path(model, clock: Clock, tiny: bool, compiled: bool = False) -> list[Result]:
    """Base through `DeepseekOcrEncoder` from pages already cut into views (as the indexer's workers hand
    them over): host stacking, pinned transfer, forward, rows and pooled vectors back on the host. Three
    ways: one `encode` call for all pages (batch k+1 queued before batch k is collected); one `encode` call
    per batch (as a build called it until 2026-12-05: the GPU waits while each batch's pixels are stacked
    and its rows collected); `start` per batch, collected two batches behind (as a build does now).
    `compiled`: after `DeepseekOcrEncoder.compile` (`vtrag index build --compile`); compiles the model's
    towers for good, so it runs last."""
    from PIL import Image

    from encoder.modes import make_views
    from encoder.pixels import v1_inputs
    from encoder.vision import DeepseekOcrEncoder

    pages = 4 if tiny else 128
    encoder = DeepseekOcrEncoder(model, mode="base", batch_size=2 if tiny else 32, workers=1)
    views = [make_views(Image.effect_noise((1240, 1754), 64).convert("RGB"), "base") for _ in range(pages)]
    batches = [views[k : k + encoder.batch_size] for k in range(0, pages, encoder.batch_size)]
    note = f"{pages} pages in batches of {encoder.batch_size}, rows + pooled back on the host"
    if compiled:
        encoder.compile()
        started = time.perf_counter()
        encoder.encode(views[: encoder.batch_size])
        note += f"; first batch (compile) {time.perf_counter() - started:.0f} s"

    def per_batch() -> None:
        for batch in batches:
            encoder.encode(batch)

    def started_ahead() -> None:
        behind: list = []
        for batch in batches:
            behind.append(encoder.start(batch))
            if len(behind) > 2:
                behind.pop(0)()
        for collect in behind:
            collect()

    # Two full batches started (pixels uploaded on a side stream) against the model's own forward on the
    # default stream: the same kernels, so the same bits.
    later = [encoder.start(batch) for batch in batches[:2]]
    weight = next(model.parameters())
    direct = []
    with torch.inference_mode():
        for batch in batches[:2]:
            out = model.get_image_features(**v1_inputs(batch, weight.device, weight.dtype))
            direct += [rows.cpu() for rows in out.pooler_output]
    started = [page.rows for collect in later for page in collect()]
    same = sum(torch.equal(a, b) for a, b in zip(started, direct, strict=True))
    note += f"; started = the forward on {same}/{len(direct)} pages bit for bit"
    variant = product_attention(clock.device) + (", torch.compile" if compiled else "")
    results = []
    for how, run in (
        ("pre-cut views", lambda: encoder.encode(views)),
        ("one encode call a batch", per_batch),
        ("started a batch ahead", started_ahead),
    ):
        seconds = clock.median(run)
        label = f"encode base [DeepseekOcrEncoder ({variant}), {how}]"
        results.append(Result("v1", label, pages / seconds, "pages/s", note))
    return results
