"""DeepEncoder v1: SAM ViT-B (windowed attention, decomposed relative positions) -> neck -> two stride-2
convs (256 -> 512 -> 1024, the 16x token compressor) -> CLIP-L over those tokens (+ CLS) -> [CLIP, SAM] = 2048
per token.

The SAM half is transformers' `DeepseekOcr2SamVisionEncoder` unchanged (v1 differs from OCR-2 only in the
compressor width, a config value); the CLIP half is `encoder.deepencoder_clip.SamClipEncoder`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.modeling_outputs import ModelOutput
from transformers.models.deepseek_ocr2.modeling_deepseek_ocr2 import DeepseekOcr2SamVisionEncoder

from encoder.deepencoder_clip import SamClipEncoder
from encoder.deepseek_ocr_config import DeepseekOcrVisionConfig
from encoder.pretrained import DeepseekOcrPreTrainedModel


@dataclass
class DeepEncoderOutput(ModelOutput):
    """last_hidden_state: (B, h*w, clip_hidden + sam_channels) in row-major grid order; grid: (h, w)."""

    last_hidden_state: torch.Tensor | None = None
    grid: tuple[int, int] | None = None


class DeepEncoderV1(DeepseekOcrPreTrainedModel):
    """The v1 vision tower. Input: normalised views (B, 3, S, S), S a multiple of the SAM patch size."""

    config: DeepseekOcrVisionConfig  # type: ignore[assignment]
    _no_split_modules = ["DeepseekOcr2SamVisionLayer", "CLIPEncoderLayer"]

    def __init__(self, config: DeepseekOcrVisionConfig):
        super().__init__(config)
        self.sam_encoder = DeepseekOcr2SamVisionEncoder(config.sam)
        self.clip_encoder = SamClipEncoder(config.clip)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, **kwargs) -> DeepEncoderOutput:
        """pixel_values: (B, 3, S, S) -> DeepEncoderOutput((B, h*w, 2048), (h, w)), h = w = S/patch/4."""
        sam = self.sam_encoder(pixel_values).last_hidden_state  # (B, 1024, h, w)
        height, width = sam.shape[-2:]
        clip = self.clip_encoder(sam).last_hidden_state  # (B, 1 + h*w, 1024), CLS first
        sam_tokens = sam.flatten(2).transpose(1, 2)  # (B, h*w, 1024)
        tokens = torch.cat([clip[:, 1:], sam_tokens.to(clip.dtype)], dim=-1)  # (B, h*w, 2048): CLIP first
        return DeepEncoderOutput(last_hidden_state=tokens, grid=(int(height), int(width)))
