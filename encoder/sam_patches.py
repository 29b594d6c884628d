"""SAM's patch embedding as one matrix multiply, same parameters, swapped in place.

The embedding is a 16 x 16 convolution with stride 16 over the 3 colour channels: each output position
reads exactly its own patch, so it equals cutting the image into patches, flattening each to 3 * 16 * 16
values and multiplying by the kernel flattened the same way. On an H100 cuDNN ran the convolution (3 input
channels: no tensor-core layout) as `implicit_convolve_sgemm`, 9.3 ms of a compiled Base batch of 32 that
took 126 ms (docs/BENCHMARKS.md); as a GEMM the same 4.8 GFLOP a page are what the SAM layers' matmuls do.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.models.deepseek_ocr2.modeling_deepseek_ocr2 import DeepseekOcr2SamPatchEmbeddings

from encoder.sam_attention import swap_exact_class


class SamPatchMatmul(DeepseekOcr2SamPatchEmbeddings):
    """(B, C, H, W) pixels -> (B, H / p, W / p, hidden) as transformers' patch embedding returns them."""

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        conv = self.projection
        (ph, pw), (sh, sw) = conv.kernel_size, conv.stride
        if (ph, pw) != (sh, sw) or conv.padding != (0, 0):  # not a patch cutter: the convolution itself
            return super().forward(pixel_values)
        batch, channels, height, width = pixel_values.shape
        rows, cols = height // ph, width // pw  # a convolution drops a remainder narrower than a patch too
        patches = (
            pixel_values[:, :, : rows * ph, : cols * pw]
            .reshape(batch, channels, rows, ph, cols, pw)
            .permute(0, 2, 4, 1, 3, 5)  # (B, rows, cols, C, ph, pw): the kernel's (C, kh, kw) order
            .reshape(batch, rows, cols, channels * ph * pw)
        )
        return nn.functional.linear(patches, conv.weight.reshape(conv.out_channels, -1), conv.bias)


def use_patch_matmul(model: nn.Module) -> int:
    """Swap every SAM patch embedding under `model` to SamPatchMatmul (same parameters, in place).

    Returns:
        How many modules were swapped.
    """
    return swap_exact_class(model, DeepseekOcr2SamPatchEmbeddings, SamPatchMatmul)
