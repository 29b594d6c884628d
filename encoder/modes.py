"""DeepSeek-OCR resolution modes: view sizes, vision-token counts and the official resize/pad/tile rules.

Facts carried over from the DeepSeek-OCR paper and its preprocessing:
- SAM patch 16, then the 16x conv compressor (two stride-2 convs): a view of S px gives (S/16/4)^2 tokens.
- Each row of the token grid is followed by a learned `image_newline`, and one `view_seperator` ends the
  image, so a single view of S px injects q*(q+1)+1 rows, q = S/64 (Base 1024 -> 16*17+1 = 273).
- Tiny/Small are resized straight to the square (the paper: "to avoid wasting vision tokens"); Base/Large keep
  the aspect ratio and are padded to the square with the normalisation mean (0.5 -> 127).
- Gundam = n 640 px tiles (grid chosen from the aspect ratio among 2..9 tiles) followed by a padded 1024 px
  global view; an image no larger than 640x640 gets no tiles.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageOps

PATCH = 16
COMPRESSION = 4  # two stride-2 convs: 4x per side, 16x in tokens
PAD_COLOR = (127, 127, 127)  # int(0.5 * 255): the official image mean
GUNDAM_TILE = 640
GUNDAM_GLOBAL = 1024
GUNDAM_MIN_TILES = 2
GUNDAM_MAX_TILES = 9


@dataclass(frozen=True)
class Mode:
    """One resolution mode. `size` is the single (global) view's side in pixels."""

    name: str
    size: int
    pad: bool  # keep aspect and pad (True) or resize straight to the square (False)
    tiled: bool = False

    @property
    def grid(self) -> int:
        """Tokens per side of the global view."""
        return self.size // PATCH // COMPRESSION

    @property
    def base_tokens(self) -> int:
        """Vision tokens of the global view, without layout rows (the figure the paper quotes)."""
        return self.grid * self.grid


MODES: dict[str, Mode] = {
    "tiny": Mode("tiny", 512, pad=False),
    "small": Mode("small", 640, pad=False),
    "base": Mode("base", 1024, pad=True),
    "large": Mode("large", 1280, pad=True),
    "gundam": Mode("gundam", GUNDAM_GLOBAL, pad=True, tiled=True),
}


def get_mode(name: str) -> Mode:
    """Look a mode up by name (case-insensitive); ValueError lists the valid names."""
    try:
        return MODES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown mode {name!r}; choose one of {', '.join(MODES)}") from None


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
    # Sorted by tile count first, as the official choice depends on that order for ties.
    return sorted(ratios, key=lambda r: (r[0] * r[1], r))


def gundam_grid(width: int, height: int) -> tuple[int, int]:
    """Tiles (across, down) Gundam cuts a width x height image into; (1, 1) means no tiles.

    The closest aspect ratio among the 2..9-tile grids wins; on a tie the larger grid wins when the image
    covers more than half of it, as in the official `dynamic_preprocess`.
    """
    if width <= GUNDAM_TILE and height <= GUNDAM_TILE:
        return (1, 1)
    aspect = width / height
    best, best_diff = (1, 1), float("inf")
    for ratio in _target_ratios(GUNDAM_MIN_TILES, GUNDAM_MAX_TILES):
        diff = abs(aspect - ratio[0] / ratio[1])
        if diff < best_diff:
            best, best_diff = ratio, diff
        elif diff == best_diff and width * height > 0.5 * GUNDAM_TILE * GUNDAM_TILE * ratio[0] * ratio[1]:
            best = ratio
    return best


def token_rows(mode: Mode | str, width: int, height: int) -> int:
    """Rows injected at the `<image>` positions for one page image of width x height in this mode.

    Args:
        mode: a Mode or its name.
        width, height: the page image's size in pixels (only Gundam depends on it).
    Returns:
        global view rows + tile rows (Gundam) + 1 view separator. Base: 273, Tiny 73, Small 111, Large 421.
    """
    mode = get_mode(mode) if isinstance(mode, str) else mode
    rows = view_rows(mode.grid, mode.grid) + 1
    if mode.tiled:
        across, down = gundam_grid(width, height)
        if (across, down) != (1, 1):
            q = GUNDAM_TILE // PATCH // COMPRESSION
            rows += view_rows(q * down, q * across)
    return rows


@dataclass(frozen=True)
class ModeViews:
    """The images one page becomes in a mode: tiles (Gundam only, row-major) and the global view."""

    mode: Mode
    global_view: Image.Image
    tiles: list[Image.Image]
    grid: tuple[int, int]  # tiles (across, down); (1, 1) when there are none
    source_size: tuple[int, int]  # the page image's (width, height) before resizing

    @property
    def n_rows(self) -> int:
        return token_rows(self.mode, *self.source_size)


def square_view(image: Image.Image, size: int, pad: bool) -> Image.Image:
    """Resize an RGB image to size x size: keep aspect and pad with the mean colour, or stretch."""
    image = image.convert("RGB")
    if pad:
        return ImageOps.pad(image, (size, size), method=Image.Resampling.LANCZOS, color=PAD_COLOR)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def make_views(image: Image.Image, mode: Mode | str) -> ModeViews:
    """Cut a page image into the views the encoder sees in `mode` (official resize/pad/tile rules)."""
    mode = get_mode(mode) if isinstance(mode, str) else mode
    image = image.convert("RGB")
    global_view = square_view(image, mode.size, mode.pad)
    tiles: list[Image.Image] = []
    grid = (1, 1)
    if mode.tiled:
        grid = gundam_grid(*image.size)
        if grid != (1, 1):
            across, down = grid
            resized = image.resize((GUNDAM_TILE * across, GUNDAM_TILE * down))
            for k in range(across * down):
                x, y = (k % across) * GUNDAM_TILE, (k // across) * GUNDAM_TILE
                tiles.append(resized.crop((x, y, x + GUNDAM_TILE, y + GUNDAM_TILE)))
    return ModeViews(mode=mode, global_view=global_view, tiles=tiles, grid=grid, source_size=image.size)
