"""Tiny DeepSeek-OCR v1: config rules, forward shapes per mode, row wiring, pixel path == stored path."""

import inspect
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers.modeling_outputs import BaseModelOutputWithPooling

from encoder import modes
from encoder.deepseek_ocr import tile_layouts
from encoder.deepseek_ocr_config import DeepseekOcrConfig, DeepseekOcrVisionConfig
from encoder.layout import merge_image_rows, v1_image_rows
from encoder.pixels import v1_inputs
from encoder.tiny import tiny_deepseek_ocr
from encoder.vision import DeepseekOcrEncoder
from tests.encoder.helpers import OFFICIAL_CONFIG, page


@pytest.fixture(scope="module")
def model():
    return tiny_deepseek_ocr(seed=0)


def test_released_config_from_official_json():
    config = DeepseekOcrConfig.from_official(OFFICIAL_CONFIG)
    released = DeepseekOcrConfig()
    assert config.to_dict() == released.to_dict()
    assert config.text_config.mlp_layer_types == ["dense"] + ["sparse"] * 11
    assert config.vision_config.sam_config.downsample_channels == [512, 1024]
    assert config.vision_config.clip_config.intermediate_size == 4096
    assert config.image_token_id == 128815


def test_official_json_round_trip_keeps_tiny_geometry():
    tiny = DeepseekOcrConfig.tiny()
    again = DeepseekOcrConfig.from_official(tiny.to_official())
    assert again.to_dict() == tiny.to_dict()


def test_unsupported_configs_raise_value_error():
    with pytest.raises(ValueError, match="linear projector"):
        DeepseekOcrConfig(projector_type="mlp_gelu")
    with pytest.raises(ValueError, match="CLIP hidden_size"):
        DeepseekOcrVisionConfig(clip_config={"hidden_size": 768, "num_attention_heads": 12})
    with pytest.raises(ValueError, match="MLA"):
        DeepseekOcrConfig.from_official({**OFFICIAL_CONFIG, "language_config": {"use_mla": True}})
    with pytest.raises(ValueError, match="tile_tag"):
        DeepseekOcrConfig.from_official({**OFFICIAL_CONFIG, "tile_tag": "1D"})
    with pytest.raises(ValueError, match="not a multiple"):
        DeepseekOcrConfig().vision_config.grid(1000)


@pytest.mark.parametrize("mode", list(modes.MODES))
def test_encoder_rows_per_mode(model, mode):
    encoder = DeepseekOcrEncoder(model, mode, batch_size=2)
    pages = [page(180, 240), page(1400, 700, seed=1), page(700, 1500, seed=2)]
    encoded = encoder.encode(pages)
    hidden = model.config.text_config.hidden_size
    for image, enc in zip(pages, encoded, strict=True):
        assert enc.rows.shape == (model.config.token_rows(mode, *image.size), hidden)
        assert torch.isfinite(enc.rows).all()
        assert enc.pooled.shape == (encoder.dim,) == (hidden,)
        assert enc.pooled.dtype == torch.float32 and torch.isclose(enc.pooled.norm(), torch.tensor(1.0))
    if mode == "gundam":
        assert [e.rows.shape[0] for e in encoded] == [73, 5 * (2 * 5 + 1) + 73, 2 * 5 * (5 + 1) + 73]


def test_batching_does_not_change_rows(model):
    pages = [page(1400, 700, seed=3), page(500, 500, seed=4)]
    together = DeepseekOcrEncoder(model, "gundam", batch_size=2).encode(pages)
    alone = DeepseekOcrEncoder(model, "gundam", batch_size=1).encode(pages)
    for a, b in zip(together, alone, strict=True):
        assert torch.allclose(a.rows, b.rows, atol=1e-5) and torch.allclose(a.pooled, b.pooled, atol=1e-5)


def test_started_encodes_collect_the_rows_encode_gives(model):
    """`start` (the build's: forwards queued, collected later on another thread) gives `encode`'s pages bit
    for bit, from rasters cut on its workers or from pre-cut views, in its mode or one named."""
    pages = [page(1400, 700, seed=3), page(500, 500, seed=4), page(700, 1500, seed=2)]
    encoder = DeepseekOcrEncoder(model, "gundam", batch_size=2, workers=2)  # 2 forwards a call
    expected = encoder.encode(pages)
    views = [modes.make_views(p, "gundam") for p in pages]
    for images in (pages, views):
        got: list = []
        with ThreadPoolExecutor(1) as writer:  # collected on another thread, as a build's writer does
            got += writer.submit(encoder.start(images)).result()
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            assert torch.equal(a.rows, b.rows) and torch.equal(a.pooled, b.pooled)
    small = encoder.start(pages[:1], "small")()
    assert torch.equal(small[0].rows, encoder.encode(pages[:1], "small")[0].rows)
    with pytest.raises(ValueError, match="another mode"):
        encoder.start(views, "base")


