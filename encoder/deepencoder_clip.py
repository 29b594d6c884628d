"""CLIP-L of DeepEncoder v1: a CLIP vision transformer whose patch embeddings are the SAM features.

Reuses transformers' `CLIPVisionEmbeddings` (parameters) and `CLIPEncoderLayer` (the blocks, unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import CLIPVisionConfig
from transformers.modeling_outputs import ModelOutput
from transformers.models.clip.modeling_clip import CLIPEncoderLayer, CLIPVisionEmbeddings

from encoder.pretrained import DeepseekOcrPreTrainedModel


@dataclass
class SamClipOutput(ModelOutput):
    """last_hidden_state: (B, 1 + h*w, clip_hidden), the CLS token first."""

    last_hidden_state: torch.Tensor | None = None


class SamFedClipEmbeddings(CLIPVisionEmbeddings):
    """Differs from CLIPVisionEmbeddings because the patch embeddings arrive from SAM (the conv
    `patch_embedding` is kept only so the checkpoint loads whole) and the position grid is resized with
    antialiased bicubic interpolation in float32, as the released model was trained."""

    def interpolated_positions(self, height: int, width: int) -> torch.Tensor:
        """Position embeddings for a height x width token grid plus CLS: (1 + height*width, C)."""
        table = self.position_embedding.weight  # (1 + n*n, C)
        side = int(round((table.shape[0] - 1) ** 0.5))
        if (height, width) == (side, side):
            return table
        cls_pos, grid_pos = table[:1], table[1:]
        grid_pos = grid_pos.reshape(1, side, side, -1).permute(0, 3, 1, 2).float()  # (1, C, n, n)
        grid_pos = F.interpolate(
            grid_pos, size=(height, width), mode="bicubic", antialias=True, align_corners=False
        )
        grid_pos = grid_pos.to(table.dtype).permute(0, 2, 3, 1).reshape(height * width, -1)  # (h*w, C)
        return torch.cat([cls_pos, grid_pos], dim=0)

    def forward(self, patch_embeds: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """patch_embeds: (B, C, h, w) SAM features -> (B, 1 + h*w, C)."""
        batch, _, height, width = patch_embeds.shape
        tokens = patch_embeds.flatten(2).transpose(1, 2)  # (B, h*w, C)
        cls = self.class_embedding.to(tokens.dtype).expand(batch, 1, -1)  # (B, 1, C)
        embeddings = torch.cat([cls, tokens], dim=1)  # (B, 1 + h*w, C)
        return embeddings + self.interpolated_positions(height, width).to(embeddings.dtype)


class SamClipEncoder(DeepseekOcrPreTrainedModel):
    """Embeddings -> pre-LayerNorm -> CLIP encoder layers. Differs from CLIPVisionTransformer because the
    released model has no post-LayerNorm and no pooling head: every token of the last layer is used.
    A PreTrainedModel (not a bare Module) so the attention implementation is dispatched to its config."""

    config: CLIPVisionConfig  # type: ignore[assignment]
    _no_split_modules = ["CLIPEncoderLayer"]

    def __init__(self, config: CLIPVisionConfig):
        super().__init__(config)
        self.embeddings = SamFedClipEmbeddings(config)
        self.pre_layrnorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)  # (sic), as in CLIP
        self.layers = nn.ModuleList([CLIPEncoderLayer(config) for _ in range(config.num_hidden_layers)])
        self.post_init()

    def forward(self, sam_features: torch.Tensor) -> SamClipOutput:
        """sam_features: (B, C, h, w) -> SamClipOutput(last_hidden_state (B, 1 + h*w, C))."""
        hidden = self.pre_layrnorm(self.embeddings(sam_features))  # (B, 1 + h*w, C)
        for layer in self.layers:
            hidden = layer(hidden, None)  # bidirectional: no mask
        return SamClipOutput(last_hidden_state=hidden)
