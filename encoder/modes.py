"""DeepSeek-OCR resolution modes: view sizes, vision-token counts and the official resize/pad/tile rules.

Facts carried over from the DeepSeek-OCR paper and its official preprocessing (`process/image_process.py`,
`config.py` of the vLLM code; `infer` of the HF code):
- SAM patch 16, then the 16x conv compressor (two stride-2 convs): a view of S px gives (S/16/4)^2 tokens.
- Each row of the token grid is followed by a learned `image_newline`, and one `view_seperator` ends the
  image, so a single view of S px injects q*(q+1)+1 rows, q = S/64 (Base 1024 -> 16*17+1 = 273).
- Tiny/Small are resized straight to the square (the paper: "to avoid wasting vision tokens"); Base/Large keep
  the aspect ratio and are padded to the square with the normalisation mean (0.5 -> 127). Both resample with
  PIL's default filter (bicubic): `image.resize(size)` and `ImageOps.pad(image, size, color=...)`.
- Gundam = n 640 px tiles followed by a padded 1024 px global view; Gundam-M = 1024 px tiles and a padded
  1280 px global view. The tile grid is the closest aspect ratio among the grids of 2..max_tiles tiles; the
  official vLLM config ships max 6 ("max: 9; if your GPU memory is small, 6"), the HF `infer` uses 9. A page
  no larger than 640x640 gets no tiles in either Gundam mode (the official check is a literal 640).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image, ImageOps

PATCH = 16
COMPRESSION = 4  # two stride-2 convs: 4x per side, 16x in tokens
PAD_COLOR = (127, 127, 127)  # int(0.5 * 255): the official image mean
# PIL's default filter for `resize` and `ImageOps.pad`, which the official preprocessing leaves unset.
RESAMPLE = Image.Resampling.BICUBIC
GUNDAM_TILE = 640
GUNDAM_GLOBAL = 1024
NO_TILES_MAX_SIDE = 640  # pages with both sides <= this get no tiles (Gundam and Gundam-M alike)
MIN_TILES = 2
DEFAULT_MAX_TILES = 6  # the official vLLM configuration (MAX_CROPS)
MAX_TILES_LIMIT = 9  # the official maximum (HF `infer`)


def check_max_tiles(max_tiles: int) -> int:
    """The tile cap if it is in the official range 2..9; ValueError saying the range otherwise."""
    if isinstance(max_tiles, bool) or not isinstance(max_tiles, int):
        raise ValueError(f"max_tiles must be an integer, got {max_tiles!r}")
    if not MIN_TILES <= max_tiles <= MAX_TILES_LIMIT:
        raise ValueError(f"max_tiles must be between {MIN_TILES} and {MAX_TILES_LIMIT}, got {max_tiles}")
    return max_tiles


@dataclass(frozen=True)
class Mode:
    """One resolution mode. `size` is the single (global) view's side in pixels; `tile` the tile side of a
    tiled mode (0: one view only); `max_tiles` caps a tiled mode's grid (ignored by the others)."""

    name: str
    size: int
    pad: bool  # keep aspect and pad (True) or resize straight to the square (False)
    tile: int = 0
    max_tiles: int = DEFAULT_MAX_TILES

    def __post_init__(self) -> None:
        check_max_tiles(self.max_tiles)

    @property
    def tiled(self) -> bool:
        return self.tile > 0

    @property
    def grid(self) -> int:
        """Tokens per side of the global view."""
        return self.size // PATCH // COMPRESSION

    @property
    def tile_grid(self) -> int:
        """Tokens per side of one tile (0 for an untiled mode)."""
        return self.tile // PATCH // COMPRESSION

    @property
    def base_tokens(self) -> int:
        """Vision tokens of the global view, without layout rows (the figure the paper quotes)."""
        return self.grid * self.grid

    def with_max_tiles(self, max_tiles: int | None) -> Mode:
        """This mode with another tile cap (None keeps it); untiled modes come back unchanged."""
        if max_tiles is None or not self.tiled:
            return self
        return replace(self, max_tiles=check_max_tiles(max_tiles))


MODES: dict[str, Mode] = {
    "tiny": Mode("tiny", 512, pad=False),
    "small": Mode("small", 640, pad=False),
    "base": Mode("base", 1024, pad=True),
    "large": Mode("large", 1280, pad=True),
    "gundam": Mode("gundam", GUNDAM_GLOBAL, pad=True, tile=GUNDAM_TILE),
    "gundam-m": Mode("gundam-m", 1280, pad=True, tile=1024),
}


def get_mode(mode: Mode | str, max_tiles: int | None = None) -> Mode:
    """Look a mode up by name (case-insensitive), optionally with another tile cap.

    Args:
        mode: a name of MODES, or a Mode (returned as is unless max_tiles is given).
        max_tiles: the tile cap of a tiled mode (2..9); None keeps the default (6) or the Mode's own.
    Raises:
        ValueError: an unknown name (the message lists the valid ones) or a cap outside 2..9.
    """
    if isinstance(mode, Mode):
        return mode.with_max_tiles(max_tiles)
    try:
        found = MODES[mode.lower()]
    except KeyError:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}") from None
    return found.with_max_tiles(max_tiles)