def test_gundam_rows_are_tiles_then_global_then_separator(model):
    views = [modes.make_views(page(1400, 700, seed=5), "gundam")]
    assert views[0].grid == (2, 1) and len(views[0].tiles) == 2
    with torch.inference_mode():
        out = model.get_image_features(**v1_inputs(views))
    inner = model.model
    expected = v1_image_rows(
        out.last_hidden_state[0],
        (8, 8),
        inner.image_newline,
        inner.view_separator,
        tiles=out.local_last_hidden_state,
        tile_grid=(5, 5),
        layout=(2, 1),
    )
    rows = out.pooler_output[0]
    assert torch.equal(rows, expected)
    # canvas row 0 = first token row of tile 0 then of tile 1 (5 + 5 tokens), then the newline
    assert torch.equal(rows[5], out.local_last_hidden_state[1, 0])
    assert torch.equal(rows[10], inner.image_newline) and torch.equal(rows[-1], inner.view_separator)
    assert torch.equal(rows[55], out.last_hidden_state[0, 0])  # global view starts after 5 x 11 tile rows


def test_pixel_path_equals_stored_rows_path(model):
    views = [
        modes.make_views(page(1400, 700, seed=6), "gundam"),
        modes.make_views(page(300, 300, seed=7), "gundam"),
    ]
    inputs = v1_inputs(views)
    with torch.inference_mode():
        rows = model.get_image_features(**inputs).pooler_output
        image_id = model.config.image_token_id
        ids = torch.tensor([[0, *[image_id] * rows[0].shape[0], *[image_id] * rows[1].shape[0], 40, 41]])
        pixel = model(input_ids=ids, **inputs).logits
        stored = model(inputs_embeds=merge_image_rows(model, ids, rows)).logits
        assert torch.allclose(pixel, stored, atol=1e-5)
        if "mm_encoder_outputs" in inspect.signature(model.forward).parameters:  # transformers >= 5.23
            native = model(
                input_ids=ids, mm_encoder_outputs={"image": BaseModelOutputWithPooling(pooler_output=rows)}
            )
            assert torch.allclose(pixel, native.logits, atol=1e-5)


def test_views_sent_as_arrays_give_the_same_inputs_as_pil_views():
    """Extraction workers send views as arrays (cheaper to pickle and to copy into the pinned buffer); the
    model must see the same pixels: global view, tiles and grid alike."""
    views = [modes.make_views(page(1400, 700, seed=8), "gundam"), modes.make_views(page(300, 300), "gundam")]
    arrays = [v.as_arrays() for v in views]
    assert all(
        isinstance(t, np.ndarray) and t.dtype == np.uint8 for t in [arrays[0].global_view, *arrays[0].tiles]
    )
    assert [a.grid for a in arrays] == [v.grid for v in views] and arrays[0].n_rows == views[0].n_rows
    ours, theirs = v1_inputs(arrays), v1_inputs(views)
    assert theirs["pixel_values_local"] is not None
    for key in theirs:
        assert torch.equal(ours[key], theirs[key]), key


def test_placeholder_count_must_match(model):
    inputs = v1_inputs([modes.make_views(page(300, 300), "base")])
    ids = torch.tensor([[0] + [model.config.image_token_id] * 10])
    with (
        pytest.raises(ValueError, match="Image features and image tokens do not match"),
        torch.inference_mode(),
    ):
        model(input_ids=ids, **inputs)


def test_tile_layout_argument_is_validated(model):
    assert tile_layouts(None, 2) == [(0, 0), (0, 0)]
    assert tile_layouts([0, 0], 2) == [(0, 0), (0, 0)]
    assert tile_layouts(torch.tensor([[2, 3], [0, 0]]), 2) == [(2, 3), (0, 0)]
    with pytest.raises(ValueError, match=r"\(across, down\)"):
        tile_layouts([6, 0], 2)
    pixel_values = torch.zeros(1, 3, 512, 512)
    with pytest.raises(ValueError, match="pixel_values_local is None"):
        model.get_image_features(pixel_values, None, torch.tensor([[2, 1]]))
    with pytest.raises(ValueError, match="layouts say 2"):
        model.get_image_features(pixel_values, torch.zeros(3, 3, 640, 640), torch.tensor([[2, 1]]))


def test_clip_positions_resize_like_the_release(model):
    embeddings = model.model.vision_tower.clip_encoder.embeddings
    table = embeddings.position_embedding.weight  # tiny: 8x8 grid + CLS
    assert torch.equal(embeddings.interpolated_positions(8, 8), table)
    resized = embeddings.interpolated_positions(5, 5)
    grid = table[1:].reshape(1, 8, 8, -1).permute(0, 3, 1, 2)
    expect = F.interpolate(grid, size=(5, 5), mode="bicubic", antialias=True, align_corners=False)
    assert torch.allclose(resized[1:], expect.permute(0, 2, 3, 1).reshape(25, -1)) and torch.equal(
        resized[0], table[0]
    )
