"""The mode of each page of a batch (the index's one mode, or the auto policy's per page), and encoding a
batch whose pages are in several modes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from encoder.modes import Mode, get_mode
from indexer.auto_mode import AUTO, FIGURE_INK, TokenCounter, choose_mode, estimate_tokens
from indexer.extract import ExtractedPage


def page_modes(
    pages: Sequence[ExtractedPage],
    mode: str,
    max_tiles: int | None,
    max_compression: float,
    count_tokens: TokenCounter | None = None,
) -> list[Mode]:
    """The Mode each page is encoded (or counted) in.

    Args:
        pages: extracted pages (with `figure_ink` when `mode` is "auto").
        mode: the index's mode, or "auto".
        max_tiles: the tile cap of the tiled modes.
        max_compression: auto's target (text tokens per vision token).
        count_tokens: the decoder tokenizer's count; None uses `estimate_tokens`.

    Returns:
        One Mode per page, in order.
    """
    if mode != AUTO:
        return [get_mode(mode, max_tiles)] * len(pages)
    count = count_tokens or estimate_tokens
    out = []
    for page in pages:
        figure = (page.figure_ink or 0.0) >= FIGURE_INK
        choice = choose_mode(count(page.text), page.width, page.height, figure, max_compression)
        out.append(get_mode(choice.mode, max_tiles))
    return out


def start_in_modes(vision: Any, images: Sequence[Any], modes: Sequence[Mode]) -> Callable[[], list[Any]]:
    """Start encoding pages, each in its own mode (one encoder call per distinct mode; a batch all in the
    encoder's own mode in one call, its pages possibly pre-cut), and return the call that gives the encoded
    pages in input order. An encoder with `start` (encoder.vision.DeepseekOcrEncoder) only queues its
    forwards here; any other encodes here."""
    start = getattr(vision, "start", None) or _encode_now(vision)
    own = getattr(vision, "view_mode", None)
    if all(m == own for m in modes) or own is None:
        return start(list(images))
    groups: dict[Mode, list[int]] = defaultdict(list)
    for i, m in enumerate(modes):
        groups[m].append(i)
    started = [(idx, start([images[i] for i in idx], m)) for m, idx in groups.items()]

    def collect() -> list[Any]:
        out: list[Any] = [None] * len(images)
        for idx, pages in started:
            for i, encoded in zip(idx, pages(), strict=True):
                out[i] = encoded
        return out

    return collect


def _encode_now(vision: Any) -> Callable[..., Callable[[], list[Any]]]:
    """`start` for an encoder without one: it encodes at once."""

    def start(images: list[Any], *mode: Mode) -> Callable[[], list[Any]]:
        encoded = list(vision.encode(images, *mode))
        return lambda: encoded

    return start
