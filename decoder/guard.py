"""The no-repeat n-gram guard DeepSeek-OCR decodes with (greedy decoding loops without it).

Official settings for images: an n-gram of 30 tokens may not occur twice within the last 90 generated tokens;
the table-cell tags `<td>` / `</td>` are exempt, since tables legitimately repeat them. The guard only looks
at generated tokens, never at the prompt.

Exemption scope. The official processor bans the would-be-repeating token unless *that token* is a table tag
(`exempt_scope="token"`). We default to the broader rule of our design: an n-gram that *contains* a table tag
is never a repetition (`exempt_scope="ngram"`), so repeated table rows with identical cell contents survive.
The official rule is one argument away.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal, cast

import torch
from transformers import LogitsProcessor

NGRAM_SIZE = 30
WINDOW_SIZE = 90

ExemptScope = Literal["ngram", "token"]


def banned_tokens(
    ids: Sequence[int],
    ngram_size: int = NGRAM_SIZE,
    window_size: int = WINDOW_SIZE,
    exempt_ids: Collection[int] = (),
    exempt_scope: ExemptScope = "ngram",
) -> set[int]:
    """Tokens that would complete an n-gram already seen within the last `window_size` generated tokens.

    Args:
        ids: the generated tokens so far (prompt excluded), oldest first.
        ngram_size: n; the last n-1 tokens are the prefix looked up.
        window_size: only n-grams lying wholly inside the last `window_size` tokens count.
        exempt_ids: table tag ids.
        exempt_scope: "ngram" skips every n-gram containing an exempt id; "token" (official) only never
            bans an exempt id.
    Returns:
        The ids to ban for the next step (empty when fewer than `ngram_size` tokens exist).
    """
    n = len(ids)
    if n < ngram_size:
        return set()
    ids = list(ids[-window_size:]) if n > window_size else list(ids)
    n = len(ids)
    prefix = ids[n - ngram_size + 1 :]
    exempt = set(exempt_ids)
    if exempt_scope == "ngram" and exempt.intersection(prefix):
        return set()
    banned: set[int] = set()
    last = prefix[-1] if prefix else None
    for start in range(0, n - ngram_size + 1):
        end = start + ngram_size  # the n-gram is ids[start:end], its prefix ids[start:end-1]
        if last is not None and ids[end - 2] != last:
            continue  # cheap reject before comparing the whole prefix
        if ids[start : end - 1] != prefix:
            continue
        token = ids[end - 1]
        if exempt_scope == "ngram" and token in exempt:
            continue
        banned.add(token)
    if exempt_scope == "token":
        banned -= exempt
    return banned


class NoRepeatNGramGuard(LogitsProcessor):
    """Bans n-gram repeats in a batch of rows and records, per row, whether that changed a greedy choice.

    Usable as a transformers `LogitsProcessor` (`__call__(input_ids, scores)`, with `prompt_length` telling it
    where generated tokens start) or through `apply(histories, scores)` with plain lists of generated ids.
    `fired[row]` becomes True the first time a banned token was that row's top-scoring token, i.e. the guard
    actually changed what greedy decoding picked.

    Raises:
        ValueError: ngram_size < 1, window_size < ngram_size, or an unknown exempt_scope.
    """

    def __init__(
        self,
        ngram_size: int = NGRAM_SIZE,
        window_size: int = WINDOW_SIZE,
        exempt_ids: Collection[int] = (),
        exempt_scope: ExemptScope = "ngram",
        prompt_length: int = 0,
    ) -> None:
        if not isinstance(ngram_size, int) or ngram_size < 1:
            raise ValueError(f"ngram_size must be a positive int, got {ngram_size!r}")
        if not isinstance(window_size, int) or window_size < ngram_size:
            raise ValueError(f"window_size must be an int >= ngram_size ({ngram_size}), got {window_size!r}")
        if exempt_scope not in ("ngram", "token"):
            raise ValueError(f"exempt_scope must be 'ngram' or 'token', got {exempt_scope!r}")
        self.ngram_size = ngram_size
        self.window_size = window_size
        self.exempt_ids = frozenset(int(i) for i in exempt_ids)
        self.exempt_scope: ExemptScope = exempt_scope
        self.prompt_length = prompt_length
        self.fired: list[bool] = []

    def reset(self) -> None:
        """Forget what fired (call between independent generations)."""
        self.fired = []

    def apply(self, histories: Sequence[Sequence[int] | None], scores: torch.Tensor) -> torch.Tensor:
        """Set banned scores to -inf, in place.

        Args:
            histories: per row, its generated ids so far; None skips the row (e.g. finished).
            scores: (rows, vocab) next-token scores.
        Returns:
            `scores`, modified.
        """
        if len(self.fired) < len(histories):
            self.fired.extend([False] * (len(histories) - len(self.fired)))
        top: list[int] | None = None
        for row, history in enumerate(histories):
            if history is None or len(history) < self.ngram_size:
                continue
            banned = banned_tokens(
                history, self.ngram_size, self.window_size, self.exempt_ids, self.exempt_scope
            )
            if not banned:
                continue
            if top is None:
                top = scores.argmax(dim=-1).tolist()
            if top[row] in banned:
                self.fired[row] = True
            scores[row, list(banned)] = float("-inf")
        return scores

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """transformers' interface: `input_ids` (batch, prompt + generated), `scores` (batch, vocab)."""
        generated = input_ids[:, self.prompt_length :][:, -self.window_size :].tolist()
        return cast(torch.FloatTensor, self.apply(generated, scores))


