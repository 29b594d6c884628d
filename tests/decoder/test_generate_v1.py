"""The stored-row path against DeepSeek-OCR v1's own pixel path (encoder/), when encoder/ is importable."""

import pytest
import torch

from decoder import prompts
from decoder.generate import Generator
from decoder.prompts import build_inputs
from tests.decoder.conftest import IMAGE_ID
from tests.decoder.test_generate import _has_mm_encoder_outputs, _store_and_load

try:
    from encoder.deepseek_ocr import DeepseekOcrForConditionalGeneration
    from encoder.deepseek_ocr_config import DeepseekOcrConfig
except Exception as exc:  # encoder/ is developed alongside; its absence is not a decoder failure
    pytest.skip(f"encoder/ v1 model not importable: {exc}", allow_module_level=True)


@pytest.fixture(scope="module")
def v1_model():
    config = DeepseekOcrConfig.tiny()
    config.image_token_id = IMAGE_ID  # the decoder tests' vocabulary
    torch.manual_seed(0)
    return DeepseekOcrForConditionalGeneration(config).eval()


@pytest.mark.parametrize("inject", ["mm_encoder_outputs", "inputs_embeds"])
def test_v1_stored_rows_give_bit_identical_logits_to_the_pixel_path(v1_model, tokenizer, inject):
    if inject == "mm_encoder_outputs" and not _has_mm_encoder_outputs(v1_model):
        pytest.skip("this transformers has no mm_encoder_outputs")
    g = torch.Generator().manual_seed(4)
    pixels = torch.randn(2, 3, 1024, 1024, generator=g)  # Base-size global views
    tiles = torch.randn(2, 3, 640, 640, generator=g)  # page 1: Gundam, 2 tiles across, 1 down
    layout = torch.tensor([[2, 1], [0, 0]])
    with torch.no_grad():
        feats = v1_model.get_image_features(pixels, pixel_values_local=tiles, num_local_patches=layout)
        stored = [_store_and_load(f) for f in feats.pooler_output]
        rows = [s.shape[0] for s in stored]
        assert rows[0] > rows[1]  # different row counts per page
        prompt = prompts.question_prompt("What is the total ?", ["report.pdf p. 1", "report.pdf p. 2"])
        ids = torch.tensor([build_inputs(tokenizer, prompt, rows)])
        reference = v1_model(
            input_ids=ids, pixel_values=pixels, pixel_values_local=tiles, num_local_patches=layout
        ).logits[0]
    got = Generator(v1_model, tokenizer, inject=inject).prompt_logits(stored, prompt)
    assert torch.equal(got, reference)
