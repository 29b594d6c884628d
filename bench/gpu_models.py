"""The models bench/gpu.py times: DeepSeek-OCR v1 (our encoder/) and OCR-2 (transformers) with random weights
at the real shapes (or tiny ones for the CPU smoke test), and a word-level stand-in tokenizer."""

from __future__ import annotations

import zlib

import torch


class StandInTokenizer:
    """Word-level stand-in for the DeepSeek-OCR vocabulary: stable ids per word, the real special ids."""

    def __init__(self, image_token_id: int, vocab_size: int) -> None:
        self.image_token_id, self.vocab_size = image_token_id, vocab_size
        self.bos_token_id, self.eos_token_id, self.pad_token_id = 0, 1, 2

    def encode(self, text: str) -> list[int]:
        low = 16  # keep clear of the special ids
        return [low + zlib.crc32(w.encode()) % (self.vocab_size - low - 1) for w in text.split()]

    def decode(self, ids: list[int]) -> str:
        return " ".join(map(str, ids))

    def token_id(self, token: str) -> int | None:
        return None


def build(cls: type, config: object, device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # initialise straight in bf16 on the device: no fp32 CPU copy of 3B params
    try:
        with device:
            model = cls(config)
    finally:
        torch.set_default_dtype(previous)
    model = model.to(device=device, dtype=dtype).eval()
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation("sdpa")
    from encoder.checkpoint import keep_fp32_tensors

    keep_fp32_tensors(model)  # the MoE routers stay float32, as the product loads them
    # SAM's relative-position tables start at zero, a checkpoint's do not: random ones make row checks count.
    for module in model.modules():
        if getattr(module, "use_rel_pos", False) and hasattr(module, "rel_pos_h"):
            torch.nn.init.normal_(module.rel_pos_h, std=0.1)
            torch.nn.init.normal_(module.rel_pos_w, std=0.1)
    return model


def ocr2_config(tiny: bool):
    from transformers import DeepseekOcr2Config

    if tiny:  # the project's tiny OCR-2 (real pixel sizes and query counts, tiny widths)
        from encoder.tiny import tiny_deepseek_ocr2_config

        return tiny_deepseek_ocr2_config()
    # The released DeepSeek-OCR-2: SAM ViT-B (compressor to 896 ch), Qwen2-0.5B-shaped query encoder,
    # DeepSeek-3B-MoE decoder.
    sam = dict(downsample_channels=[512, 896])
    enc = dict(
        hidden_size=896,
        intermediate_size=4864,
        num_hidden_layers=24,
        num_attention_heads=14,
        num_key_value_heads=2,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
    )
    text = dict(
        vocab_size=129280,
        hidden_size=1280,
        intermediate_size=6848,
        moe_intermediate_size=896,
        num_hidden_layers=12,
        num_attention_heads=10,
        num_key_value_heads=10,
        n_routed_experts=64,
        num_experts_per_tok=6,
        n_shared_experts=2,
        n_group=1,
        topk_group=1,
        topk_method="greedy",
        max_position_embeddings=8192,
        bos_token_id=0,
        eos_token_id=1,
        mlp_layer_types=["dense"] + ["sparse"] * 11,
    )
    return DeepseekOcr2Config(
        vision_config={"sam_config": sam, "encoder_config": enc}, text_config=text, image_token_id=128815
    )


def load_v1(tiny: bool):
    """(model class, config) of DeepSeek-OCR v1 from encoder/, or (None, reason)."""
    try:
        from encoder.deepseek_ocr import DeepseekOcrForConditionalGeneration
        from encoder.deepseek_ocr_config import DeepseekOcrConfig

        return (
            DeepseekOcrForConditionalGeneration,
            DeepseekOcrConfig.tiny() if tiny else DeepseekOcrConfig(),
        ), ""
    except Exception as exc:  # the encoder package is built concurrently; any failure means "not ready"
        return None, f"{type(exc).__name__}: {exc}"


def set_sam_attention(model: torch.nn.Module, variant: str) -> None:
    """Every SAM attention module of `model` to one variant, in place (the same parameters): "sdpa"
    (transformers' dense relative-position bias, its gather index on the device), "folded" (the encoder's GPU
    default) or "flex" (encoder/sam_attention.py)."""
    from encoder.sam_attention import (
        SamFlexAttention,
        SamFoldedAttention,
        SamSdpaAttention,
        swap_sam_attention,
    )

    cls = {"sdpa": SamSdpaAttention, "folded": SamFoldedAttention, "flex": SamFlexAttention}[variant]
    swap_sam_attention(model, cls)


def product_attention(device: torch.device) -> str:
    """The SAM attention `DeepseekOcrEncoder` runs on `device`."""
    return "folded" if device.type == "cuda" else "sdpa"
