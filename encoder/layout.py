"""Vision-token row layout: what is injected at the `<image>` positions, and how many rows that is.

DeepSeek-OCR v1 (official order): [tile rows][global rows][view_seperator]. A view's h x w token grid is
laid out row by row with a learned `image_newline` after each grid row: h*(w+1) rows. The tiles of a Gundam
page are stitched into one (down*th) x (across*tw) grid first, so newlines mark rows of the whole tiled
canvas.

DeepSeek-OCR-2 (transformers' `DeepseekOcr2Model`): [tile queries][global queries][view_separator] with no
newlines; a view yields its encoder's query count (144 for a 768 px tile, 256 for the 1024 px global view).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from encoder.modes import Mode, tile_layout


def view_rows(tokens: torch.Tensor, grid: tuple[int, int], newline: torch.Tensor) -> torch.Tensor:
    """One view's tokens (h*w, D), row-major, -> (h*(w+1), D) with `newline` after each grid row."""
    height, width = grid
    dim = tokens.shape[-1]
    canvas = tokens.reshape(height, width, dim)  # (h, w, D)
    newlines = newline.to(tokens.dtype).reshape(1, 1, dim).expand(height, 1, dim)  # (h, 1, D)
    return torch.cat([canvas, newlines], dim=1).reshape(height * (width + 1), dim)  # (h*(w+1), D)


def tile_rows(
    tiles: torch.Tensor, tile_grid: tuple[int, int], layout: tuple[int, int], newline: torch.Tensor
) -> torch.Tensor:
    """Tiles (n, th*tw, D) in row-major tile order, cut `layout` = (across, down), -> rows of the stitched
    (down*th) x (across*tw) canvas with newlines: (down*th*(across*tw+1), D)."""
    across, down = layout
    th, tw = tile_grid
    dim = tiles.shape[-1]
    if tiles.shape[0] != across * down:
        raise ValueError(f"{tiles.shape[0]} tiles do not fill a {across}x{down} grid")
    canvas = tiles.reshape(down, across, th, tw, dim).permute(0, 2, 1, 3, 4)  # (down, th, across, tw, D)
    canvas = canvas.reshape(down * th * across * tw, dim)  # row-major over the stitched canvas
    return view_rows(canvas, (down * th, across * tw), newline)


def v1_image_rows(
    global_tokens: torch.Tensor,
    grid: tuple[int, int],
    newline: torch.Tensor,
    separator: torch.Tensor,
    tiles: torch.Tensor | None = None,
    tile_grid: tuple[int, int] | None = None,
    layout: tuple[int, int] | None = None,
) -> torch.Tensor:
    """All rows one page injects in v1: tiles first (if any), then the global view, then the separator.

    Args:
        global_tokens: (h*w, D) projected tokens of the global view; grid = (h, w).
        newline, separator: (D,) learned `image_newline` and `view_seperator`.
        tiles: (n, th*tw, D) projected tile tokens, tile_grid = (th, tw), layout = (across, down); or None.
    Returns:
        (n_rows, D) with n_rows == v1_row_count(grid, tile_grid, layout).
    """
    parts = []
    if tiles is not None and tiles.shape[0] > 0:
        if tile_grid is None or layout is None:
            raise ValueError("tiles need their token grid and their (across, down) layout")
        parts.append(tile_rows(tiles, tile_grid, layout, newline))
    parts.append(view_rows(global_tokens, grid, newline))
    parts.append(separator.to(global_tokens.dtype).reshape(1, -1))
    return torch.cat(parts, dim=0)


def v1_row_count(
    grid: tuple[int, int], tile_grid: tuple[int, int] | None = None, layout: tuple[int, int] | None = None
) -> int:
    """Rows of `v1_image_rows` without building them."""
    rows = grid[0] * (grid[1] + 1) + 1
    if layout is not None and tile_grid is not None and layout[0] * layout[1] > 0:
        rows += layout[1] * tile_grid[0] * (layout[0] * tile_grid[1] + 1)
    return rows


def v1_global_tokens(rows: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """The global view's grid tokens (h*w, D) back out of a page's rows (drops tiles, newlines, separator)."""
    height, width = grid
    block = rows[-1 - height * (width + 1) : -1]  # (h*(w+1), D)
    return block.reshape(height, width + 1, -1)[:, :width].reshape(height * width, -1)


def ocr2_tile_layout(
    width: int, height: int, tile_size: int = 768, min_tiles: int = 2, max_tiles: int = 6
) -> tuple[int, int]:
    """(across, down) tiles transformers' DeepSeek-OCR-2 image processor cuts; (0, 0) when it cuts none
    (both sides <= tile_size). Closest aspect ratio wins; ties go to the larger grid while the image covers
    more than half of it (the processor's `get_optimal_tiled_canvas`)."""
    if max(width, height) <= tile_size:
        return (0, 0)
    candidates = sorted(
        (
            (a, d)
            for a in range(1, max_tiles + 1)
            for d in range(1, max_tiles + 1)
            if min_tiles <= a * d <= max_tiles
        ),
        key=lambda g: g[0] * g[1],
    )
    best, best_diff = (1, 1), float("inf")
    for across, down in candidates:
        diff = abs(width / height - across / down)
        if diff < best_diff:
            best, best_diff = (across, down), diff
        elif diff == best_diff and width * height > 0.5 * tile_size * tile_size * across * down:
            best = (across, down)
    return best


def ocr2_row_count(
    width: int,
    height: int,
    global_queries: int = 256,
    tile_queries: int = 144,
    tile_size: int = 768,
    min_tiles: int = 2,
    max_tiles: int = 6,
) -> int:
    """Rows DeepSeek-OCR-2 injects for a width x height page: tiles x 144 + 256 + 1 separator."""
    across, down = ocr2_tile_layout(width, height, tile_size, min_tiles, max_tiles)
    return across * down * tile_queries + global_queries + 1


def v1_layout_for(width: int, height: int, mode: Mode) -> tuple[int, int]:
    """(across, down) tiles of a v1 page; (0, 0) = no tiles (untiled modes, or a page <= 640x640)."""
    layout = tile_layout(mode, width, height)
    return (0, 0) if layout == (1, 1) else layout


def merge_image_rows(model: Any, input_ids: torch.Tensor, rows: Sequence[torch.Tensor]) -> torch.Tensor:
    """Text embeddings with the stored rows scattered into the `<image>` positions, in order.

    Works for both backends and every transformers version we support: feed the result as `inputs_embeds`
    (with `input_ids=None`, no `pixel_values`) to `DeepseekOcrForConditionalGeneration` or
    `DeepseekOcr2ForConditionalGeneration`.

    Args:
        model: either ForConditionalGeneration (or its `.model`); its config gives `image_token_id`.
        input_ids: (B, L) with one `<image>` token per row to inject.
        rows: per image, (n_rows_i, hidden); consumed in reading order across the batch.
    Returns:
        (B, L, hidden) embeddings in the embedding table's dtype.
    """
    embeds = model.get_input_embeddings()(input_ids)  # (B, L, D)
    mask = input_ids == model.config.image_token_id  # (B, L)
    features = torch.cat([r.reshape(-1, embeds.shape[-1]) for r in rows], dim=0) if rows else embeds[:0, 0]
    if int(mask.sum()) != features.shape[0]:
        raise ValueError(
            f"{int(mask.sum())} <image> tokens in the prompt but {features.shape[0]} stored rows"
        )
    features = features.to(embeds.device, embeds.dtype)
    return embeds.masked_scatter(mask.unsqueeze(-1), features)
