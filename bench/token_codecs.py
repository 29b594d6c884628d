"""What each token codec costs: stored bytes per Base page, row error, and the decoder's drift (CPU).

    python bench/token_codecs.py            # real-shape rows + the tiny decoder, 64 greedy steps
    python bench/token_codecs.py --decoder real --device cuda   # the decoder at the released shape (GPU)

For each codec of `retriever.records.TOKEN_CODECS` (lossless, int8, fp8-e4m3):
- bytes per Base page: a (273, 1280) bf16 page (v1 Base: 16 x (16 + 1) + 1 rows of the projector's 1280)
  through `retriever.tokens.encode_tensor`: the codec's payload, the packed bytes (zstd) and the base64
  characters Milvus stores. The rows are random normal with a per-row scale spread over 1e-2..1e1 (random
  weights give no real projector statistics; the GPU session measures real-shape model rows);
- stored bytes per million A4 pages for each mode (Tiny .. Gundam) and codec;
- relative RMS error of the rows: ||x - x'||_F / ||x||_F over the page, and its worst row;
- the tiny random DeepSeek-OCR v1 (`encoder.tiny`, CPU, fp32) with a page encoded in Base and cast to bf16
  (the stored dtype): greedy-decode 64 tokens from the lossless rows, then with the codec's rows feed the same
  token sequence (teacher forcing) and compare: mean KL(p_lossless || p_codec) of the next-token
  distributions over the 64 steps, and the share of steps whose argmax agrees; plus the codec's own free
  greedy run: how many of its 64 tokens equal the lossless run's;
- with `--decoder real`: the same drift on DeepSeek-OCR v1 at the released shapes (SAM-B + CLIP-L encoder,
  DeepSeek-3B-MoE decoder; random weights, bf16, `bench/gpu_models.py`) with a word-level stand-in
  tokenizer, the page's rows from that model's own encoder.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.gpu_models import StandInTokenizer, build, load_v1  # noqa: E402
from decoder.generate import Generator  # noqa: E402
from decoder.tokenizer import Tokenizer  # noqa: E402
from encoder.modes import token_rows  # noqa: E402
from encoder.tiny import tiny_deepseek_ocr, tiny_tokenizer  # noqa: E402
from encoder.vision import DeepseekOcrEncoder  # noqa: E402
from retriever.records import TOKEN_CODECS  # noqa: E402
from retriever.tokens import decode_tensor, encode_tensor  # noqa: E402

ROWS, HIDDEN = 273, 1280
PROMPT = "<image>\nFree OCR."


def stored(tensor: torch.Tensor, codec: str) -> tuple[torch.Tensor, dict[str, int]]:
    """The rows as a read returns them after storing with `codec`, and the bytes it took."""
    blob = encode_tensor("bench:1", tensor, codec)
    back = decode_tensor(blob.page_id, blob.dtype, blob.shape, blob.sha256, blob.codec, blob.chunks)
    chars = sum(len(c) for c in blob.chunks)
    return back, {"payload": blob.raw_bytes, "packed": chars * 3 // 4, "base64": chars}


def rel_rms(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(relative RMS error of the whole tensor, worst row's)."""
    d = (x.float() - y.float()).pow(2)
    whole = (d.sum() / x.float().pow(2).sum()).sqrt().item()
    rows = (d.sum(dim=1) / x.float().pow(2).sum(dim=1).clamp_min(1e-30)).sqrt()
    return whole, rows.max().item()


def page_image() -> Image.Image:
    """A page-like image: lines of text on white, so the tiny encoder sees structure, not noise."""
    image = Image.new("RGB", (1224, 1584), "white")
    draw = ImageDraw.Draw(image)
    for k in range(40):
        draw.text(
            (80, 60 + 36 * k),
            f"Line {k}: the lighthouse keeper logged the storm at {k * 7 % 60} knots.",
            fill="black",
        )
    return image


