"""DeepSeek-OCR v1 as a transformers model: `DeepseekOcr2ForConditionalGeneration` with DeepEncoder v1.

Everything but the vision side is inherited unchanged from transformers' DeepSeek-OCR-2 classes: the
DeepSeek-3B-MoE decoder (`DeepseekOcr2TextModel`), the `<image>` placeholder check, the `masked_scatter` of
image rows, `forward`, generation. So the decoder drives both backends the same way:

- pixel path:  `model(input_ids, pixel_values=..., pixel_values_local=..., num_local_patches=...)`
- stored path: `model(inputs_embeds=encoder.layout.merge_image_rows(model, input_ids, rows))` (any version),
  or on transformers >= 5.23
  `model(input_ids, mm_encoder_outputs={"image": BaseModelOutputWithPooling(pooler_output=rows)})`.

The one contract difference: v1 lays Gundam tiles out on their grid, so `num_local_patches` carries the tile
layout per image as `(across, down)` pairs (shape (B, 2)) instead of OCR-2's bare counts.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from transformers.models.deepseek_ocr2.modeling_deepseek_ocr2 import (
    DeepseekOcr2ForConditionalGeneration,
    DeepseekOcr2Model,
    DeepseekOcr2ModelOutputWithPooling,
    DeepseekOcr2PreTrainedModel,
    DeepseekOcr2TextModel,
)
from transformers.utils import can_return_tuple

from encoder.deepencoder import DeepEncoderV1
from encoder.deepseek_ocr_config import DeepseekOcrConfig
from encoder.layout import v1_image_rows
from encoder.pretrained import DeepseekOcrPreTrainedModel


def tile_layouts(num_local_patches: torch.Tensor | Sequence | None, batch: int) -> list[tuple[int, int]]:
    """Per image (across, down) from `num_local_patches`; (0, 0) = no tiles.

    Accepts None, (B, 2) pairs, or OCR-2 style counts when they are all 0 (a count alone cannot place tiles).
    """
    if num_local_patches is None:
        return [(0, 0)] * batch
    layouts = torch.as_tensor(num_local_patches, dtype=torch.long).cpu()
    if layouts.ndim == 1:
        if bool((layouts == 0).all()):
            return [(0, 0)] * batch
        raise ValueError(
            "DeepSeek-OCR v1 lays tiles out on their grid: pass num_local_patches as (across, down) "
            "per image, "
            "shape (B, 2), not tile counts"
        )
    if layouts.shape != (batch, 2):
        raise ValueError(f"num_local_patches must have shape ({batch}, 2), got {tuple(layouts.shape)}")
    return [(int(a), int(d)) for a, d in layouts.tolist()]


class DeepseekOcrModel(DeepseekOcrPreTrainedModel, DeepseekOcr2Model):
    """Differs from DeepseekOcr2Model in the vision side only: DeepEncoder v1 instead of SAM + Qwen2 queries,
    a 2048 -> hidden projector, and a learned `image_newline` after every token-grid row."""

    config: DeepseekOcrConfig

    def __init__(self, config: DeepseekOcrConfig):
        # Skips DeepseekOcr2Model.__init__ on purpose: it would build OCR-2's Qwen2 query encoder.
        DeepseekOcr2PreTrainedModel.__init__(self, config)
        text_hidden = config.text.hidden_size
        self.vision_tower = DeepEncoderV1(config.vision)  # type: ignore[assignment]
        self.multi_modal_projector = nn.Linear(config.vision.hidden_size, text_hidden)
        self.vocab_size = config.text.vocab_size
        self.language_model = DeepseekOcr2TextModel(config.text)
        self.image_newline = nn.Parameter(torch.empty(text_hidden))
        self.view_separator = nn.Parameter(torch.empty(text_hidden))  # `view_seperator` in the checkpoint
        self.post_init()

    @can_return_tuple
    def get_image_features(
        self,
        pixel_values: torch.Tensor,
        pixel_values_local: torch.Tensor | None = None,
        num_local_patches: torch.Tensor | Sequence | None = None,
        **kwargs,
    ) -> DeepseekOcr2ModelOutputWithPooling:
        """Encode pages into the rows injected at their `<image>` positions.

        Args:
            pixel_values: (B, 3, S, S) global views, normalised with mean 0.5 / std 0.5.
            pixel_values_local: (T, 3, t, t) all Gundam tiles of the batch, page by page, row-major; or None.
            num_local_patches: (B, 2) tile layout (across, down) per page, (0, 0) for none; or None.
        Returns:
            pooler_output: list of B tensors (n_rows_i, hidden) — tiles, global view, separator;
            last_hidden_state: (B, h*w, hidden) projected global-view tokens (no layout rows);
            local_last_hidden_state: (T, th*tw, hidden) projected tile tokens, or None.
        """
        batch = pixel_values.shape[0]
        layouts = tile_layouts(num_local_patches, batch)
        counts = [a * d for a, d in layouts]
        if sum(counts) and pixel_values_local is None:
            raise ValueError("num_local_patches announces tiles but pixel_values_local is None")
        if pixel_values_local is not None and pixel_values_local.shape[0] != sum(counts):
            raise ValueError(
                f"pixel_values_local has {pixel_values_local.shape[0]} tiles, layouts say {sum(counts)}"
            )

        encoded = self.vision_tower(pixel_values)
        global_tokens = self.multi_modal_projector(encoded.last_hidden_state)  # (B, h*w, hidden)
        tiles: Sequence[torch.Tensor | None] = [None] * batch
        tile_tokens, tile_grid = None, None
        if sum(counts):
            encoded_tiles = self.vision_tower(pixel_values_local)
            tile_tokens = self.multi_modal_projector(encoded_tiles.last_hidden_state)  # (T, th*tw, hidden)
            tile_grid = encoded_tiles.grid
            tiles = torch.split(tile_tokens, counts, dim=0)

        rows = [
            v1_image_rows(
                global_tokens[i],
                encoded.grid,
                self.image_newline,
                self.view_separator,
                tiles=tiles[i],
                tile_grid=tile_grid,
                layout=layouts[i],
            )
            for i in range(batch)
        ]
        return DeepseekOcr2ModelOutputWithPooling(
            last_hidden_state=global_tokens,
            pooler_output=rows,  # type: ignore[arg-type]  # a list per page, as DeepseekOcr2Model returns
            local_last_hidden_state=tile_tokens,
        )


class DeepseekOcrForConditionalGeneration(DeepseekOcrPreTrainedModel, DeepseekOcr2ForConditionalGeneration):
    """Differs from DeepseekOcr2ForConditionalGeneration only in building `DeepseekOcrModel`; the LM head,
    forward and generation are inherited."""

    config: DeepseekOcrConfig

    def __init__(self, config: DeepseekOcrConfig):
        DeepseekOcr2PreTrainedModel.__init__(self, config)
        self.model = DeepseekOcrModel(config)
        self.lm_head = nn.Linear(config.text.hidden_size, config.text.vocab_size, bias=False)
        self.post_init()
