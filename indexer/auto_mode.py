"""`--mode auto`: a resolution mode per page, from how much text it carries (the paper's compression budget).

DeepSeek-OCR reads ~97% of a page back when its text tokens are at most ~10x its vision tokens (Fox
benchmark), ~90% at 10-12x, ~60% at 20x. So for each page:

1. count its text tokens: with the decoder's tokenizer when the weights are there, else `estimate_tokens`,
   after how DeepSeek's BPE splits text: a run of Latin letters takes one token per 4 letters (rounded up),
   a run of digits one per 3 digits (numbers are split into groups of up to three), every other ASCII
   symbol one, every other character 0.7 (~1.4 CJK characters per token); whitespace none;
2. take the smallest of Tiny (64 vision tokens), Small (100), Base (256), Large (400) whose ratio
   text tokens / vision tokens is at most the target (`--max-compression`, default 10);
3. a page whose text needs more than Large is *dense*: Gundam when it is not square (its longer side over 1.25
   times the shorter: tiles follow the aspect ratio), Large when it is;
4. a page with a figure gets at least Base, however little text it has: `figure_ink` measures ink outside
   the text lines on a small render, and a page with at least FIGURE_INK of it counts as a figure page.
Vision tokens are the global view's grid (the figures the paper quotes), without layout rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from encoder.modes import get_mode
from retriever.records import TextLine

AUTO = "auto"
DEFAULT_MAX_COMPRESSION = 10.0
LADDER = ("tiny", "small", "base", "large")  # untiled modes by vision tokens, smallest first
FIGURE_FLOOR = "base"
DENSE_TILED = "gundam"
SQUARE_ASPECT = 1.25  # longer side / shorter side up to this counts as square
FIGURE_INK = 0.04  # share of the page's area that is ink outside text lines
INK_LEVEL = 200  # grey level (0..255) below which a pixel is ink
PROBE_SIDE = 256  # the figure probe renders the page's longer side at about this many pixels
LETTERS_PER_TOKEN = 4
DIGITS_PER_TOKEN = 3
TOKENS_PER_OTHER_CHAR = 0.7
# Runs the estimate counts: Latin letters, digits, other ASCII symbols, other non-space characters.
_RUNS = re.compile(r"[A-Za-z]+|[0-9]+|[!-/:-@\[-`{-~]+|[^\x00-\x7f\s]+")

TokenCounter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """Text tokens of `text` without a tokenizer (see the module docstring for the rule)."""
    total = 0.0
    for run in _RUNS.finditer(text):
        piece = run.group()
        if piece[0].isascii() and piece[0].isalpha():
            total += math.ceil(len(piece) / LETTERS_PER_TOKEN)
        elif piece[0].isdigit() and piece.isascii():
            total += math.ceil(len(piece) / DIGITS_PER_TOKEN)
        elif piece.isascii():
            total += len(piece)
        else:
            total += len(piece) * TOKENS_PER_OTHER_CHAR
    return math.ceil(total)


def tokenizer_counter(weights_dir: Path) -> TokenCounter:
    """Count text tokens with the tokenizer in a weights folder (its tokenizer.json), without loading the
    model: what a lite build in mode auto uses when weights are given but no encoder runs.

    Raises:
        ValueError: the folder has no tokenizer.json (with what to give instead).
    """
    from tokenizers import Tokenizer

    path = Path(weights_dir).expanduser() / "tokenizer.json"
    if not path.is_file():
        raise ValueError(
            f"{path} is missing: --weights must be a DeepSeek-OCR folder (or leave it out to estimate)"
        )
    tokenizer = Tokenizer.from_file(str(path))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def check_max_compression(value: float) -> float:
    """The target if it is a number in (0, 100]; ValueError saying so otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 100:
        raise ValueError(f"max_compression must be a number in (0, 100], got {value!r}")
    return float(value)


@dataclass(frozen=True)
class PageChoice:
    """The mode chosen for a page and why: its text tokens, their ratio to that mode's vision tokens."""

    mode: str
    text_tokens: int
    ratio: float
    figure: bool


def choose_mode(
    text_tokens: int,
    width: float,
    height: float,
    figure: bool,
    max_compression: float = DEFAULT_MAX_COMPRESSION,
) -> PageChoice:
    """The mode of one page under the auto policy.

    Args:
        text_tokens: the page text's tokens.
        width, height: the page's size (any unit: only the aspect ratio is used).
        figure: whether the page holds a figure or image (`figure_ink` >= FIGURE_INK).
        max_compression: the most text tokens per vision token a page may carry.

    Returns:
        The PageChoice (ratio against the chosen mode's global-view tokens).
    """
    target = check_max_compression(max_compression)
    floor = LADDER.index(FIGURE_FLOOR) if figure else 0
    for name in LADDER[floor:]:
        tokens = get_mode(name).base_tokens
        if text_tokens / tokens <= target:
            return PageChoice(name, text_tokens, text_tokens / tokens, figure)
    square = max(width, height) <= SQUARE_ASPECT * min(width, height)
    name = LADDER[-1] if square else DENSE_TILED
    return PageChoice(name, text_tokens, text_tokens / get_mode(name).base_tokens, figure)


def figure_ink(image: Image.Image, lines: Sequence[TextLine], width_pt: float) -> float:
    """Share of the page that is ink outside its text lines (figures, photos, charts, rules).

    Args:
        image: the page rendered small (about PROBE_SIDE px on its longer side).
        lines: the page's text lines, boxes in PDF points.
        width_pt: the page's width in points (scales the boxes onto the image).

    Returns:
        A fraction in [0, 1].
    """
    grey = np.asarray(image.convert("L"))  # (h, w)
    ink = grey < INK_LEVEL
    scale = grey.shape[1] / width_pt if width_pt > 0 else 1.0
    for line in lines:
        x0, y0, x1, y1 = line.bbox
        # One pixel of margin: anti-aliased glyph edges stay inside their line.
        ink[
            max(0, math.floor(y0 * scale) - 1) : math.ceil(y1 * scale) + 1,
            max(0, math.floor(x0 * scale) - 1) : math.ceil(x1 * scale) + 1,
        ] = False
    return float(ink.mean()) if ink.size else 0.0


def probe_dpi(width_pt: float, height_pt: float) -> int:
    """The dpi (whole: PDF rendering takes no fractions) at which a page's longer side renders at about
    PROBE_SIDE pixels."""
    return max(1, round(PROBE_SIDE * 72.0 / max(width_pt, height_pt, 1.0)))
