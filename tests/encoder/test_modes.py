"""The views equal the official DeepSeek-OCR preprocessing pixel for pixel, in every mode and tile cap.

`official_views` below restates the official rules (vLLM `process/image_process.py`, `config.py`, and the
token count of `deepseek_ocr.py`) step by step, in the order the official code runs them; it shares nothing
with `encoder.modes` but PIL. Per mode the official config is (base_size, image_size, crop_mode):
Tiny (512, 512, False), Small (640, 640, False), Base (1024, 1024, False), Large (1280, 1280, False),
Gundam (1024, 640, True), Gundam-M (1280, 1024, True); MAX_CROPS 6 in the vLLM config, 9 in HF `infer`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageOps

from encoder import modes

OFFICIAL = {
    "tiny": (512, 512, False),
    "small": (640, 640, False),
    "base": (1024, 1024, False),
    "large": (1280, 1280, False),
    "gundam": (1024, 640, True),
    "gundam-m": (1280, 1024, True),
}
SIZES = [
    (1240, 1754),
    (1754, 1240),
    (595, 842),
    (2480, 3508),
    (1920, 1080),
    (1400, 1400),
    (600, 4000),
    (500, 400),
    (640, 1280),
]


def official_views(image: Image.Image, base_size: int, image_size: int, crop_mode: bool, max_crops: int):
    """(global view, tiles, (across, down), rows) by the official rules; PIL defaults unset on purpose."""
    width, height = image.size
    tiles: list[Image.Image] = []
    crop_ratio = (1, 1)
    if crop_mode and not (width <= 640 and height <= 640):
        ratios = {
            (i, j)
            for n in range(2, max_crops + 1)
            for i in range(1, n + 1)
            for j in range(1, n + 1)
            if 2 <= i * j <= max_crops
        }
        best_diff, best = float("inf"), (1, 1)
        for ratio in sorted(ratios, key=lambda x: x[0] * x[1]):
            diff = abs(width / height - ratio[0] / ratio[1])
            if diff < best_diff:
                best_diff, best = diff, ratio
            elif diff == best_diff and width * height > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
                best = ratio
        crop_ratio = best
        target_w, target_h = image_size * best[0], image_size * best[1]
        resized = image.resize((target_w, target_h))
        per_row = target_w // image_size
        for i in range(best[0] * best[1]):
            x, y = (i % per_row) * image_size, (i // per_row) * image_size
            tiles.append(resized.crop((x, y, x + image_size, y + image_size)))
    if image_size <= 640 and not crop_mode:
        image = image.resize((image_size, image_size))
    global_view = ImageOps.pad(image, (base_size, base_size), color=tuple(int(x * 255) for x in (0.5,) * 3))
    q_base = math.ceil(base_size // 16 / 4)
    q_tile = math.ceil(image_size // 16 / 4)
    rows = q_base * (q_base + 1) + 1
    if crop_ratio[0] > 1 or crop_ratio[1] > 1:
        rows += (q_tile * crop_ratio[1]) * (q_tile * crop_ratio[0] + 1)
    return global_view, tiles, crop_ratio, rows


def noise_page(width: int, height: int, seed: int = 0) -> Image.Image:
    """Random pixels: every resampling difference shows."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels, "RGB")


@pytest.fixture(scope="module")
def pages() -> dict[tuple[int, int], Image.Image]:
    return {size: noise_page(*size, seed=k) for k, size in enumerate(SIZES)}


def cases():
    for name, (_, _, crop) in OFFICIAL.items():
        for cap in (6, 9) if crop else (6,):
            yield name, cap


@pytest.mark.parametrize(("name", "cap"), list(cases()))
def test_views_are_pixel_identical_to_the_official_rules(pages, name, cap):
    (
        base_size,
        image_size,
        crop,
    ) = OFFICIAL[name]
    mode = modes.get_mode(name, cap)
    for size, image in pages.items():
        glob, tiles, layout, rows = official_views(image, base_size, image_size, crop, cap)
        ours = modes.make_views(image, mode)
        assert ours.global_view.size == (base_size, base_size)
        assert np.array_equal(np.asarray(ours.global_view), np.asarray(glob)), (name, size)
        assert ours.grid == layout and len(ours.tiles) == len(tiles), (name, size)
        for k, (mine, theirs) in enumerate(zip(ours.tiles, tiles, strict=True)):
            assert np.array_equal(np.asarray(mine), np.asarray(theirs)), (name, size, k)
        assert ours.n_rows == rows == modes.token_rows(mode, *size), (name, size)


def test_the_reference_tells_filters_apart(pages):
    """Guard on the test itself: the old LANCZOS views would fail it."""
    image = pages[(1240, 1754)]
    glob, *_ = official_views(image, 1024, 1024, False, 6)
    lanczos = ImageOps.pad(image, (1024, 1024), method=Image.Resampling.LANCZOS, color=modes.PAD_COLOR)
    assert not np.array_equal(np.asarray(lanczos), np.asarray(glob))


def test_gundam_1920x1080_by_tile_cap():
    assert modes.gundam_grid(1920, 1080) == (2, 1) and modes.token_rows("gundam", 1920, 1080) == 483
    nine = modes.get_mode("gundam", 9)
    assert modes.tile_layout(nine, 1920, 1080) == (4, 2) and modes.token_rows(nine, 1920, 1080) == 1093


def test_gundam_m_rows():
    m = modes.get_mode("gundam-m")
    assert (m.size, m.tile, m.grid, m.tile_grid) == (1280, 1024, 20, 16)
    assert modes.token_rows(m, 600, 600) == 421  # no tiles below 640x640: the global view alone
    assert modes.tile_layout(m, 2048, 1024) == (2, 1)
    assert modes.token_rows(m, 2048, 1024) == 421 + 16 * (32 + 1)


@pytest.mark.parametrize("bad", [1, 10, 0, -3, 2.5, True, "6"])
def test_tile_cap_outside_2_to_9_is_refused(bad):
    with pytest.raises(ValueError, match="max_tiles"):
        modes.get_mode("gundam", bad)


def test_untiled_modes_ignore_the_cap_and_names_are_case_insensitive():
    assert modes.get_mode("BASE", 9) == modes.get_mode("base")
    assert modes.get_mode("Gundam-M").name == "gundam-m"
    with pytest.raises(ValueError, match="choose one of tiny, small, base, large, gundam, gundam-m"):
        modes.get_mode("huge")
