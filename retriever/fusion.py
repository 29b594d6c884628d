"""Fusing the ranked lists of several search legs (BM25, dense text, pooled vision) into one.

Two fusions:
- "convex" (the default): each leg's candidate scores are min-max normalised to [0, 1] over that leg's own
  list (best → 1, last → 0; a page a leg did not return gets 0 from it) and the legs are averaged. Unlike
  RRF it keeps *how much* better a page scored, so a page far ahead in one leg is not pulled level with
  pages that merely rank near it in a weaker leg. Bruch et al., "An Analysis of Fusion Functions for Hybrid
  Retrieval" (TOIS 2023) found this convex combination ahead of RRF in and out of domain; measured here on
  SQuAD (docs/BENCHMARKS.md) it is what lets BM25 + MiniLM beat BM25 alone.
- "rrf": reciprocal rank fusion, run inside Milvus (`retriever.search`), kept for comparison.

Normalisation reads the bounds off the leg's own order (first hit = best, last = worst), so it holds for
any score convention: Milvus Lite 3.2 reports BM25 scores negated (its best hit has the lowest value),
cosine as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

Fusion = Literal["convex", "rrf"]
FUSIONS: tuple[str, ...] = ("convex", "rrf")

# A leg's hits: (page_id, score), best first, as the leg returned them.
LegHits = Sequence[tuple[str, float]]


def normalise_leg(hits: LegHits) -> dict[str, float]:
    """Min-max normalise one leg's scores: best → 1.0, worst → 0.0 (all equal: all 1.0).

    Args:
        hits: (page_id, score), best first.

    Returns:
        page_id → normalised score (a page listed twice keeps its best entry).
    """
    if not hits:
        return {}
    best, worst = hits[0][1], hits[-1][1]
    span = best - worst
    out: dict[str, float] = {}
    for page_id, score in hits:
        norm = 1.0 if span == 0 else (score - worst) / span
        out.setdefault(page_id, min(1.0, max(0.0, norm)))
    return out


def convex_fuse(legs: Sequence[LegHits], weights: Sequence[float] | None = None) -> list[tuple[str, float]]:
    """Weighted sum of the legs' normalised scores.

    Args:
        legs: each leg's hits, best first.
        weights: one per leg (None: equal); they are rescaled to sum to 1, so fused scores lie in [0, 1].

    Returns:
        (page_id, fused score), best first; ties are broken by page_id for a stable order.

    Raises:
        ValueError: a weight count that does not match the legs, or weights that are negative or all zero.
    """
    if weights is None:
        weights = [1.0] * len(legs)
    if len(weights) != len(legs):
        raise ValueError(f"{len(weights)} weights for {len(legs)} legs")
    if any(w < 0 for w in weights) or (legs and sum(weights) <= 0):
        raise ValueError(f"fusion weights must be >= 0 and not all 0, got {list(weights)}")
    total = sum(weights)
    fused: dict[str, float] = {}
    for hits, weight in zip(legs, weights, strict=True):
        for page_id, norm in normalise_leg(hits).items():
            fused[page_id] = fused.get(page_id, 0.0) + norm * weight / total
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))