def view_rows(grid_h: int, grid_w: int) -> int:
    """Rows injected for a token grid of grid_h x grid_w: one `image_newline` after each grid row."""
    return grid_h * (grid_w + 1)


def _target_ratios(min_tiles: int, max_tiles: int) -> list[tuple[int, int]]:
    ratios = {
        (i, j)
        for n in range(min_tiles, max_tiles + 1)
        for i in range(1, n + 1)
        for j in range(1, n + 1)
        if min_tiles <= i * j <= max_tiles
    }
    # Sorted by tile count (stable on the pair for determinism); ties on aspect depend on this order.
    return sorted(ratios, key=lambda r: (r[0] * r[1], r))


def gundam_grid(
    width: int, height: int, max_tiles: int = DEFAULT_MAX_TILES, tile: int = GUNDAM_TILE
) -> tuple[int, int]:
    """Tiles (across, down) a tiled mode cuts a width x height image into; (1, 1) means no tiles.

    The closest aspect ratio among the 2..max_tiles-tile grids wins; on a tie the larger grid wins when the
    image covers more than half of it (measured in `tile`-px tiles), as in the official `dynamic_preprocess`.
    """
    if width <= NO_TILES_MAX_SIDE and height <= NO_TILES_MAX_SIDE:
        return (1, 1)
    aspect = width / height
    best, best_diff = (1, 1), float("inf")
    for ratio in _target_ratios(MIN_TILES, check_max_tiles(max_tiles)):
        diff = abs(aspect - ratio[0] / ratio[1])
        if diff < best_diff:
            best, best_diff = ratio, diff
        elif diff == best_diff and width * height > 0.5 * tile * tile * ratio[0] * ratio[1]:
            best = ratio
    return best


def tile_layout(mode: Mode, width: int, height: int) -> tuple[int, int]:
    """(across, down) tiles of a page in `mode`; (1, 1) for untiled modes and small pages."""
    if not mode.tiled:
        return (1, 1)
    return gundam_grid(width, height, mode.max_tiles, mode.tile)


def token_rows(mode: Mode | str, width: int, height: int) -> int:
    """Rows injected at the `<image>` positions for one page image of width x height in this mode.

    Args:
        mode: a Mode or its name (a name means the default tile cap).
        width, height: the page image's size in pixels (only tiled modes depend on it).
    Returns:
        global view rows + tile rows (tiled modes) + 1 view separator. Base: 273, Tiny 73, Small 111,
        Large 421; Gundam 1920x1080: 273 + 210 = 483 (2x1 tiles, cap 6), 273 + 820 = 1093 (4x2, cap 9).
    """
    mode = get_mode(mode)
    rows = view_rows(mode.grid, mode.grid) + 1
    across, down = tile_layout(mode, width, height)
    if (across, down) != (1, 1):
        rows += view_rows(mode.tile_grid * down, mode.tile_grid * across)
    return rows


@dataclass(frozen=True)
class ModeViews:
    """The images one page becomes in a mode: tiles (tiled modes only, row-major) and the global view."""

    mode: Mode
    global_view: Image.Image | np.ndarray  # RGB; an (H, W, 3) uint8 array after `as_arrays`
    tiles: list[Image.Image] | list[np.ndarray]
    grid: tuple[int, int]  # tiles (across, down); (1, 1) when there are none
    source_size: tuple[int, int]  # the page image's (width, height) before resizing

    @property
    def n_rows(self) -> int:
        return token_rows(self.mode, *self.source_size)

    def as_arrays(self) -> ModeViews:
        """The same views as (H, W, 3) uint8 arrays, the form extraction workers send to the encoder: an
        array crosses the process pipe as one buffer and is copied into the encoder's pinned buffer as it
        is, where a PIL image is unpacked from its 4-byte pixels on the way twice (unpickling, then
        `np.asarray`) — a third of a GPU build's host CPU in bench/build_host.py."""
        arrays = [np.asarray(view) for view in (self.global_view, *self.tiles)]
        return replace(self, global_view=arrays[0], tiles=arrays[1:])


def square_view(image: Image.Image, size: int, pad: bool) -> Image.Image:
    """Resize an RGB image to size x size: keep aspect and pad with the mean colour, or stretch.

    Bicubic, as PIL's defaults the official code relies on (`ImageOps.pad` of a square image just resizes).
    """
    image = image.convert("RGB")
    if pad:
        return ImageOps.pad(image, (size, size), method=RESAMPLE, color=PAD_COLOR)
    return image.resize((size, size), RESAMPLE)


def make_views(image: Image.Image, mode: Mode | str) -> ModeViews:
    """Cut a page image into the views the encoder sees in `mode` (official resize/pad/tile rules)."""
    mode = get_mode(mode)
    image = image.convert("RGB")
    global_view = square_view(image, mode.size, mode.pad)
    tiles: list[Image.Image] = []
    grid = tile_layout(mode, *image.size)
    if grid != (1, 1):
        across, down = grid
        side = mode.tile
        resized = image.resize((side * across, side * down), RESAMPLE)
        for k in range(across * down):
            x, y = (k % across) * side, (k // across) * side
            tiles.append(resized.crop((x, y, x + side, y + side)))
    return ModeViews(mode=mode, global_view=global_view, tiles=tiles, grid=grid, source_size=image.size)
