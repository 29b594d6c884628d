"""Batched greedy decoding on a static KV cache; on a GPU each step is one replayed CUDA graph.

The same tokens as `Generator`'s dynamic-cache loop (tests hold them equal over 64 steps): the prompt is
prefilled into a transformers `StaticCache` (on a GPU a short prefill — one question's pages — is a replayed
CUDA graph too, per prompt-width bucket); every later step — forward, log-softmax, n-gram guard,
argmax, stop check, bookkeeping — reads and writes only fixed device buffers, so on CUDA it is recorded once
per (rows, cache length) and then replayed with no Python, no kernel launches and no host sync per token.
The MoE runs transformers' grouped-GEMM experts (no per-expert Python loop, no data-dependent host branch).

Finished rows stop costing compute: when at most half of a session's rows are still running, the live rows
(their KV cache and buffers) move into a session of the next smaller power-of-two size.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from transformers import StaticCache

from decoder.guard import TensorNGramGuard

log = logging.getLogger(__name__)

CACHE_BUCKET = 256  # cache lengths are rounded up to this, so nearby requests share one captured graph
PROMPT_BUCKET = 128  # prompts are left-padded to a multiple of this, so nearby widths share a prefill graph
# Prefills of at most this many tokens (rows x width) replay a CUDA graph: eagerly, 5 Base pages took 18 ms
# for 11 ms of kernels in ~1,300 launches on an H100; a larger prefill keeps the GPU busy anyway.
PREFILL_GRAPH_TOKENS = 4096
CHECK_EVERY = 8  # steps between host checks of "all finished?" (a check is one small device->host copy)


def cache_kwarg(model: Any) -> str:
    """The forward argument that takes the KV cache: `cache` from transformers 5.23, `past_key_values` before
    (the GPU image has 5.17; the old name still works on newer versions, with a deprecation warning)."""
    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


def _layers(cache: StaticCache) -> list[Any]:
    """The cache's per-layer StaticLayers (typed loosely: transformers types them as a union of mixins)."""
    return list(cache.layers)


