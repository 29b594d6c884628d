"""Base class of the v1 modules: transformers' DeepSeek-OCR-2 base + the init v1's own parameters need."""

from __future__ import annotations

import math

import torch
from transformers import initialization as init
from transformers.models.clip.modeling_clip import CLIPVisionEmbeddings
from transformers.models.deepseek_ocr2.modeling_deepseek_ocr2 import DeepseekOcr2PreTrainedModel


class DeepseekOcrPreTrainedModel(DeepseekOcr2PreTrainedModel):
    """Differs from DeepseekOcr2PreTrainedModel because v1 adds parameters OCR-2 lacks (CLIP's class and
    position embeddings, `image_newline`), which need their own initialisation."""

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, CLIPVisionEmbeddings):
            init.normal_(module.class_embedding, mean=0.0, std=module.embed_dim**-0.5)
            init.normal_(module.position_embedding.weight, mean=0.0, std=0.02)
        newline = getattr(module, "image_newline", None)
        if isinstance(newline, torch.nn.Parameter):
            init.normal_(newline, mean=0.0, std=1 / math.sqrt(newline.shape[-1]))
