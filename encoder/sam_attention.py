"""Faster forms of SAM's attention (decomposed relative positions), same parameters, swapped in place.

- `SamSdpaAttention` (used by `DeepseekOcrEncoder`): transformers' SDPA attention, bit for bit, but the index
  that gathers the relative-position table is built once and kept on the device; transformers builds it on
  the host in every call, and copying it to a GPU from pageable memory synchronises the stream — 24 times a
  page, so the host could never queue work ahead of the GPU.
- `SamFlexAttention` (an option): transformers materialises the relative-position bias as a (B, heads, N, N)
  tensor (400 MB per page for a global layer at Base); this keeps only its two factors — (B, heads, N, H) and
  (B, heads, N, W) — and adds `rel_h[q, k_row] + rel_w[q, k_col]` per score inside FlexAttention (Triton on a
  GPU, the reference math on a CPU). Measured 5x slower than SDPA on an H200 (docs/BENCHMARKS.md): off.
- `SamFoldedAttention` (what `DeepseekOcrEncoder` uses on a GPU): the relative-position terms folded into
  the dot product, so SDPA's flash kernels run with no bias tensor at all. With q' = [q * scale, rel_h[q, :],
  rel_w[q, :]] and k' = [k, onehot(k_row), onehot(k_col)], q'.k' = scale q.k + rel_h[q, k_row] +
  rel_w[q, k_col]: the head dim grows from 64 to 64 + H + W (192 for a global layer at Base, 92 in a 14 x 14
  window), but nothing of size N x N is written. On an H200 the dense bias (its build and its reads) was 69%
  of a Base encode's GPU time, and folding took Base from 96 to 161 pages/s (bench/gpu_profile.py).
Tests hold all three to the reference rows.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import torch
from torch import nn
from torch.nn.attention import SDPBackend
from torch.nn.attention.flex_attention import flex_attention
from transformers.models.deepseek_ocr2.modeling_deepseek_ocr2 import (
    DeepseekOcr2SamVisionAttention,
    DeepseekOcr2SamVisionSdpaAttention,
)


def _attend(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    rel_h: torch.Tensor | None,
    rel_w: torch.Tensor | None,
    width: int,
    scale: float,
) -> torch.Tensor:
    """softmax(q k^T * scale + rel_h[q, k // width] + rel_w[q, k % width]) v, one fused kernel."""
    if rel_h is None or rel_w is None:
        return flex_attention(query, key, value, scale=scale)

    def score_mod(score, b, h, q_idx, kv_idx):
        return score + rel_h[b, h, q_idx, kv_idx // width] + rel_w[b, h, q_idx, kv_idx % width]

    return flex_attention(query, key, value, score_mod=score_mod, scale=scale)


@cache
def _compiled_attend() -> Any:
    # The score_mod closure is built inside the compiled region, so tensors stay inputs and only new shapes
    # or grid widths recompile (a handful per mode); the limit is raised so none falls back to eager.
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), 64))
    return torch.compile(_attend)


@cache
def _relative_index(q_size: int, k_size: int, device: torch.device) -> torch.Tensor:
    """The (q_size, k_size) rows of the resized relative-position table each query/key pair reads, as in
    `DeepseekOcr2SamVisionAttention.get_rel_pos`, kept on the device (no host->device copy per call)."""
    q_coords = torch.arange(q_size)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size)[None, :] * max(q_size / k_size, 1.0)
    relative = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return relative.long().to(device)


def _uncached_when_compiling(function: Any) -> Any:
    """A `functools.cache`d table maker, or under torch.compile the function itself: the compiled graph
    holds the table as a constant, and dynamo would otherwise warn that it traces past the cache."""
    return function.__wrapped__ if torch.compiler.is_compiling() else function


