"""The encoder as a Hopper GPU build runs it — folded SAM attention with unpadded values, the patch
embedding as a matmul, towers under torch.compile with full batches — on the CPU: the same rows as the
reference encoder within float rounding. The GPU's cuDNN kernel is stood in for by the math backend, the one
of the CPU that takes a value head dim unlike the query's."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn.attention import SDPBackend

from encoder import sam_attention, vision
from encoder.sam_attention import SamFoldedAttention
from encoder.sam_patches import SamPatchMatmul
from encoder.vision import DeepseekOcrEncoder
from tests.encoder.helpers import page
from tests.encoder.test_sam_attention import tiny


def test_the_compiled_gpu_configuration_gives_the_reference_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny(4)
    reference = DeepseekOcrEncoder(copy.deepcopy(model), batch_size=4, workers=1)
    monkeypatch.setattr(vision, "fast_value_backend", lambda device: SDPBackend.MATH)
    gpu_like = DeepseekOcrEncoder(model, batch_size=4, workers=1, folded_attention=True, patch_matmul=True)
    sam = model.model.vision_tower.sam_encoder
    folded = [m for m in sam.modules() if isinstance(m, SamFoldedAttention)]
    assert folded and all(m.value_kernel is sam_attention._math_values for m in folded)
    assert any(isinstance(m, SamPatchMatmul) for m in sam.modules())
    gpu_like.compile()
    pages = [page(1400, 900, seed=s) for s in range(3)]  # a short batch: padded to 4 once compiled
    want = reference.encode(pages)
    got = gpu_like.encode(pages)
    assert len(got) == len(want) == 3
    for a, b in zip(got, want, strict=True):
        assert a.rows.shape == b.rows.shape
        torch.testing.assert_close(a.rows, b.rows, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(a.pooled, b.pooled, rtol=1e-4, atol=1e-4)
