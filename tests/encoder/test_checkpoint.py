"""Official-layout checkpoints: exact round trip, hard errors naming the key, clear missing-weights error."""

import json

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from encoder import modes
from encoder.checkpoint import (
    CHECKPOINT_FILE,
    CheckpointError,
    WeightsNotFoundError,
    load_official_checkpoint,
    official_state_dict,
    write_synthetic_checkpoint,
)
from encoder.loading import load_deepseek_ocr
from encoder.pixels import v1_inputs
from encoder.tiny import tiny_deepseek_ocr, tiny_tokenizer
from tests.encoder.helpers import page


@pytest.fixture(scope="module")
def model():
    return tiny_deepseek_ocr(seed=0)


@pytest.fixture
def checkpoint_dir(model, tmp_path):
    write_synthetic_checkpoint(model, tmp_path)
    tiny_tokenizer().save_pretrained(str(tmp_path))
    return tmp_path


def logits(model, inputs, n_rows):
    ids = torch.tensor([[0] + [model.config.image_token_id] * n_rows + [30, 31]])
    with torch.inference_mode():
        return model(input_ids=ids, **inputs).logits


def test_synthetic_checkpoint_uses_the_official_names(model, checkpoint_dir):
    names = set(load_file(str(checkpoint_dir / CHECKPOINT_FILE)))
    assert {
        "model.sam_model.blocks.0.attn.qkv.weight",
        "model.sam_model.neck.3.bias",
        "model.sam_model.net_2.weight",
        "model.vision_model.transformer.layers.1.self_attn.qkv_proj.bias",
        "model.vision_model.pre_layrnorm.weight",
        "model.vision_model.embeddings.class_embedding",
        "model.projector.layers.weight",
        "model.image_newline",
        "model.view_seperator",
        "model.layers.0.mlp.gate_proj.weight",
        "model.layers.1.mlp.gate.weight",
        "model.layers.1.mlp.experts.3.up_proj.weight",
        "model.layers.1.mlp.shared_experts.down_proj.weight",
        "model.embed_tokens.weight",
        "model.norm.weight",
        "lm_head.weight",
    } <= names
    assert not any("language_model" in n or "vision_tower" in n or "gate_up_proj" in n for n in names)
    config = json.loads((checkpoint_dir / "config.json").read_text())
    assert (
        config["model_type"] == "deepseek_vl_v2" and config["language_config"]["first_k_dense_replace"] == 1
    )


def test_round_trip_loads_everything_and_reproduces_logits(model, checkpoint_dir):
    fresh = tiny_deepseek_ocr(seed=123)
    loaded = load_official_checkpoint(fresh, checkpoint_dir)
    assert loaded == set(fresh.state_dict())
    for name, tensor in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor), name
    inputs = v1_inputs([modes.make_views(page(1400, 700), "gundam")])
    n_rows = model.config.token_rows("gundam", 1400, 700)
    assert torch.equal(logits(model, inputs, n_rows), logits(fresh, inputs, n_rows))


def test_load_deepseek_ocr_reads_config_tokenizer_and_dtype(model, checkpoint_dir):
    loaded, tokenizer = load_deepseek_ocr(checkpoint_dir, dtype=torch.bfloat16)
    assert tokenizer.convert_tokens_to_ids("<image>") == loaded.config.image_token_id == 3
    assert loaded.config.to_dict() == model.config.to_dict()
    assert next(loaded.parameters()).dtype == torch.bfloat16 and not loaded.training
    ref = model.state_dict()
    routers = []
    for name, tensor in loaded.state_dict().items():
        if not tensor.is_floating_point() or name not in ref:
            continue
        # The MoE routers stay float32 (as upstream keeps them); everything else is bf16.
        expected = torch.float32 if name.endswith(".mlp.gate.weight") else torch.bfloat16
        assert tensor.dtype == expected, name
        assert torch.equal(tensor, ref[name].to(expected)), name
        routers += [name] if expected == torch.float32 else []
    assert routers == ["model.language_model.layers.1.mlp.gate.weight"]


def test_bf16_model_routes_with_the_float32_router(checkpoint_dir):
    loaded, _ = load_deepseek_ocr(checkpoint_dir, dtype=torch.bfloat16, tokenizer=False)
    ids = torch.tensor([[0, 30, 31, 32, 40, 41]])
    with torch.inference_mode():
        out = loaded(input_ids=ids).logits
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_checkpoint_with_clip_position_ids_loads(model, checkpoint_dir):
    """The official CLIP module saves `embeddings.position_ids`; it is accepted and ignored."""
    positions = model.model.vision_tower.clip_encoder.embeddings.position_embedding.num_embeddings
    tamper(
        checkpoint_dir,
        lambda t: t.update({"model.vision_model.embeddings.position_ids": torch.arange(positions)[None]}),
    )
    fresh = tiny_deepseek_ocr(seed=7)
    assert load_official_checkpoint(fresh, checkpoint_dir) == set(fresh.state_dict())
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in model.state_dict().items())
    tamper(checkpoint_dir, lambda t: t.update({"model.vision_model.embeddings.position_idz": torch.zeros(3)}))
    with pytest.raises(CheckpointError, match="position_idz"):  # only the known buffer is let through
        load_official_checkpoint(tiny_deepseek_ocr(), checkpoint_dir)


