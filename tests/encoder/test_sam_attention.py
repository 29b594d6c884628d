"""SAM attention with its relative positions inside FlexAttention, or folded into the query/key channels,
gives the reference rows (float32, CPU)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn.attention import SDPBackend
from transformers.models.deepseek_ocr2.modeling_deepseek_ocr2 import DeepseekOcr2SamVisionAttention

from encoder import modes
from encoder.deepseek_ocr import DeepseekOcrForConditionalGeneration
from encoder.deepseek_ocr_config import DeepseekOcrConfig
from encoder.pixels import v1_inputs
from encoder.sam_attention import (
    SamFlexAttention,
    SamFoldedAttention,
    fast_value_backend,
    use_flex_attention,
    use_folded_attention,
    use_unpadded_values,
)
from encoder.vision import DeepseekOcrEncoder
from tests.encoder.helpers import page


def tiny(window: int) -> DeepseekOcrForConditionalGeneration:
    config = DeepseekOcrConfig.tiny()
    config.vision.sam.window_size = window  # 3 does not divide the grids: windows are padded, as at 1024 px
    torch.manual_seed(0)
    model = DeepseekOcrForConditionalGeneration(config).eval()
    for module in model.modules():  # the tables start at zero; a checkpoint's are not
        if isinstance(module, DeepseekOcr2SamVisionAttention) and module.use_rel_pos:
            torch.nn.init.normal_(module.rel_pos_h, std=0.5)
            torch.nn.init.normal_(module.rel_pos_w, std=0.5)
    return model


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


Model = DeepseekOcrForConditionalGeneration


def assert_same_rows(reference: Model, swapped: Model, mode: str) -> None:
    inputs = v1_inputs([modes.make_views(page(1400, 900, seed=s), mode) for s in range(2)])
    with torch.inference_mode():
        want = reference.model.get_image_features(**inputs).pooler_output
        got = swapped.model.get_image_features(**inputs).pooler_output
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape and rel_error(a, b) < 1e-5


@pytest.mark.parametrize("window", [4, 3])
@pytest.mark.parametrize("mode", ["tiny", "base", "gundam"])
def test_flex_rows_equal_the_reference(window, mode):
    reference = tiny(window)
    fused = copy.deepcopy(reference)
    assert use_flex_attention(fused) == 2  # one windowed and one global layer
    assert_same_rows(reference, fused, mode)


def test_swap_and_swap_back():
    model = tiny(4)
    attention = [m for m in model.modules() if isinstance(m, DeepseekOcr2SamVisionAttention)]
    before = [type(m) for m in attention]
    use_flex_attention(model)
    assert all(isinstance(m, SamFlexAttention) for m in attention)
    assert use_flex_attention(model) == 0  # already swapped
    assert use_flex_attention(model, enable=False) == 2
    assert [type(m) for m in attention] == before


@pytest.mark.parametrize(
    ("option", "swapped_class"),
    [("flex_attention", SamFlexAttention), ("folded_attention", SamFoldedAttention)],
)
def test_encoder_option_swaps_the_attention_and_keeps_the_rows(option, swapped_class):
    reference = tiny(3)
    plain = DeepseekOcrEncoder(copy.deepcopy(reference), mode="base", workers=1)  # a CPU: neither by default
    swapped = DeepseekOcrEncoder(copy.deepcopy(reference), mode="base", workers=1, **{option: True})
    assert any(isinstance(m, swapped_class) for m in swapped.model.modules())
    assert not any(isinstance(m, swapped_class) for m in plain.model.modules())
    image = page(1240, 1754)
    a, b = swapped.encode([image])[0], plain.encode([image])[0]
    assert rel_error(a.rows, b.rows) < 1e-5 and torch.allclose(a.pooled, b.pooled, atol=1e-5)


def test_device_index_swap_is_bit_identical():
    from encoder.sam_attention import SamSdpaAttention, use_device_rel_index

    reference = tiny(3)
    swapped = copy.deepcopy(reference)
    assert use_device_rel_index(swapped) == 2 and use_device_rel_index(swapped) == 0
    assert all(
        type(m) is SamSdpaAttention
        for m in swapped.modules()
        if isinstance(m, DeepseekOcr2SamVisionAttention)
    )
    inputs = v1_inputs([modes.make_views(page(1400, 900), "gundam")])
    with torch.inference_mode():
        want = reference.model.get_image_features(**inputs).pooler_output[0]
        got = swapped.model.get_image_features(**inputs).pooler_output[0]
    assert torch.equal(got, want)


@pytest.mark.parametrize("window", [4, 3])
@pytest.mark.parametrize("mode", ["base", "gundam"])
def test_folded_rows_equal_the_reference(window, mode):
    reference = tiny(window)
    folded = copy.deepcopy(reference)
    assert use_folded_attention(folded) == 2 and use_folded_attention(folded) == 0
    assert all(
        type(m) is SamFoldedAttention
        for m in folded.modules()
        if isinstance(m, DeepseekOcr2SamVisionAttention)
    )
    assert_same_rows(reference, folded, mode)


@pytest.mark.parametrize("window", [4, 3])
def test_folded_with_unpadded_values_equals_the_reference(window, monkeypatch):
    import encoder.sam_attention as sam_attention

    entered = []
    kernels = dict(sam_attention._UNPADDED_KERNELS)

    def spied(backend):
        def kernel(q, k, v):
            entered.append(backend)
            return kernels[backend](q, k, v)

        return kernel

    monkeypatch.setattr(sam_attention, "_UNPADDED_KERNELS", {b: spied(b) for b in kernels})

    # Never the process-wide backend switches (torch.nn.attention.sdpa_kernel): a build embeds text with
    # SDPA on another thread while the encoder runs.
    def switched(on):
        pytest.fail("SDPA backends switched for the whole process")

    for name in ("flash", "mem_efficient", "math", "cudnn"):
        monkeypatch.setattr(torch._C, f"_set_sdp_use_{name}", switched)
    reference = tiny(window)
    folded = copy.deepcopy(reference)
    use_folded_attention(folded)
    assert use_unpadded_values(folded, SDPBackend.MATH) == 2  # the CPU's backend that takes any value dim
    assert_same_rows(reference, folded, "base")
    assert entered and set(entered) == {SDPBackend.MATH}  # the named backend ran the folded layers
    # A backend without a kernel here (cuDNN on a CPU) falls back to padded values: the same rows.
    use_unpadded_values(folded, SDPBackend.CUDNN_ATTENTION)
    assert_same_rows(reference, folded, "base")
    assert SDPBackend.CUDNN_ATTENTION in entered
    use_unpadded_values(folded, None)  # back to padded values
    entered.clear()
    assert_same_rows(reference, folded, "base")
    assert entered == []


def test_compiled_folded_attention_with_unpadded_values_equals_the_reference():
    """What `vtrag index build --compile` runs on a Hopper GPU (there on cuDNN, here on the CPU's math
    backend): dynamo traces the module's kernel without guarding on the backend it came from."""
    reference = tiny(4)
    compiled = copy.deepcopy(reference)
    use_folded_attention(compiled)
    use_unpadded_values(compiled, SDPBackend.MATH)
    compiled.model.vision_tower.sam_encoder.compile()
    assert_same_rows(reference, compiled, "base")
    with pytest.raises(ValueError, match="value head dim"):
        use_unpadded_values(compiled, SDPBackend.FLASH_ATTENTION)


def test_unpadded_values_only_where_cudnn_runs_them(monkeypatch):
    assert fast_value_backend(torch.device("cpu")) is None
    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(torch.backends.cuda, "cudnn_sdp_enabled", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert fast_value_backend(cuda) is SDPBackend.CUDNN_ATTENTION  # Hopper: measured faster there
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    assert fast_value_backend(cuda) is None  # elsewhere the values stay padded
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    monkeypatch.setattr(torch.backends.cuda, "cudnn_sdp_enabled", lambda: False)
    assert fast_value_backend(cuda) is None