class TensorNGramGuard:
    """The same rule as `banned_tokens`, on tensors for a whole batch at once: no host round trip, so it runs
    inside a captured decode step. Each row keeps its last `window_size` generated ids right-aligned in a
    (rows, window) buffer, -1 where nothing was generated yet.

    Raises:
        ValueError: as NoRepeatNGramGuard.
    """

    def __init__(
        self,
        ngram_size: int = NGRAM_SIZE,
        window_size: int = WINDOW_SIZE,
        exempt_ids: Collection[int] = (),
        exempt_scope: ExemptScope = "ngram",
    ) -> None:
        NoRepeatNGramGuard(ngram_size, window_size, exempt_ids, exempt_scope)  # the same argument checks
        self.ngram_size, self.window_size, self.exempt_scope = ngram_size, window_size, exempt_scope
        self.exempt_ids = sorted(int(i) for i in exempt_ids)
        # Made once per device: a host->device copy is not allowed while a CUDA graph is being captured.
        self._exempt: dict[torch.device, torch.Tensor] = {}

    def empty_history(self, rows: int, device: torch.device | str) -> torch.Tensor:
        return torch.full((rows, self.window_size), -1, dtype=torch.long, device=device)

    @staticmethod
    def push(recent: torch.Tensor, tokens: torch.Tensor) -> None:
        """Append one token per row to the history buffer, in place (oldest falls out)."""
        recent.copy_(torch.cat([recent[:, 1:], tokens.reshape(-1, 1)], dim=1))

    def apply(self, recent: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """Set banned scores to -inf in place; returns per row whether the top choice was banned.

        Args:
            recent: (rows, window) generated ids, right-aligned, -1 = none yet.
            scores: (rows, vocab) float next-token scores.
        Returns:
            (rows,) bool: the guard changed that row's greedy choice.
        """
        n, w = self.ngram_size, self.window_size
        prefix = recent[:, w - n + 1 :]  # (rows, n-1): the last n-1 generated ids
        starts = w - n + 1  # n-grams lying wholly in the window start at 0..w-n
        grams = recent.unfold(1, n - 1, 1)[:, :starts]  # (rows, starts, n-1) earlier prefixes
        following = recent[:, n - 1 :]  # (rows, starts): the id after each earlier prefix
        hit = (grams == prefix[:, None, :]).all(-1) & (recent[:, :starts] >= 0)  # a full earlier n-gram
        if self.exempt_ids:
            exempt = self._exempt.get(recent.device)
            if exempt is None:
                exempt = self._exempt[recent.device] = torch.tensor(self.exempt_ids, device=recent.device)
            hit &= ~torch.isin(following, exempt)
            if self.exempt_scope == "ngram":
                hit &= ~torch.isin(prefix, exempt).any(-1, keepdim=True)
        # -inf where any earlier n-gram bans the id; amin so a non-banning duplicate cannot undo a ban.
        penalty = torch.zeros_like(scores)
        fill = torch.where(hit, float("-inf"), 0.0).to(scores.dtype)
        penalty.scatter_reduce_(1, following.clamp(min=0), fill, reduce="amin")
        top = scores.argmax(-1, keepdim=True)
        changed = penalty.gather(1, top)[:, 0] < 0
        scores.add_(penalty)
        return changed
