"""DeepSeek-OCR-2 backend: transformers' native model; our encoder wrapper, row rules and loader around it."""

import pytest
import torch
from transformers.models.deepseek_ocr2 import DeepseekOcr2ImageProcessorPil

from encoder.checkpoint import CheckpointError, WeightsNotFoundError
from encoder.layout import merge_image_rows
from encoder.loading import load_deepseek_ocr2
from encoder.tiny import tiny_deepseek_ocr2, tiny_tokenizer
from encoder.vision import DeepseekOcr2Encoder
from tests.encoder.helpers import page


@pytest.fixture(scope="module")
def model():
    return tiny_deepseek_ocr2(seed=0)


@pytest.fixture(scope="module")
def encoded(model):
    pages = [page(500, 400), page(1600, 800, seed=1)]
    return pages, DeepseekOcr2Encoder(model, batch_size=2).encode(pages)


def test_rows_follow_the_ocr2_rules(model, encoded):
    pages, out = encoded
    encoder = DeepseekOcr2Encoder(model)
    assert (
        [e.rows.shape[0] for e in out]
        == [encoder.row_count(*p.size) for p in pages]
        == [257, 256 + 2 * 144 + 1]
    )
    hidden = model.config.text_config.hidden_size
    assert all(e.rows.shape[1] == hidden and torch.isfinite(e.rows).all() for e in out)
    assert torch.equal(out[0].rows[-1], model.model.view_separator.detach())
    assert all(e.pooled.shape == (hidden,) and torch.isclose(e.pooled.norm(), torch.tensor(1.0)) for e in out)


def test_ocr2_has_one_resolution_policy(model):
    with pytest.raises(ValueError, match="single resolution policy"):
        DeepseekOcr2Encoder(model).encode([page(300, 300)], mode="base")


def test_stored_rows_reproduce_the_pixel_path(model, encoded):
    pages, out = encoded
    inputs = DeepseekOcr2ImageProcessorPil()(images=[pages[1]], return_tensors="pt")
    ids = torch.tensor([[0] + [model.config.image_token_id] * out[1].rows.shape[0] + [30]])
    with torch.inference_mode():
        pixel = model(
            input_ids=ids,
            pixel_values=inputs["pixel_values"],
            pixel_values_local=inputs["pixel_values_local"],
            num_local_patches=inputs["num_local_patches"],
        ).logits
        stored = model(inputs_embeds=merge_image_rows(model, ids, [out[1].rows])).logits
    assert torch.allclose(pixel, stored, atol=1e-5)


def test_load_deepseek_ocr2_round_trip(model, tmp_path):
    model.save_pretrained(str(tmp_path))
    DeepseekOcr2ImageProcessorPil().save_pretrained(str(tmp_path))
    tiny_tokenizer().save_pretrained(str(tmp_path))
    loaded, processor = load_deepseek_ocr2(tmp_path, dtype=torch.float32)
    assert processor.image_token_id == loaded.config.image_token_id
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_load_deepseek_ocr2_in_bf16_keeps_the_router_float32(model, tmp_path):
    model.save_pretrained(str(tmp_path))
    loaded, _ = load_deepseek_ocr2(tmp_path, dtype=torch.bfloat16, processor=False)
    ref = model.state_dict()
    dtypes = {}
    for name, tensor in loaded.state_dict().items():
        if tensor.is_floating_point():
            dtypes[name] = tensor.dtype
            assert torch.equal(tensor, ref[name].to(tensor.dtype)), name
    routers = {n for n, d in dtypes.items() if d == torch.float32}
    assert routers and all(n.endswith(".mlp.gate.weight") for n in routers)
    assert all(d == torch.bfloat16 for n, d in dtypes.items() if n not in routers)


def test_load_deepseek_ocr2_refuses_incomplete_weights(model, tmp_path):
    from safetensors.torch import load_file, save_file

    model.save_pretrained(str(tmp_path))
    tensors = load_file(str(tmp_path / "model.safetensors"))
    name = next(n for n in tensors if "sam_model.blocks.0.attn.qkv.weight" in n)
    tensors.pop(name)
    save_file(tensors, str(tmp_path / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(CheckpointError, match="missing"):
        load_deepseek_ocr2(tmp_path, dtype=torch.float32, processor=False)


def test_missing_ocr2_weights_say_how_to_get_them(tmp_path):
    with pytest.raises(WeightsNotFoundError, match="deepseek-community/DeepSeek-OCR-2.*VTRAG_WEIGHTS_DIR"):
        load_deepseek_ocr2(tmp_path / "nothing")
