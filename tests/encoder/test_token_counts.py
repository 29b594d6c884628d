"""Row counts of the released models by shape arithmetic and meta-device construction (no weights)."""

import itertools

import pytest
import torch

from encoder import modes
from encoder.checkpoint import official_state_dict
from encoder.deepseek_ocr import DeepseekOcrForConditionalGeneration
from encoder.deepseek_ocr_config import DeepseekOcrConfig
from encoder.layout import ocr2_row_count, ocr2_tile_layout

SIZES = [100, 480, 640, 641, 768, 769, 1000, 1240, 1754, 2480, 3508, 6000]


@pytest.fixture(scope="module")
def released() -> DeepseekOcrConfig:
    return DeepseekOcrConfig()


@pytest.mark.parametrize(("mode", "rows"), [("tiny", 73), ("small", 111), ("base", 273), ("large", 421)])
def test_single_view_modes(released, mode, rows):
    assert released.token_rows(mode, 1240, 1754) == rows == modes.token_rows(mode, 1240, 1754)


@pytest.mark.parametrize(
    ("size", "cap", "layout"),
    [
        ((600, 600), 6, (0, 0)),
        ((1400, 700), 6, (2, 1)),
        ((700, 1400), 6, (1, 2)),
        ((1240, 1754), 6, (2, 3)),
        ((3000, 700), 6, (4, 1)),
        ((1920, 1920), 6, (2, 2)),
        ((1920, 1920), 9, (3, 3)),
        ((1920, 1080), 6, (2, 1)),
        ((1920, 1080), 9, (4, 2)),
        ((1100, 1100), 6, (2, 2)),
    ],
)
def test_gundam_rows_follow_the_tiles(released, size, cap, layout):
    across, down = layout
    tiles = (
        down * 10 * (across * 10 + 1) if across else 0
    )  # 640 px tiles: 10x10 tokens, newline per canvas row
    mode = modes.get_mode("gundam", cap)
    assert released.token_rows(mode, *size) == tiles + 16 * 17 + 1 == modes.token_rows(mode, *size)


def test_model_counts_equal_modes_everywhere(released):
    for name, cap, w, h in itertools.product(modes.MODES, (2, 6, 9), SIZES, SIZES):
        mode = modes.get_mode(name, cap)
        assert released.token_rows(mode, w, h) == modes.token_rows(mode, w, h), (name, cap, w, h)


def test_released_view_grids(released):
    vision = released.vision_config
    assert [vision.grid(s) for s in (512, 640, 1024, 1280)] == [8, 10, 16, 20]
    assert vision.hidden_size == 2048 and released.text_config.hidden_size == 1280


def test_released_checkpoint_layout_on_meta_device(released):
    with torch.device("meta"):
        model = DeepseekOcrForConditionalGeneration(released)
    names = official_state_dict(model)
    assert len(names) == 2710
    assert sum(t.numel() for t in names.values()) == 3_336_106_240
    shapes = {k: tuple(v.shape) for k, v in names.items()}
    assert shapes["model.vision_model.transformer.layers.23.self_attn.qkv_proj.weight"] == (3072, 1024)
    assert shapes["model.vision_model.embeddings.position_embedding.weight"] == (257, 1024)
    assert shapes["model.sam_model.blocks.2.attn.rel_pos_h"] == (127, 64)
    assert shapes["model.sam_model.blocks.3.attn.rel_pos_h"] == (27, 64)
    assert shapes["model.sam_model.net_3.weight"] == (1024, 512, 3, 3)
    assert shapes["model.projector.layers.weight"] == (1280, 2048)
    assert shapes["model.layers.11.mlp.experts.63.gate_proj.weight"] == (896, 1280)
    assert shapes["model.layers.1.mlp.shared_experts.down_proj.weight"] == (1280, 1792)
    assert shapes["model.layers.0.mlp.up_proj.weight"] == (6848, 1280)
    assert {"model.image_newline", "model.view_seperator", "lm_head.weight", "model.norm.weight"} <= set(
        shapes
    )


def test_ocr2_rows_match_its_image_processor():
    from PIL import Image
    from transformers.models.deepseek_ocr2 import DeepseekOcr2ImageProcessorPil

    processor = DeepseekOcr2ImageProcessorPil()
    sizes = [
        (700, 700),
        (768, 769),
        (769, 300),
        (1600, 800),
        (800, 1600),
        (1240, 1754),
        (3000, 700),
        (2000, 2000),
    ]
    images = [Image.new("RGB", size, "white") for size in sizes]
    counts = processor(images=images, return_tensors="pt")["num_local_patches"].tolist()
    for (w, h), count in zip(sizes, counts, strict=True):
        across, down = ocr2_tile_layout(w, h)
        assert across * down == count, (w, h)
        assert ocr2_row_count(w, h) == 256 + 144 * count + 1
    assert ocr2_row_count(700, 700) == 257 and ocr2_row_count(1600, 800) == 256 + 2 * 144 + 1
