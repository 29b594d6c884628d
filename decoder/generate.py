"""Greedy generation from stored vision rows: prompt layout, injection, KV-cached decoding, guard, confidence.

The model is any `DeepseekOcr2ForConditionalGeneration`-shaped module (transformers' native OCR-2 class, or
our v1 class built on it): `forward(input_ids, attention_mask, position_ids, past_key_values, use_cache,
logits_to_keep, mm_encoder_outputs | inputs_embeds)`. Stored rows never go back through the vision tower:
they are handed to the model as precomputed image features (`mm_encoder_outputs={"image":
BaseModelOutputWithPooling(pooler_output=[rows, ...])}`), which the model scatters onto the image-token
positions exactly as it scatters the output of its own `get_image_features`. On a transformers without
`mm_encoder_outputs` we do that same scatter ourselves and pass `inputs_embeds`.

Decoding is our own loop rather than `model.generate`, because we need the unguarded log-probability of every
chosen token (the confidence) and per-request guard reports, with left-padded batches.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutputWithPooling

from decoder.guard import NGRAM_SIZE, WINDOW_SIZE, ExemptScope, NoRepeatNGramGuard, TensorNGramGuard
from decoder.prompts import build_inputs
from decoder.static_decode import Decoded, StaticDecoder, cache_kwarg
from decoder.tokenizer import TABLE_TAGS

DEFAULT_MAX_NEW_TOKENS = 8192  # the official max_tokens

InjectMode = Literal["auto", "mm_encoder_outputs", "inputs_embeds"]


@dataclass(frozen=True)
class Request:
    """One request: the stored rows of its pages (page order) and a prompt with one `<image>` per page."""

    pages_rows: Sequence[torch.Tensor]
    prompt: str


@dataclass(frozen=True)
class Generation:
    """The result of one request.

    text: the decoded answer, stop token excluded, special tokens (grounding markup) kept.
    token_ids: every chosen token, the stop token included when generation stopped on it.
    logprobs: natural-log probability of each chosen token under the model's unguarded distribution.
    confidence: mean of `logprobs` (0 is certain; more negative is less sure).
    guard_fired: the n-gram guard changed at least one greedy choice (the model was looping).
    finish_reason: "stop" (a stop token) or "length" (max_new_tokens reached).
    prompt_tokens: prompt length in tokens, BOS and image positions included.
    vision_tokens: image positions in the prompt (= stored rows injected).
    """

    text: str
    token_ids: list[int]
    logprobs: list[float]
    confidence: float
    guard_fired: bool
    finish_reason: Literal["stop", "length"]
    prompt_tokens: int
    vision_tokens: int


class Generator:
    """Greedy decoding of stored vision rows with a DeepSeek-OCR model.

    Args:
        model: a `DeepseekOcr2ForConditionalGeneration`-like model (already on its device, in eval mode).
        tokenizer: a `decoder.tokenizer.Tokenizer` (or anything with encode, decode, image_token_id,
            bos_token_id, eos_token_id and optionally pad_token_id / token_id).
        ngram_size, window_size: the repetition guard (official 30 / 90); `guard=False` turns it off.
        exempt_ids: ids the guard exempts; default: the tokenizer's `<td>` and `</td>`.
        exempt_scope: "ngram" (default) or "token" (the official rule); see `decoder.guard`.
        inject: "auto" uses `mm_encoder_outputs` when the model's forward accepts it, else `inputs_embeds`.
        static: decode on a static KV cache with the step captured as a CUDA graph (`decoder.static_decode`;
            the same tokens, several times faster on a GPU); None = on when the model is on CUDA.
    Raises:
        ValueError: the tokenizer's image token differs from the model config's, or a bad inject mode.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        *,
        guard: bool = True,
        ngram_size: int = NGRAM_SIZE,
        window_size: int = WINDOW_SIZE,
        exempt_ids: Collection[int] | None = None,
        exempt_scope: ExemptScope = "ngram",
        inject: InjectMode = "auto",
        static: bool | None = None,
    ) -> None:
        self.model: Any = model  # duck-typed: the DeepseekOcr2ForConditionalGeneration interface
        self.tokenizer = tokenizer
        config_image_id = getattr(getattr(model, "config", None), "image_token_id", None)
        if config_image_id is not None and config_image_id != tokenizer.image_token_id:
            raise ValueError(
                f"tokenizer image token id {tokenizer.image_token_id} != model config image_token_id "
                f"{config_image_id}"
            )
        if inject == "auto":
            params = inspect.signature(model.forward).parameters
            inject = "mm_encoder_outputs" if "mm_encoder_outputs" in params else "inputs_embeds"
        if inject not in ("mm_encoder_outputs", "inputs_embeds"):
            raise ValueError(
                f"inject must be 'auto', 'mm_encoder_outputs' or 'inputs_embeds', got {inject!r}"
            )
        self.inject: InjectMode = inject
        if exempt_ids is None:
            token_id = getattr(tokenizer, "token_id", None)
            found = [token_id(tag) for tag in TABLE_TAGS] if token_id is not None else []
            exempt_ids = [i for i in found if i is not None]
        self._guard_args = (ngram_size, window_size, tuple(exempt_ids), exempt_scope) if guard else None
        if self._guard_args is not None:
            NoRepeatNGramGuard(*self._guard_args)  # validate now, not at the first request
        if static is None:
            static = self._device().type == "cuda"
        self._static: StaticDecoder | None = None
        if static:
            tensor_guard = TensorNGramGuard(*self._guard_args) if self._guard_args is not None else None
            self._static = StaticDecoder(model, tensor_guard)

    # ---- inputs

    def _hidden_size(self) -> int:
        return int(self.model.get_input_embeddings().embedding_dim)

    def _check_rows(self, pages_rows: Sequence[torch.Tensor]) -> None:
        hidden = self._hidden_size()
        for i, rows in enumerate(pages_rows):
            if rows.dim() != 2 or rows.shape[1] != hidden or rows.shape[0] < 1:
                raise ValueError(
                    f"page {i}: stored rows must be (n_rows >= 1, {hidden}), got {tuple(rows.shape)}"
                )

    def prompt_ids(self, pages_rows: Sequence[torch.Tensor], prompt: str) -> list[int]:
        """The prompt's token ids with one image id per stored row (see `prompts.build_inputs`)."""
        self._check_rows(pages_rows)
        return build_inputs(self.tokenizer, prompt, [int(r.shape[0]) for r in pages_rows])

    def _model_inputs(
        self, input_ids: torch.Tensor, features: list[torch.Tensor], inject: InjectMode | None = None
    ) -> dict[str, Any]:
        """Model kwargs that put `features` (rows in order) onto the image-token positions of `input_ids`
        (`inject`: this call's way, default the generator's)."""
        if (inject or self.inject) == "mm_encoder_outputs":
            # A list of per-image row tensors, as the model's own get_image_features returns (it cats them).
            image = BaseModelOutputWithPooling(pooler_output=features)  # type: ignore[arg-type]
            return {"input_ids": input_ids, "mm_encoder_outputs": {"image": image}}
        embeds = self.model.get_input_embeddings()(input_ids)
        rows = torch.cat(features, dim=0).to(embeds.device, embeds.dtype)
        mask = (input_ids == self.tokenizer.image_token_id).unsqueeze(-1).expand_as(embeds)
        # The same masked_scatter the model applies to its own image features.
        return {"inputs_embeds": embeds.masked_scatter(mask, rows)}

    def _device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @torch.inference_mode()
    def prompt_logits(self, pages_rows: Sequence[torch.Tensor], prompt: str) -> torch.Tensor:
        """Logits at every prompt position with the stored rows injected (no cache).

        Returns:
            (prompt_tokens, vocab) logits, as the model computes them.
        """
        ids = torch.tensor([self.prompt_ids(pages_rows, prompt)], device=self._device())
        features = [r.to(self._device()) for r in pages_rows]
        out = self.model(**self._model_inputs(ids, features), use_cache=False)
        return out.logits[0]

    # ---- generation

    def generate(
        self,
        pages_rows: Sequence[torch.Tensor],
        prompt: str,
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        *,
        stop_ids: Collection[int] | None = None,
    ) -> Generation:
        """Greedy-decode an answer to `prompt` over the stored rows of its pages.

        Args:
            pages_rows: per page (in prompt order), the stored rows (n_rows, hidden) exactly as injected.
            prompt: text with one `<image>` per page (see `decoder.prompts`).
            max_new_tokens: generation budget (>= 1).
            stop_ids: tokens that end generation; default the tokenizer's EOS; `()` never stops early.
        Returns:
            A `Generation`.
        Raises:
            ValueError: placeholders differ from pages, rows of the wrong shape, max_new_tokens < 1.
        """
        return self.generate_batch([Request(pages_rows, prompt)], max_new_tokens, stop_ids=stop_ids)[0]

    @torch.inference_mode()
    def generate_batch(
        self,
        requests: Sequence[Request],
        max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        *,
        stop_ids: Collection[int] | None = None,
    ) -> list[Generation]:
        """Greedy-decode several requests together (left-padded, one KV cache); results in request order.

        Args and errors as `generate`, per request.
        """
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        if not requests:
            return []
        stops = {self.tokenizer.eos_token_id} if stop_ids is None else set(stop_ids)
        device = self._device()
        prompts = [self.prompt_ids(r.pages_rows, r.prompt) for r in requests]
        batch, width = len(prompts), max(len(p) for p in prompts)
        pad = getattr(self.tokenizer, "pad_token_id", None)
        pad = self.tokenizer.eos_token_id if pad is None else pad

        input_ids = torch.full((batch, width), pad, dtype=torch.long)
        attention = torch.zeros((batch, width), dtype=torch.long)
        for row, ids in enumerate(prompts):  # left padding: every prompt ends at the last column
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        input_ids, attention = input_ids.to(device), attention.to(device)
        # Rows in batch-then-page order: the order masked_scatter fills the image positions row-major.
        features = [rows.to(device, non_blocking=True) for r in requests for rows in r.pages_rows]

        if self._static is not None:
            # Always inputs_embeds here (the same scatter: tests hold both ways bit-identical to the pixel
            # path): a prefill graph takes one fixed-shape tensor, not a list of per-page rows.
            inputs = partial(self._model_inputs, features=features, inject="inputs_embeds")
            decoded = self._static.run(inputs, input_ids, attention, max_new_tokens, sorted(stops), pad)
        else:
            decoded = self._decode_dynamic(input_ids, attention, features, max_new_tokens, stops, pad)

        results = []
        for row, request in enumerate(requests):
            ids, lps = decoded.token_ids[row], decoded.logprobs[row]
            stopped = bool(ids) and ids[-1] in stops
            results.append(
                Generation(
                    text=self.tokenizer.decode(ids[:-1] if stopped else ids),
                    token_ids=ids,
                    logprobs=lps,
                    confidence=math.fsum(lps) / len(lps),
                    guard_fired=decoded.guard_fired[row],
                    finish_reason="stop" if stopped else "length",
                    prompt_tokens=len(prompts[row]),
                    vision_tokens=sum(int(r.shape[0]) for r in request.pages_rows),
                )
            )
        return results

    def _decode_dynamic(
        self,
        input_ids: torch.Tensor,
        attention: torch.Tensor,
        features: list[torch.Tensor],
        max_new_tokens: int,
        stops: set[int],
        pad: int,
    ) -> Decoded:
        """The reference loop: transformers' dynamic cache, an eager forward and host bookkeeping per step."""
        batch = input_ids.shape[0]
        positions = (attention.cumsum(-1) - 1).clamp(min=0)  # (B, T): real tokens count from 0
        guard = NoRepeatNGramGuard(*self._guard_args) if self._guard_args is not None else None
        cache_arg = cache_kwarg(self.model)
        out = self.model(
            **self._model_inputs(input_ids, features),
            attention_mask=attention,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
        )
        cache = out.past_key_values
        next_pos = positions[:, -1:] + 1  # (B, 1)

        generated: list[list[int]] = [[] for _ in range(batch)]
        logprobs: list[list[float]] = [[] for _ in range(batch)]
        finished = [False] * batch
        for step in range(max_new_tokens):
            logits = out.logits[:, -1, :].float()  # (B, vocab)
            chosen_lp = torch.log_softmax(logits, dim=-1)
            if guard is not None:
                guard.apply([None if finished[r] else generated[r] for r in range(batch)], logits)
            choice = logits.argmax(dim=-1)  # (B,)
            picked = chosen_lp.gather(-1, choice[:, None])[:, 0]
            for row, (token, lp) in enumerate(zip(choice.tolist(), picked.tolist(), strict=True)):
                if finished[row]:
                    continue
                generated[row].append(token)
                logprobs[row].append(lp)
                finished[row] = token in stops
            if all(finished) or step == max_new_tokens - 1:
                break
            feed = torch.tensor(
                [pad if finished[r] else generated[r][-1] for r in range(batch)], device=input_ids.device
            )[:, None]
            attention = torch.cat([attention, attention.new_ones((batch, 1))], dim=-1)
            out = self.model(
                input_ids=feed,
                attention_mask=attention,
                position_ids=next_pos,
                use_cache=True,
                **{cache_arg: cache},
            )
            cache = out.past_key_values
            next_pos = next_pos + 1
        fired = [bool(guard is not None and r < len(guard.fired) and guard.fired[r]) for r in range(batch)]
        return Decoded(generated, logprobs, fired)