def tamper(directory, edit):
    tensors = load_file(str(directory / CHECKPOINT_FILE))
    edit(tensors)
    save_file(tensors, str(directory / CHECKPOINT_FILE))


def test_renamed_key_is_named(checkpoint_dir):
    tamper(
        checkpoint_dir,
        lambda t: t.update(
            {"model.vision_model.pre_layrnorm.wieght": t.pop("model.vision_model.pre_layrnorm.weight")}
        ),
    )
    with pytest.raises(CheckpointError) as err:
        load_official_checkpoint(tiny_deepseek_ocr(), checkpoint_dir)
    assert err.value.missing == ["model.vision_model.pre_layrnorm.weight"]
    assert err.value.unexpected == ["model.vision_model.pre_layrnorm.wieght"]
    assert "model.vision_model.pre_layrnorm.wieght" in str(err.value)


def test_missing_expert_is_named(checkpoint_dir):
    tamper(checkpoint_dir, lambda t: t.pop("model.layers.1.mlp.experts.2.down_proj.weight"))
    with pytest.raises(
        CheckpointError, match=r"missing \(1\): model.layers.1.mlp.experts.2.down_proj.weight"
    ):
        load_official_checkpoint(tiny_deepseek_ocr(), checkpoint_dir)


def test_extra_expert_and_misshaped_tensor_are_named(checkpoint_dir):
    def edit(t):
        t["model.layers.1.mlp.experts.9.up_proj.weight"] = t[
            "model.layers.1.mlp.experts.0.up_proj.weight"
        ].clone()
        t["model.projector.layers.weight"] = t["model.projector.layers.weight"][:, :-1].contiguous()

    tamper(checkpoint_dir, edit)
    model = tiny_deepseek_ocr(seed=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as err:
        load_official_checkpoint(model, checkpoint_dir)
    assert err.value.unexpected == ["model.layers.1.mlp.experts.9.up_proj.weight"]
    assert err.value.mismatched == [("model.projector.layers.weight", (64, 127), (64, 128))]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # nothing copied


def test_missing_weights_dir_says_how_to_get_them(tmp_path):
    for where in (None, tmp_path / "absent", tmp_path):
        with pytest.raises(WeightsNotFoundError) as err:
            load_deepseek_ocr(where)
        message = str(err.value)
        assert (
            "deepseek-ai/DeepSeek-OCR" in message
            and "VTRAG_WEIGHTS_DIR" in message
            and "--weights" in message
        )
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(WeightsNotFoundError, match="no \\*.safetensors"):
        load_deepseek_ocr(tmp_path)


def test_fused_qkv_split_matches_the_official_attention(model):
    """The official CLIP block views qkv_proj's output as (B, S, 3, heads, head_dim): q, k, v in order."""
    official = official_state_dict(model)
    layer = model.model.vision_tower.clip_encoder.layers[0]
    heads, width = layer.self_attn.num_heads, layer.self_attn.embed_dim
    x = torch.randn(2, 7, width)
    qkv = F.linear(
        x,
        official["model.vision_model.transformer.layers.0.self_attn.qkv_proj.weight"],
        official["model.vision_model.transformer.layers.0.self_attn.qkv_proj.bias"],
    )
    q, k, v = qkv.view(2, 7, 3, heads, width // heads).unbind(2)
    attn = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
    attn = F.linear(
        attn.transpose(1, 2).reshape(2, 7, width),
        official["model.vision_model.transformer.layers.0.self_attn.out_proj.weight"],
        official["model.vision_model.transformer.layers.0.self_attn.out_proj.bias"],
    )
    with torch.inference_mode():
        ours, _ = layer.self_attn(x)
    assert torch.allclose(ours, attn, atol=1e-5)


def test_stacked_experts_match_the_official_per_expert_mlp(model):
    official = official_state_dict(model)
    experts = model.model.language_model.layers[1].mlp.experts
    x = torch.randn(5, model.config.text_config.hidden_size)
    for e in range(experts.num_experts):
        p = f"model.layers.1.mlp.experts.{e}."
        gate, up, down = (official[p + f"{n}_proj.weight"] for n in ("gate", "up", "down"))
        expected = F.linear(F.silu(F.linear(x, gate)) * F.linear(x, up), down)
        index = torch.full((5, 1), e)
        with torch.inference_mode():
            got = experts(x, index, torch.ones(5, 1))
        assert torch.allclose(got, expected, atol=1e-5), e
