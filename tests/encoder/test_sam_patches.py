"""SAM's patch embedding as one matmul gives the convolution's rows (float32, CPU)."""

from __future__ import annotations

import copy

import pytest
import torch
from transformers.models.deepseek_ocr2.modeling_deepseek_ocr2 import DeepseekOcr2SamPatchEmbeddings

from encoder.sam_patches import SamPatchMatmul, use_patch_matmul
from encoder.vision import DeepseekOcrEncoder
from tests.encoder.helpers import page
from tests.encoder.test_sam_attention import assert_same_rows, rel_error, tiny


@pytest.mark.parametrize("mode", ["base", "gundam"])
def test_patch_matmul_rows_equal_the_convolution(mode):
    reference = tiny(3)
    swapped = copy.deepcopy(reference)
    assert use_patch_matmul(swapped) == 1 and use_patch_matmul(swapped) == 0
    assert_same_rows(reference, swapped, mode)


def test_patch_matmul_equals_the_convolution_on_odd_sizes():
    torch.manual_seed(0)
    module = next(m for m in tiny(3).modules() if isinstance(m, DeepseekOcr2SamPatchEmbeddings))
    pixels = torch.randn(2, 3, 70, 45)  # remainders narrower than a patch are dropped, as by the conv
    want = module(pixels)
    module.__class__ = SamPatchMatmul
    got = module(pixels)
    assert got.shape == want.shape and torch.allclose(got, want, atol=1e-5)


def test_encoder_option_swaps_the_patch_embedding_and_keeps_the_rows():
    reference = tiny(3)
    plain = DeepseekOcrEncoder(copy.deepcopy(reference), mode="base", workers=1)  # a CPU: off by default
    swapped = DeepseekOcrEncoder(copy.deepcopy(reference), mode="base", workers=1, patch_matmul=True)
    assert any(isinstance(m, SamPatchMatmul) for m in swapped.model.modules())
    assert not any(isinstance(m, SamPatchMatmul) for m in plain.model.modules())
    image = page(1240, 1754)
    a, b = swapped.encode([image])[0], plain.encode([image])[0]
    assert rel_error(a.rows, b.rows) < 1e-5 and torch.allclose(a.pooled, b.pooled, atol=1e-5)