def cache_length(prompt_len: int, max_new_tokens: int) -> int:
    """Positions a request needs, rounded up to CACHE_BUCKET."""
    need = prompt_len + max_new_tokens
    return -(-need // CACHE_BUCKET) * CACHE_BUCKET


def row_bucket(rows: int) -> int:
    """The session size for `rows` live rows: the next power of two."""
    return 1 << max(0, rows - 1).bit_length()


@dataclass
class Decoded:
    """Per row: chosen ids, their log-probabilities, whether the guard changed a choice."""

    token_ids: list[list[int]]
    logprobs: list[list[float]]
    guard_fired: list[bool]


class DecodeSession:
    """A static cache and the step buffers for `rows` rows and `length` positions.

    Args:
        model: a DeepseekOcr2ForConditionalGeneration-shaped model (transformers' or our v1 class).
        rows, length: batch rows and cache positions (prompt + new tokens).
        max_new: tokens each row may generate. stops: stop ids. pad: id fed to finished rows.
        guard: the tensor n-gram guard, or None.
        graph: capture the step as a CUDA graph (CUDA only); else the same step runs eagerly.
        prefill_pool: the pool prefill graphs record into (one per decoder: prefills never run at once and
            leave nothing in it, so it holds one prefill's scratch, not one per graph).
    """

    def __init__(
        self,
        model: Any,
        rows: int,
        length: int,
        max_new: int,
        stops: list[int],
        pad: int,
        guard: TensorNGramGuard | None,
        graph: bool,
        prefill_pool: Any = None,
    ) -> None:
        embed = model.get_input_embeddings().weight
        self.model, self.rows, self.length, self.max_new = model, rows, length, max_new
        self.device, self.dtype, self.pad, self.guard = embed.device, embed.dtype, pad, guard
        self.cache = StaticCache(config=model.config, max_cache_len=length)
        self.cache_arg = cache_kwarg(model)
        device = self.device
        self.neg = torch.finfo(self.dtype).min
        self.stops = torch.tensor(stops or [-1], device=device)
        self.ids = torch.full((rows, 1), pad, dtype=torch.long, device=device)
        self.pos = torch.zeros((rows, 1), dtype=torch.long, device=device)
        self.mask = torch.full((rows, 1, 1, length), self.neg, dtype=self.dtype, device=device)
        self.cache_len = torch.zeros(1, dtype=torch.long, device=device)
        self.step_no = torch.zeros(1, dtype=torch.long, device=device)
        self.finished = torch.zeros(rows, dtype=torch.bool, device=device)
        self.fired = torch.zeros(rows, dtype=torch.bool, device=device)
        self.out_ids = torch.full((rows, max_new), pad, dtype=torch.long, device=device)
        self.out_lp = torch.zeros((rows, max_new), dtype=torch.float32, device=device)
        self.recent = guard.empty_history(rows, device) if guard is not None else None
        self._graph: torch.cuda.CUDAGraph | None = None
        self._want_graph = graph and device.type == "cuda"
        # prompt width -> (prefill graph, its inputs_embeds and attention buffers)
        self._prefills: dict[int, tuple[torch.cuda.CUDAGraph, torch.Tensor, torch.Tensor]] = {}
        self._prefill_pool = prefill_pool
        self.prefill_graphs = self._want_graph  # off for good once a prefill could not be recorded

    # ---- the step: fixed buffers only

    def _sample(self, logits: torch.Tensor) -> None:
        """Choose each live row's next id from (rows, vocab) logits and record it."""
        logits = logits.float()
        logprobs = torch.log_softmax(logits, dim=-1)
        live = ~self.finished
        if self.guard is not None and self.recent is not None:
            self.fired |= self.guard.apply(self.recent, logits) & live
        choice = logits.argmax(dim=-1)  # (rows,)
        picked = logprobs.gather(1, choice[:, None])[:, 0]
        self.out_ids.index_copy_(1, self.step_no, torch.where(live, choice, self.pad)[:, None])
        self.out_lp.index_copy_(1, self.step_no, torch.where(live, picked, 0.0)[:, None])
        if self.recent is not None:
            shifted = torch.cat([self.recent[:, 1:], choice[:, None]], dim=1)
            self.recent.copy_(torch.where(live[:, None], shifted, self.recent))
        self.finished |= live & torch.isin(choice, self.stops)
        self.ids.copy_(torch.where(self.finished, self.pad, choice)[:, None])
        self.step_no += 1

    def _step(self) -> None:
        self.mask.index_fill_(3, self.cache_len, 0.0)  # the new token sees itself
        out = self.model(
            input_ids=self.ids,
            attention_mask=self.mask,
            position_ids=self.pos,
            use_cache=True,
            **{self.cache_arg: self.cache},
        )
        self.cache_len += 1
        self.pos += 1
        self._sample(out.logits[:, -1])

    def step(self) -> None:
        """One decode step: the captured graph when there is one, else eagerly."""
        if self._graph is not None:
            self._graph.replay()
        else:
            self._step()

    # ---- setting up

    def _state(self) -> list[torch.Tensor]:
        tensors = [self.ids, self.pos, self.mask, self.cache_len, self.step_no, self.finished, self.fired]
        tensors += [self.out_ids, self.out_lp] + ([self.recent] if self.recent is not None else [])
        return tensors + [layer.cumulative_length for layer in _layers(self.cache)]

    def _capture(self) -> None:
        self._graph = self._record(self._step)

    def _record(self, run: Callable[[], None], pool: Any = None) -> torch.cuda.CUDAGraph:
        """Record `run` as a CUDA graph. Warm-up and capture run it on the live buffers, each from the state
        saved here and restored after (a step's cache row lies at cache_len, a prefill's at [0, width):
        both are written again before they are read), so recording changes nothing — also when it fails."""
        saved = [t.clone() for t in self._state()]

        def restore() -> None:
            for tensor, value in zip(self._state(), saved, strict=True):
                tensor.copy_(value)

        try:
            stream = torch.cuda.Stream(self.device)
            stream.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(stream):
                for _ in range(2):
                    restore()
                    run()
            torch.cuda.current_stream(self.device).wait_stream(stream)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool):
                run()
            return graph
        finally:
            restore()

    def reset(self) -> None:
        """Ready for a new batch of the same size (the graph and the cache memory are kept)."""
        self.mask.fill_(self.neg)
        for tensor in (self.cache_len, self.step_no, self.pos):
            tensor.zero_()
        self.finished.zero_()
        self.fired.zero_()
        self.out_ids.fill_(self.pad)
        self.out_lp.zero_()
        self.ids.fill_(self.pad)
        if self.recent is not None:
            self.recent.fill_(-1)
        for layer in _layers(self.cache):
            if layer.is_initialized:
                layer.cumulative_length.zero_()

    def prefill(self, model_inputs: dict[str, Any], attention: torch.Tensor) -> None:
        """Run the left-padded prompt (attention (rows, T), 1 = real token) and sample the first token."""
        rows, width = attention.shape
        if rows != self.rows or width > self.length:
            raise ValueError(f"prompt of {rows} x {width} does not fit a {self.rows} x {self.length} session")
        embeds = model_inputs.get("inputs_embeds") if len(model_inputs) == 1 else None
        # A session's first prefill runs eagerly: it allocates the cache, whose tensors a graph must find.
        allocated = all(layer.is_initialized for layer in _layers(self.cache))
        if embeds is not None and allocated and self.prefill_graphs and rows * width <= PREFILL_GRAPH_TOKENS:
            self._prefill_graphed(embeds, attention)
        else:
            self._prefill(model_inputs, attention)
        if self._want_graph and self._graph is None and self.max_new > 1:
            self._capture()

    def _prefill_graphed(self, embeds: torch.Tensor, attention: torch.Tensor) -> None:
        """The prefill replayed from the graph recorded for this prompt width (recorded on first use)."""
        width = attention.shape[1]
        if width not in self._prefills:
            embeds_in, attention_in = embeds.clone(), attention.clone()
            run = partial(self._prefill, {"inputs_embeds": embeds_in}, attention_in)
            try:
                graph = self._record(run, self._prefill_pool)
            except RuntimeError as exc:  # a model whose prefill cannot be captured stays correct, eager
                log.warning("prefill not recorded as a CUDA graph, running it eagerly: %s", exc)
                self.prefill_graphs = False
                self._prefill({"inputs_embeds": embeds}, attention)
                return
            self._prefills[width] = (graph, embeds_in, attention_in)
        graph, embeds_in, attention_in = self._prefills[width]
        embeds_in.copy_(embeds)
        attention_in.copy_(attention)
        graph.replay()

    def _prefill(self, model_inputs: dict[str, Any], attention: torch.Tensor) -> None:
        rows, width = attention.shape
        real = attention.bool()
        causal = torch.ones(width, width, dtype=torch.bool, device=self.device).tril()
        allowed = causal[None] & real[:, None, :]  # (rows, T, T): earlier real tokens
        allowed |= torch.eye(width, dtype=torch.bool, device=self.device)[None]  # pad rows: themselves
        mask = torch.full((rows, 1, width, self.length), self.neg, dtype=self.dtype, device=self.device)
        mask[:, 0, :, :width].masked_fill_(allowed, 0.0)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        out = self.model(
            **model_inputs,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **{self.cache_arg: self.cache},
        )
        self.mask[:, 0, 0, :width] = torch.where(real, 0.0, self.neg).to(self.dtype)
        self.cache_len.fill_(width)
        self.pos.copy_(positions[:, -1:] + 1)
        self._sample(out.logits[:, -1])

    def take_rows(self, source: DecodeSession, keep: torch.Tensor) -> None:
        """Continue `source`'s rows `keep` (indices, in order) here: cache, buffers and step position."""
        n = keep.shape[0]
        for mine, theirs in zip(_layers(self.cache), _layers(source.cache), strict=True):
            if not theirs.is_initialized:
                continue
            if not mine.is_initialized:  # allocates (rows, heads, length, dim) from the shapes given
                mine.lazy_initialization(
                    theirs.keys[:1].expand(self.rows, -1, -1, -1),
                    theirs.values[:1].expand(self.rows, -1, -1, -1),
                )
            mine.keys[:n] = theirs.keys[keep]
            mine.values[:n] = theirs.values[keep]
            mine.cumulative_length.copy_(theirs.cumulative_length)
        for name in ("ids", "pos", "mask", "finished", "fired", "out_ids", "out_lp", "recent"):
            mine_t, theirs_t = getattr(self, name), getattr(source, name)
            if mine_t is not None:
                mine_t[:n] = theirs_t[keep]
                mine_t[n:] = theirs_t[keep[:1]]  # filler rows: copies of a live row ...
        self.finished[n:] = True  # ... that never count
        self.cache_len.copy_(source.cache_len)
        self.step_no.copy_(source.step_no)