def rel_pos_table(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """`DeepseekOcr2SamVisionAttention.get_rel_pos` with the gather index cached on the device.

    Returns:
        (q_size, k_size, C): the resized relative-position embedding each query/key pair reads.
    """
    max_rel_dist = int(2 * max(q_size, k_size) - 1)
    resized = nn.functional.interpolate(
        rel_pos.reshape(1, rel_pos.shape[0], -1).transpose(1, 2), size=max_rel_dist, mode="linear"
    )
    resized = resized.reshape(-1, max_rel_dist).permute(1, 0)  # (2*max-1, C)
    return resized[_uncached_when_compiling(_relative_index)(q_size, k_size, resized.device)]


class SamSdpaAttention(DeepseekOcr2SamVisionSdpaAttention):
    """Differs from DeepseekOcr2SamVisionSdpaAttention only in where the gather index lives (see above)."""

    def get_rel_pos(self, q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
        return rel_pos_table(q_size, k_size, rel_pos)


@cache
def _key_positions(
    height: int, width: int, pad: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """(N, H + W + pad): row k is onehot(k // width) then onehot(k % width) then `pad` zeros."""
    tokens = torch.arange(height * width, device=device)
    out = torch.zeros(height * width, height + width + pad, device=device, dtype=dtype)
    out[tokens, tokens // width] = 1
    out[tokens, height + tokens % width] = 1
    return out


# Attention with a value head dim unlike the query's, on the SDPA backends that take that, each called as its
# own op: `sdpa_kernel` would switch the other backends off for the whole process, and a build embeds page
# text (MiniLM, fp32 SDPA, which cuDNN does not run) on another thread while the encoder runs ("No available
# kernel" there). `use_unpadded_values` hands a module its function, so compiled code never looks one up.
ValueKernel = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def _cudnn_values(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten._scaled_dot_product_cudnn_attention(q, k, v, None, False, scale=1.0)[0]


def _efficient_values(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, None, False, scale=1.0)[0]


def _math_values(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.ops.aten._scaled_dot_product_attention_math(q, k, v, scale=1.0)[0]


_UNPADDED_KERNELS: dict[Any, ValueKernel] = {
    SDPBackend.CUDNN_ATTENTION: _cudnn_values,
    SDPBackend.EFFICIENT_ATTENTION: _efficient_values,
    SDPBackend.MATH: _math_values,
}


def _fold(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor,
    height: int, width: int, scale: float, value_kernel: ValueKernel | None = None,
) -> torch.Tensor:  # fmt: skip
    """softmax(scale q k^T + rel_h[q, k // width] + rel_w[q, k % width]) v as one unmasked SDPA call.

    The values are padded to the folded head dim, which every SDPA backend takes; `value_kernel` (one of
    `_UNPADDED_KERNELS`) keeps them at their own dim, on a backend that accepts a value dim unlike the
    query's (a third less work in a global layer: 192 + 64 against 192 + 192); where that backend has no
    kernel for the shapes, the padded call runs instead."""
    dim = query.shape[-1]
    folded = -(-(dim + height + width) // 8) * 8  # flash kernels want head dims in multiples of 8
    pad = folded - dim - height - width
    q = torch.cat([query * scale, rel_h.to(query.dtype), rel_w.to(query.dtype)], dim=-1)
    q = nn.functional.pad(q, (0, pad))
    positions = _uncached_when_compiling(_key_positions)(height, width, pad, key.device, key.dtype)
    k = torch.cat([key, positions.expand(*key.shape[:-1], -1)], dim=-1)
    if value_kernel is not None:
        try:
            return value_kernel(q, k, value)
        except RuntimeError:  # the backend has no kernel for these shapes (eager only): pad, as by default
            if torch.compiler.is_compiling():
                raise
    v = nn.functional.pad(value, (0, folded - dim))  # the same head dim for every SDPA backend
    out = nn.functional.scaled_dot_product_attention(q, k, v, scale=1.0)
    return out[..., :dim]


class _DecomposedSamAttention(DeepseekOcr2SamVisionAttention):
    """SAM attention whose decomposed relative-position terms — rel_h (B, heads, N, H) and rel_w (B, heads, N,
    W), never their (N, N) sum — go to `attend`; the subclasses differ only in how that forms the scores."""

    def attend(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
        rel_h: torch.Tensor | None, rel_w: torch.Tensor | None, height: int, width: int,
    ) -> torch.Tensor:  # fmt: skip
        """(B, heads, N, C) attention output; rel_h and rel_w are None in a layer without relative terms."""
        raise NotImplementedError

    def forward(  # type: ignore[override]  # no attention weights, like transformers' SDPA variant
        self, hidden_states: torch.Tensor, output_attentions: Any = None
    ) -> tuple[torch.Tensor, None]:
        batch, height, width, _ = hidden_states.shape
        heads, tokens = self.num_attention_heads, height * width
        qkv = self.qkv(hidden_states).reshape(batch, tokens, 3, heads, -1).permute(2, 0, 3, 1, 4)
        query, key, value = qkv.unbind(0)  # each (B, heads, N, C)
        rel_h = rel_w = None
        if self.use_rel_pos:
            grid_query = query.reshape(batch, heads, height, width, -1)  # (B, heads, H, W, C)
            table_h = rel_pos_table(height, height, self.rel_pos_h)  # (H, H, C)
            table_w = rel_pos_table(width, width, self.rel_pos_w)  # (W, W, C)
            rel_h = torch.einsum("bnhwc,hkc->bnhwk", grid_query, table_h).reshape(
                batch, heads, tokens, height
            )
            rel_w = torch.einsum("bnhwc,wkc->bnhwk", grid_query, table_w).reshape(batch, heads, tokens, width)
        out = self.attend(query, key, value, rel_h, rel_w, height, width)
        out = (
            out.reshape(batch, heads, height, width, -1)
            .permute(0, 2, 3, 1, 4)
            .reshape(batch, height, width, -1)
        )
        return self.proj(out), None


class SamFoldedAttention(_DecomposedSamAttention):
    """The relative-position terms ride in extra query/key channels of one SDPA call (module notes)."""

    value_kernel: ValueKernel | None = None  # `_fold`'s; set per module by `use_unpadded_values`

    def attend(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
        rel_h: torch.Tensor | None, rel_w: torch.Tensor | None, height: int, width: int,
    ) -> torch.Tensor:  # fmt: skip
        if rel_h is None or rel_w is None:
            return nn.functional.scaled_dot_product_attention(query, key, value, scale=self.scale)
        return _fold(query, key, value, rel_h, rel_w, height, width, self.scale, self.value_kernel)


def swap_sam_attention(model: nn.Module, cls: type[DeepseekOcr2SamVisionAttention]) -> int:
    """Swap every SAM attention module under `model` that is not yet a `cls` to `cls` (same parameters, in
    place); `cls` is one of this module's variants or transformers' SAM attention class.

    Returns:
        How many modules were swapped.
    """
    swapped = 0
    for module in model.modules():
        if isinstance(module, DeepseekOcr2SamVisionAttention) and not isinstance(module, cls):
            module.__class__ = cls
            swapped += 1
    return swapped


def use_folded_attention(model: nn.Module) -> int:
    """`swap_sam_attention` to SamFoldedAttention; returns how many modules were swapped."""
    return swap_sam_attention(model, SamFoldedAttention)


def fast_value_backend(device: torch.device) -> Any:
    """The SDPA backend to run folded attention with unpadded values on `device`, or None (pad them).

    cuDNN's attention takes a value head dim unlike the query's and is PyTorch's first choice on Hopper
    (compute capability 9.x); on an H100 it ran a Base page's global layers in 23.4 ms a batch of 32 with
    unpadded values against 28.1 padded, and the whole encode at 161 against 153 pages/s (docs/BENCHMARKS.md).
    Elsewhere padded values stay: the backends left there (flash needs equal dims; the memory-efficient
    kernel took 101 ms) are slower unpadded than flash or cuDNN padded."""
    if device.type != "cuda" or not torch.backends.cuda.cudnn_sdp_enabled():
        return None
    if torch.cuda.get_device_capability(device)[0] != 9:
        return None
    return SDPBackend.CUDNN_ATTENTION


def use_unpadded_values(model: nn.Module, backend: Any) -> int:
    """Run the folded attention of every SamFoldedAttention under `model` on `backend` (an SDPBackend that
    takes a value head dim unlike the query's) with unpadded values, or back to padded values (None).

    Returns:
        How many modules were set.
    Raises:
        ValueError: a backend that cannot take such values (flash).
    """
    if backend is not None and backend not in _UNPADDED_KERNELS:
        raise ValueError(f"{backend} does not take a value head dim unlike the query's")
    kernel = None if backend is None else _UNPADDED_KERNELS[backend]
    modules = [m for m in model.modules() if isinstance(m, SamFoldedAttention)]
    for module in modules:
        module.value_kernel = kernel
    return len(modules)


class SamFlexAttention(_DecomposedSamAttention):
    """The relative-position terms are added per score inside FlexAttention instead of as a dense bias."""

    def attend(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
        rel_h: torch.Tensor | None, rel_w: torch.Tensor | None, height: int, width: int,
    ) -> torch.Tensor:  # fmt: skip
        # Compiled (Triton) on a GPU; on a CPU the eager reference math, for tests.
        attend = _compiled_attend() if query.device.type == "cuda" else _attend
        return attend(query, key, value, rel_h, rel_w, width, self.scale)


def use_flex_attention(model: nn.Module, enable: bool = True) -> int:
    """Swap every SAM attention module under `model` to SamFlexAttention (same parameters, in place), or back
    to the class it had (enable=False; benchmarks compare both on one model).

    Returns:
        How many modules were swapped.
    """
    swapped = 0
    for module in model.modules():
        if not isinstance(module, DeepseekOcr2SamVisionAttention):
            continue
        if enable and not isinstance(module, SamFlexAttention):
            module._reference_class = module.__class__  # type: ignore[assignment]
            module.__class__ = SamFlexAttention
            swapped += 1
        elif not enable and isinstance(module, SamFlexAttention):
            reference: Any = getattr(module, "_reference_class", DeepseekOcr2SamVisionAttention)
            module.__class__ = reference
            swapped += 1
    return swapped


def swap_exact_class(model: nn.Module, old: type[nn.Module], new: type[nn.Module]) -> int:
    """Give every module under `model` whose class is exactly `old` the class `new` (same parameters, in
    place; `new` subclasses `old` or the other way round).

    Returns:
        How many modules were swapped.
    """
    swapped = 0
    for module in model.modules():
        if type(module) is old:
            module.__class__ = new
            swapped += 1
    return swapped


def use_device_rel_index(model: nn.Module) -> int:
    """Swap every transformers SDPA SAM attention under `model` to SamSdpaAttention (bit-identical rows).

    Returns:
        How many modules were swapped.
    """
    return swap_exact_class(model, DeepseekOcr2SamVisionSdpaAttention, SamSdpaAttention)
