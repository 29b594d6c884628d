"""Whether a generation can stand, as an answer or as a page's reading.

It stands when the repetition guard did not fire, its text (markup removed) is not empty, and its mean token
log-prob clears the caller's threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from decoder.grounding import clean_generated

if TYPE_CHECKING:
    from decoder.generate import Generation


@dataclass(frozen=True)
class Judged:
    text: str  # the generated text cleaned for display
    reason: str | None  # None: it stands; else guard_fired | empty | low_confidence


def judge(generation: Generation, min_confidence: float) -> Judged:
    """Judge one generation.

    Args:
        generation: what `Generator.generate` returned (text, guard_fired, confidence).
        min_confidence: the lowest mean token log-prob that stands.
    Returns:
        The cleaned text and the first reason it cannot stand (guard, then empty, then confidence), or None.
    """
    text = clean_generated(generation.text)
    if generation.guard_fired:
        return Judged(text, "guard_fired")
    if not text:
        return Judged(text, "empty")
    if generation.confidence < min_confidence:
        return Judged(text, "low_confidence")
    return Judged(text, None)