class StaticDecoder:
    """Owns decode sessions (kept between calls, so graphs are captured once per shape) and runs a batch.

    Args:
        model: see DecodeSession. guard: a TensorNGramGuard or None. graph: capture steps on CUDA.
        keep: sessions kept for reuse (each holds a KV cache of rows x length positions).
    """

    def __init__(self, model: Any, guard: TensorNGramGuard | None, graph: bool = True, keep: int = 4) -> None:
        self.model, self.guard, self.graph, self.keep = model, guard, graph, keep
        self._prefill_pool: Any = None
        self._sessions: dict[tuple[int, int, int, tuple[int, ...], int], DecodeSession] = {}

    def _session(self, rows: int, length: int, max_new: int, stops: list[int], pad: int) -> DecodeSession:
        key = (rows, length, max_new, tuple(stops), pad)
        session = self._sessions.pop(key, None)
        if session is None:
            while len(self._sessions) >= self.keep:
                self._sessions.pop(next(iter(self._sessions)))
            on_gpu = self.model.get_input_embeddings().weight.device.type == "cuda"
            if self._prefill_pool is None and self.graph and on_gpu:
                self._prefill_pool = torch.cuda.graph_pool_handle()
            session = DecodeSession(
                self.model, rows, length, max_new, stops, pad, self.guard, self.graph, self._prefill_pool
            )
        else:
            session.reset()
        self._sessions[key] = session  # most recently used last
        return session

    def run(
        self,
        model_inputs: Callable[[torch.Tensor], dict[str, Any]],
        input_ids: torch.Tensor,
        attention: torch.Tensor,
        max_new: int,
        stops: list[int],
        pad: int,
    ) -> Decoded:
        """Greedy-decode a left-padded batch.

        Args:
            model_inputs: ids -> the model kwargs that inject the stored rows (see Generator).
            input_ids, attention: (B, T) on the model's device, left padded.
        Returns:
            Decoded, rows in input order, each cut after its stop id (kept) or at max_new.
        """
        input_ids, attention = _pad_left(input_ids, attention, pad)
        batch, width = input_ids.shape
        length = cache_length(width, max_new)
        rows = row_bucket(batch)
        session = self._session(rows, length, max_new, stops, pad)
        if rows > batch:  # fill the bucket with one-token rows (no image positions), finished from the start
            fill = rows - batch
            input_ids = torch.cat([input_ids, input_ids.new_full((fill, width), pad)])
            filler = attention.new_zeros((fill, width))
            filler[:, -1] = 1
            attention = torch.cat([attention, filler])
        session.prefill(model_inputs(input_ids), attention)
        session.finished[batch:] = True
        origin = torch.arange(rows, device=input_ids.device)  # session row -> request row
        results: dict[int, tuple[torch.Tensor, torch.Tensor, bool]] = {}
        for done in range(1, max_new + 1):
            if done % CHECK_EVERY == 0 or done == max_new:
                finished = session.finished.tolist()
                for row in [r for r, f in enumerate(finished) if f and int(origin[r]) < batch]:
                    results.setdefault(int(origin[row]), self._row(session, row))
                live = [r for r, f in enumerate(finished) if not f]
                if not live or done == max_new:
                    break
                if row_bucket(len(live)) < session.rows:
                    keep = torch.tensor(live, device=input_ids.device)
                    smaller = self._session(row_bucket(len(live)), length, max_new, stops, pad)
                    smaller.take_rows(session, keep)
                    smaller.finished[len(live) :] = True
                    filler = torch.full((smaller.rows - len(live),), batch, device=origin.device)
                    origin = torch.cat([origin[keep], filler])  # fillers map to no request
                    session = smaller
                    if smaller._want_graph and smaller._graph is None and max_new > 1:
                        smaller._capture()
            session.step()
        for row in range(session.rows):
            if int(origin[row]) < batch:
                results.setdefault(int(origin[row]), self._row(session, row))
        ordered = [results[r] for r in range(batch)]
        return _decoded(ordered, set(stops))

    @staticmethod
    def _row(session: DecodeSession, row: int) -> tuple[torch.Tensor, torch.Tensor, bool]:
        return session.out_ids[row].clone(), session.out_lp[row].clone(), bool(session.fired[row])


def _pad_left(ids: torch.Tensor, attention: torch.Tensor, pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch left-padded to a multiple of PROMPT_BUCKET columns (pad columns are masked: the real
    tokens' positions, and so their outputs, are unchanged)."""
    rows, width = ids.shape
    extra = -(-width // PROMPT_BUCKET) * PROMPT_BUCKET - width
    pad_ids, pad_mask = ids.new_full((rows, extra), pad), attention.new_zeros((rows, extra))
    return torch.cat([pad_ids, ids], dim=1), torch.cat([pad_mask, attention], dim=1)


def _decoded(rows: list[tuple[torch.Tensor, torch.Tensor, bool]], stops: set[int]) -> Decoded:
    """Cut each row after its first stop id (kept), as the dynamic loop records it."""
    token_ids, logprobs, fired = [], [], []
    for ids_t, lp_t, row_fired in rows:
        ids, lps = ids_t.tolist(), lp_t.tolist()
        end = next((k + 1 for k, t in enumerate(ids) if t in stops), len(ids))
        token_ids.append(ids[:end])
        logprobs.append(lps[:end])
        fired.append(row_fired)
    return Decoded(token_ids, logprobs, fired)
