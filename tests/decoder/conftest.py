"""Tiny real-config models and a tiny word-level vocabulary: no downloads, CPU, fp32."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer as HFTokenizers
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from transformers import DeepseekOcr2Config, DeepseekOcr2ForConditionalGeneration

from decoder.tokenizer import BOS_TOKEN, EOS_TOKEN, IMAGE_TOKEN, PAD_TOKEN, Tokenizer

SPECIALS = [
    BOS_TOKEN,
    EOS_TOKEN,
    PAD_TOKEN,
    "<unk>",
    "<|grounding|>",
    IMAGE_TOKEN,
    "<|ref|>",
    "<|/ref|>",
    "<|det|>",
    "<|/det|>",
    "<td>",
    "</td>",
    "<tr>",
    "</tr>",
]
WORDS = [
    "Convert",
    "the",
    "document",
    "to",
    "markdown",
    ".",
    "Free",
    "OCR",
    "Parse",
    "figure",
    "Locate",
    "in",
    "image",
    "Page",
    "(",
    ")",
    ":",
    "[",
    "]",
    ",",
    "Answer",
    "question",
    "using",
    "only",
    "pages",
    "above",
    "After",
    "each",
    "fact",
    "cite",
    "it",
    "comes",
    "from",
    "square",
    "brackets",
    "e",
    "g",
    "Question",
    "What",
    "is",
    "total",
    "?",
    "report",
    "pdf",
    "p",
    "1",
    "2",
    "3",
    "4",
    "5",
    "title",
    "text",
]
VOCAB = {tok: i for i, tok in enumerate(dict.fromkeys(SPECIALS + WORDS))}
VOCAB_SIZE = 96
IMAGE_ID = VOCAB[IMAGE_TOKEN]
assert len(VOCAB) <= VOCAB_SIZE


def make_tokenizer() -> Tokenizer:
    raw = HFTokenizers(WordLevel(VOCAB, unk_token="<unk>"))
    raw.pre_tokenizer = Whitespace()
    raw.add_special_tokens(SPECIALS)
    return Tokenizer(raw)


def make_tiny_model(seed: int = 0) -> DeepseekOcr2ForConditionalGeneration:
    """OCR-2 at hidden 32, 2 layers, 4 experts top-2, 128 px images (4 SAM patches -> 144 queries + sep)."""
    config = DeepseekOcr2Config(
        vision_config={
            "sam_config": {
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "image_size": 128,
                "window_size": 4,
                "global_attn_indexes": [1],
                "output_channels": 16,
                "downsample_channels": [32, 48],
                "mlp_dim": 64,
            },
            "encoder_config": {
                "hidden_size": 48,
                "intermediate_size": 64,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "num_key_value_heads": 1,
            },
        },
        text_config={
            "vocab_size": VOCAB_SIZE,
            "hidden_size": 32,
            "intermediate_size": 64,
            "moe_intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "n_routed_experts": 4,
            "num_experts_per_tok": 2,
            "n_shared_experts": 1,
            "mlp_layer_types": ["dense", "sparse"],
            "bos_token_id": VOCAB[BOS_TOKEN],
            "eos_token_id": VOCAB[EOS_TOKEN],
            "pad_token_id": VOCAB[PAD_TOKEN],
        },
        image_token_id=IMAGE_ID,
    )
    torch.manual_seed(seed)
    return DeepseekOcr2ForConditionalGeneration(config).eval()


@pytest.fixture(scope="session")
def tokenizer() -> Tokenizer:
    return make_tokenizer()


@pytest.fixture(scope="session")
def tiny_model() -> DeepseekOcr2ForConditionalGeneration:
    return make_tiny_model()
