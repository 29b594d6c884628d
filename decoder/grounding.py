"""Grounding markup in DeepSeek-OCR output: `<|ref|>label<|/ref|><|det|>[[x0, y0, x1, y1], ...]<|/det|>`.

With the `<|grounding|>` markdown prompt each layout block is preceded by its type (text, title, table, image,
...) and boxes; the locate prompt answers with the located text and its boxes. Coordinates are integers on a
0-999 scale of the page image the model saw, mapped as `x / 999 * width` (the official rendering code);
page geometry in vtrag is in PDF points, `points = pixels * 72 / dpi`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCALE = 999

_SPAN = re.compile(
    r"(?:<\|ref\|>(?P<label>.*?)<\|/ref\|>)?\s*<\|det\|>(?P<det>.*?)<\|/det\|>"
    r"|<\|ref\|>(?P<bare>.*?)<\|/ref\|>",
    re.DOTALL,
)
_BOX = re.compile(
    r"\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]"
)
_BLANK_LINES = re.compile(r"\n{3,}")
_MARKUP = re.compile(r"<\|[^|<>]{0,40}\|>|<image>")


@dataclass(frozen=True)
class Box:
    """A box on the 0-999 scale, clamped to it and ordered so that x0 <= x1, y0 <= y1."""

    x0: float
    y0: float
    x1: float
    y1: float

    def scaled(self, width: float, height: float) -> tuple[float, float, float, float]:
        """The box in a frame of `width` x `height` (pixels or points)."""
        sx, sy = width / SCALE, height / SCALE
        return (self.x0 * sx, self.y0 * sy, self.x1 * sx, self.y1 * sy)

    def to_pixels(self, width_px: int, height_px: int) -> tuple[float, float, float, float]:
        """The box in page pixels (x0, y0, x1, y1), for a page image of width_px x height_px."""
        return self.scaled(width_px, height_px)

    def to_points(self, width_px: int, height_px: int, dpi: float) -> tuple[float, float, float, float]:
        """The box in PDF points for a page rendered at `dpi` to width_px x height_px pixels."""
        factor = 72.0 / dpi
        x0, y0, x1, y1 = self.to_pixels(width_px, height_px)
        return (x0 * factor, y0 * factor, x1 * factor, y1 * factor)


@dataclass(frozen=True)
class GroundedSpan:
    """One grounding span: its label (may be empty), its boxes, and where it sits in the text."""

    label: str
    boxes: tuple[Box, ...]
    start: int
    end: int


def _clamp(v: float) -> float:
    return min(max(v, 0.0), float(SCALE))


def parse_boxes(det: str) -> tuple[Box, ...]:
    """All well-formed `[x0, y0, x1, y1]` boxes in a `<|det|>` payload (malformed ones are skipped)."""
    boxes = []
    for match in _BOX.finditer(det):
        x0, y0, x1, y1 = (_clamp(float(v)) for v in match.groups())
        boxes.append(Box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
    return tuple(boxes)


def parse_grounding(text: str) -> list[GroundedSpan]:
    """Every grounding span of `text`, in order (a `<|ref|>` without boxes gives a span with no boxes).

    Args:
        text: model output with special tokens kept.
    Returns:
        The spans; `text[span.start:span.end]` is the markup of each.
    """
    spans = []
    for match in _SPAN.finditer(text):
        if match.group("det") is not None:
            label, boxes = (match.group("label") or "").strip(), parse_boxes(match.group("det"))
        else:
            label, boxes = match.group("bare").strip(), ()
        spans.append(GroundedSpan(label=label, boxes=boxes, start=match.start(), end=match.end()))
    return spans


def strip_grounding(text: str, *, keep_labels: bool = False) -> str:
    """`text` for display: grounding spans removed (or replaced by their labels), blank runs collapsed.

    Args:
        text: model output.
        keep_labels: replace each span by its label instead of removing it (useful for locate answers).
    """
    out = _SPAN.sub(
        lambda m: (m.group("label") or m.group("bare") or "").strip() if keep_labels else "", text
    )
    out = out.replace("<|grounding|>", "")
    return _BLANK_LINES.sub("\n\n", out).strip()


def clean_generated(text: str) -> str:
    """Generated text for display: grounding spans, special tags and stray `<image>` markers removed,
    whitespace folded to single spaces."""
    spans = parse_grounding(text)
    for span in reversed(spans):
        text = text[: span.start] + text[span.end :]
    return " ".join(_MARKUP.sub(" ", text).split())
