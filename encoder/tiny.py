"""Tiny random models from the real config classes and a tiny offline tokenizer (tests, `vtrag model check`).

Both tiny backends share one decoder shape (hidden 64, 2 layers: dense then MoE with 4 experts top-2,
vocab 128) and the tokenizer below, whose `<image>` id (3) is their `image_token_id`.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedTokenizerFast
from transformers.models.deepseek_ocr2.configuration_deepseek_ocr2 import (
    DeepseekOcr2Config,
    DeepseekOcr2SamVisionConfig,
    DeepseekOcr2TextConfig,
    DeepseekOcr2VisionConfig,
    DeepseekOcr2VisionEncoderConfig,
)
from transformers.models.deepseek_ocr2.modeling_deepseek_ocr2 import DeepseekOcr2ForConditionalGeneration

from encoder.deepseek_ocr import DeepseekOcrForConditionalGeneration
from encoder.deepseek_ocr_config import DeepseekOcrConfig

BOS, EOS, UNK, PAD = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<unk>", "<pad>"
# Order fixes the ids: <image> = 3 as in DeepseekOcrConfig.tiny(); the rest are the prompt/grounding tokens.
TINY_SPECIAL_TOKENS = [
    BOS,
    EOS,
    UNK,
    "<image>",
    "<|grounding|>",
    "<|ref|>",
    "<|/ref|>",
    "<|det|>",
    "<|/det|>",
    "<td>",
    "</td>",
    PAD,
]
TINY_IMAGE_TOKEN_ID = 3


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """Character-level tokenizer: the special tokens above, then printable ASCII and newline (108 ids)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    symbols = TINY_SPECIAL_TOKENS + [chr(c) for c in range(32, 127)] + ["\n"]
    vocab = {tok: i for i, tok in enumerate(symbols)}
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens(TINY_SPECIAL_TOKENS)
    return PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token=BOS, eos_token=EOS, unk_token=UNK, pad_token=PAD
    )


def _tiny_text() -> DeepseekOcr2TextConfig:
    return DeepseekOcrConfig.tiny().text


def tiny_deepseek_ocr(seed: int = 0) -> DeepseekOcrForConditionalGeneration:
    """Random v1 model built from `DeepseekOcrConfig.tiny()` (float32, eval mode)."""
    torch.manual_seed(seed)
    return DeepseekOcrForConditionalGeneration(DeepseekOcrConfig.tiny()).eval()


def tiny_deepseek_ocr2_config() -> DeepseekOcr2Config:
    """OCR-2 at real pixel sizes (its query counts, 256 global / 144 per tile, are fixed by the architecture),
    with a 2-layer 32-wide SAM, a 2-layer 64-wide Qwen2 query encoder and the tiny decoder."""
    sam = DeepseekOcr2SamVisionConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=1024,
        patch_size=16,
        output_channels=16,
        window_size=8,
        global_attn_indexes=[1],
        downsample_channels=[32, 64],
        mlp_dim=64,
        initializer_range=0.02,
    )
    queries = DeepseekOcr2VisionEncoderConfig(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
    )
    return DeepseekOcr2Config(
        vision_config=DeepseekOcr2VisionConfig(sam_config=sam, encoder_config=queries),
        text_config=_tiny_text(),
        image_token_id=TINY_IMAGE_TOKEN_ID,
    )


def tiny_deepseek_ocr2(seed: int = 0) -> DeepseekOcr2ForConditionalGeneration:
    """Random transformers-native DeepSeek-OCR-2 model from `tiny_deepseek_ocr2_config()` (float32, eval)."""
    torch.manual_seed(seed)
    return DeepseekOcr2ForConditionalGeneration(tiny_deepseek_ocr2_config()).eval()
