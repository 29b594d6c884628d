"""Shared test data: synthetic pages and the released config.json."""

import torch
from PIL import Image, ImageDraw

# config.json of deepseek-ai/DeepSeek-OCR (vision/projector/language parts; top-level copies omitted).
OFFICIAL_CONFIG = {
    "model_type": "deepseek_vl_v2",
    "tile_tag": "2D",
    "global_view_pos": "head",
    "candidate_resolutions": [[1024, 1024]],
    "projector_config": {
        "input_dim": 2048,
        "model_type": "mlp_projector",
        "n_embed": 1280,
        "projector_type": "linear",
    },
    "vision_config": {
        "image_size": 1024,
        "mlp_ratio": 3.7362,
        "model_name": "deeplip_b_l",
        "model_type": "vision",
        "width": {
            "clip-l-14-224": {"heads": 16, "image_size": 224, "layers": 24, "patch_size": 14, "width": 1024},
            "sam_vit_b": {
                "downsample_channels": [512, 1024],
                "global_attn_indexes": [2, 5, 8, 11],
                "heads": 12,
                "layers": 12,
                "width": 768,
            },
        },
    },
    "language_config": {
        "bos_token_id": 0,
        "eos_token_id": 1,
        "first_k_dense_replace": 1,
        "hidden_size": 1280,
        "intermediate_size": 6848,
        "kv_lora_rank": None,
        "max_position_embeddings": 8192,
        "moe_intermediate_size": 896,
        "n_group": 1,
        "n_routed_experts": 64,
        "n_shared_experts": 2,
        "num_attention_heads": 10,
        "num_experts_per_tok": 6,
        "num_hidden_layers": 12,
        "num_key_value_heads": 10,
        "q_lora_rank": None,
        "topk_group": 1,
        "topk_method": "greedy",
        "use_mla": False,
        "vocab_size": 129280,
    },
}


def page(width: int, height: int, seed: int = 0) -> Image.Image:
    gen = torch.Generator().manual_seed(seed)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = (int(v) for v in torch.randint(0, min(width, height) - 20, (2,), generator=gen))
        draw.rectangle(
            (x, y, x + 18, y + 9), fill=tuple(int(c) for c in torch.randint(0, 255, (3,), generator=gen))
        )
    return image