def real_shape_rows(seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    scale = torch.logspace(-2, 1, ROWS)[torch.randperm(ROWS, generator=gen)].unsqueeze(1)  # (ROWS, 1)
    return (torch.randn(ROWS, HIDDEN, generator=gen) * scale).to(torch.bfloat16)


@torch.inference_mode()
def step_logits(gen: Generator, rows: torch.Tensor, token_ids: list[int]) -> torch.Tensor:
    """Next-token logits at the last prompt position and after each of `token_ids` but the last (n, vocab)."""
    prompt = gen.prompt_ids([rows], PROMPT)
    embed = gen.model.get_input_embeddings()
    ids = torch.tensor([prompt + token_ids], device=embed.weight.device)
    embeds = embed(ids)
    mask = (ids == gen.tokenizer.image_token_id).unsqueeze(-1).expand_as(embeds)
    embeds = embeds.masked_scatter(mask, rows.to(embeds.device, embeds.dtype))  # the rows at <image>
    logits = gen.model(inputs_embeds=embeds, use_cache=False).logits[0]  # (len, vocab)
    return logits[len(prompt) - 1 : len(prompt) - 1 + len(token_ids)].double()  # KL of tiny gaps: fp64


def drift_model(shape: str, device: str) -> tuple[Any, Generator, torch.dtype]:
    """(model, greedy generator without the n-gram guard, the dtype rows are fed in) for `shape`:
    "tiny" (the project's tiny v1, fp32) or "real" / "real-smoke" (released / tiny config through the
    GPU bench's bf16 builder and stand-in tokenizer; "real-smoke" checks that path on a CPU)."""
    torch.manual_seed(0)
    if shape == "tiny":
        tiny: Any = tiny_deepseek_ocr(0)
        return tiny, Generator(tiny, Tokenizer(tiny_tokenizer()), guard=False, static=False), torch.float32
    loaded, reason = load_v1(tiny=shape == "real-smoke")
    if loaded is None:
        raise SystemExit(f"the v1 model does not build: {reason}")
    cls, config = loaded
    model = build(cls, config, torch.device(device), torch.bfloat16)
    tokenizer = StandInTokenizer(config.image_token_id, config.text_config.vocab_size)
    return model, Generator(model, tokenizer, guard=False, static=False), torch.bfloat16


def decoder_drift(steps: int, shape: str = "tiny", device: str = "cpu") -> dict[str, dict[str, float]]:
    model, gen, dtype = drift_model(shape, device)
    rows = DeepseekOcrEncoder(model, "base", workers=1).encode([page_image()])[0].rows.to(torch.bfloat16)
    rows = rows.cpu()
    reference = gen.generate([rows.to(dtype)], PROMPT, steps, stop_ids=()).token_ids
    ref_logp = F.log_softmax(step_logits(gen, rows.to(dtype), reference), dim=-1)
    out: dict[str, dict[str, float]] = {}
    for codec in TOKEN_CODECS:
        back, _ = stored(rows, codec)
        logp = F.log_softmax(step_logits(gen, back.to(dtype), reference), dim=-1)
        kl = (ref_logp.exp() * (ref_logp - logp)).sum(dim=-1)  # (steps,)
        free = gen.generate([back.to(dtype)], PROMPT, steps, stop_ids=()).token_ids
        out[codec] = {
            "rel_rms": rel_rms(rows, back)[0],
            "kl_mean": kl.mean().item(),
            "kl_max": kl.max().item(),
            "agree": (logp.argmax(-1) == ref_logp.argmax(-1)).float().mean().item(),
            "free_same": sum(a == b for a, b in zip(free, reference, strict=True)) / steps,
        }
    return out


def per_mode(width: int = 1191, height: int = 1684) -> list[tuple[str, int, dict[str, int]]]:
    """Stored (zstd) bytes of one A4 page (144 dpi) per mode and codec, random rows of the real width."""
    out = []
    for mode in ("tiny", "small", "base", "large", "gundam"):
        n_rows = token_rows(mode, width, height)
        gen = torch.Generator().manual_seed(n_rows)
        scale = torch.logspace(-2, 1, n_rows)[torch.randperm(n_rows, generator=gen)].unsqueeze(1)
        x = (torch.randn(n_rows, HIDDEN, generator=gen) * scale).to(torch.bfloat16)
        out.append((mode, n_rows, {codec: stored(x, codec)[1]["packed"] for codec in TOKEN_CODECS}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=64, help="greedy steps compared on the decoder")
    parser.add_argument(
        "--decoder", choices=["tiny", "real", "real-smoke"], default="tiny", help="decoder of the drift table"
    )
    parser.add_argument("--device", default="cpu", help="torch device of the real-shape decoder")
    args = parser.parse_args()
    x = real_shape_rows()
    raw = ROWS * HIDDEN * 2
    print(f"Base page ({ROWS} x {HIDDEN} bf16, raw {raw:,} bytes), random rows at real shape")
    print(
        "| codec | payload bytes | stored bytes (zstd) | base64 chars | vs raw bf16 | rel. RMS | worst row |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for codec in TOKEN_CODECS:
        back, size = stored(x, codec)
        whole, worst = rel_rms(x, back)
        print(
            f"| {codec} | {size['payload']:,} | {size['packed']:,} | {size['base64']:,} | "
            f"{size['packed'] / raw:.3f} | {whole:.2e} | {worst:.2e} |"
        )
    print("\nStored token bytes per million A4 pages (144 dpi), GB after zstd (Milvus keeps base64: x 4/3)")
    print("| mode | rows | " + " | ".join(TOKEN_CODECS) + " |")
    print("|---|---:|" + "---:|" * len(TOKEN_CODECS))
    for mode, n_rows, sizes in per_mode():
        cells = " | ".join(f"{sizes[c] * 1e6 / 1e9:,.0f}" for c in TOKEN_CODECS)
        print(f"| {mode} | {n_rows} | {cells} |")
    drift = decoder_drift(args.steps, args.decoder, args.device)
    what = {
        "tiny": "Tiny random DeepSeek-OCR v1 (CPU, fp32, hidden 64)",
        "real": f"DeepSeek-OCR v1 at the released shapes, random weights ({args.device}, bf16)",
        "real-smoke": f"tiny config through the real-shape path ({args.device}, bf16)",
    }[args.decoder]
    print(f"\n{what}, a Base page stored as bf16, {args.steps} greedy steps vs the lossless rows")
    print(
        "| codec | rel. RMS (model rows) | KL mean | KL max | argmax agreement (teacher-forced) | "
        "free greedy tokens equal |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for codec, m in drift.items():
        print(
            f"| {codec} | {m['rel_rms']:.2e} | {m['kl_mean']:.2e} | {m['kl_max']:.2e} | "
            f"{m['agree']:.3f} | {m['free_same']:.3f} |"
        )


if __name__ == "__main__":
    main()
