"""Vision encoders for indexing: page images -> the rows stored per page + a pooled page vector.

Inference only (batching, preprocessing, token layout); the modules live in `deepseek_ocr.py` and
transformers.

Pooled embedding (both backends): the mean of the *global view's* grid tokens after the projector (tiles,
`image_newline` and separator rows excluded), L2-normalised, float32; dim = the decoder hidden size (1280).
The global view sees the whole page at one scale in every mode, so the vector is comparable across pages.

Row counts: v1 == `DeepseekOcrConfig.token_rows(mode, w, h)` (released model: `encoder.modes.token_rows`);
OCR-2 == `layout.ocr2_row_count(w, h)`: 256 global queries + 144 per 768 px tile (2..6 tiles when the page's
longer side exceeds 768 px) + 1 separator, no newlines.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol, TypeVar

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from transformers.models.deepseek_ocr2 import (
    DeepseekOcr2ForConditionalGeneration,
    DeepseekOcr2ImageProcessorPil,
)

from encoder.deepseek_ocr import DeepseekOcrForConditionalGeneration
from encoder.layout import ocr2_row_count
from encoder.modes import Mode, ModeViews, get_mode, make_views
from encoder.pixels import v1_inputs
from encoder.sam_attention import (
    fast_value_backend,
    use_device_rel_index,
    use_flex_attention,
    use_folded_attention,
    use_unpadded_values,
)
from encoder.sam_patches import use_patch_matmul

T = TypeVar("T")


@dataclass(frozen=True)
class EncodedPage:
    """rows: (n_rows, hidden), exactly what the decoder injects at the page's `<image>` positions, on CPU in
    the model's dtype; pooled: (dim,) float32, L2-normalised."""

    rows: torch.Tensor
    pooled: torch.Tensor


class VisionEncoder(Protocol):
    name: str  # backend id recorded with an index ("deepseek-ocr" / "deepseek-ocr-2")
    mode: str  # resolution mode the rows were made in ("base", ..., or "ocr2")
    dim: int  # pooled dim

    def row_count(self, width: int, height: int) -> int: ...

    def encode(self, images: Sequence[Image.Image], mode: Mode | str | None = None) -> list[EncodedPage]: ...


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _param(model: nn.Module) -> torch.Tensor:
    return next(model.parameters())


class DeepseekOcrEncoder:
    """DeepSeek-OCR v1 (`DeepseekOcrForConditionalGeneration`): pages -> v1 rows in one resolution mode."""

    name = "deepseek-ocr"

    def __init__(
        self,
        model: DeepseekOcrForConditionalGeneration,
        mode: Mode | str = "base",
        batch_size: int | None = None,
        workers: int | None = None,
        flex_attention: bool | None = None,
        folded_attention: bool | None = None,
        patch_matmul: bool | None = None,
    ):
        """batch_size: pages per forward (default 32 on a GPU, 8 on a CPU). workers: threads cutting views
        while the GPU encodes (PIL resizing releases the GIL); default min(8, CPUs). flex_attention: SAM
        attention with the relative positions fused into the kernel (`encoder.sam_attention`; the same rows);
        off by default: on an H200 it measured slower than transformers' SDPA (docs/BENCHMARKS.md).
        folded_attention: the relative positions folded into extra query/key channels of one SDPA call, no
        dense bias (the same rows up to float rounding); default on a GPU, where a Base encode ran 1.7x
        faster on an H200, off on a CPU, where transformers' SDPA gives the reference rows bit for bit; on
        an H100/H200 its values stay at head dim 64 on cuDNN (`sam_attention.fast_value_backend`: 153 -> 161
        pages/s on an H100). patch_matmul: SAM's patch embedding as one matmul (`encoder.sam_patches`; the
        same rows up to float rounding); on a GPU by default (cuDNN ran the 3-channel convolution slowly)."""
        on_gpu = _param(model).device.type == "cuda"
        workers = min(8, os.cpu_count() or 1) if workers is None else workers
        batch_size = (32 if on_gpu else 8) if batch_size is None else batch_size
        if batch_size < 1 or workers < 1:
            raise ValueError("batch_size and workers must be >= 1")
        use_device_rel_index(model)  # bit-identical; no host->device copy (and sync) per attention call
        if flex_attention:
            use_flex_attention(model)
        elif on_gpu if folded_attention is None else folded_attention:
            use_folded_attention(model)
            use_unpadded_values(model, fast_value_backend(_param(model).device))
        if on_gpu if patch_matmul is None else patch_matmul:
            use_patch_matmul(model)
        self.model = model
        self.view_mode = get_mode(mode)  # with its tile cap
        self.mode = self.view_mode.name
        self.batch_size = batch_size
        self.workers = workers
        self.dim = model.config.text.hidden_size
        self.full_batches = False  # pad short batches to batch_size (set by `compile`)
        self._copy_stream: torch.cuda.Stream | None = None  # a GPU's rows come home on it (_send_home)
        self._upload_stream: torch.cuda.Stream | None = None  # and its pixels go out on this one

    def compile(self) -> None:
        """`torch.compile` the SAM and CLIP towers, for builds (`encoder_compile`): on an H200 a Base batch
        ran 1.7x faster compiled (267.7 vs 160.7 pages/s, folded attention, docs/BENCHMARKS.md) after a
        first call of ~50 s. From here on every batch is padded to `batch_size` pages (copies of its last
        page, dropped from the output), so a build compiles one shape per view size, not one per short
        batch; tiles of tiled modes vary in number, where torch's automatic dynamic shapes recompile once.
        A second call does nothing."""
        if self.full_batches:
            return
        tower = self.model.model.vision_tower
        tower.sam_encoder.compile()
        tower.clip_encoder.compile()
        self.full_batches = True

    def row_count(self, width: int, height: int, mode: Mode | str | None = None) -> int:
        return self.model.config.token_rows(mode or self.view_mode, width, height)

    def encode(
        self, images: Sequence[Image.Image | ModeViews], mode: Mode | str | None = None
    ) -> list[EncodedPage]:
        """Encode page images in `mode` (default: the encoder's mode), in input order. Pages may also come
        already cut (`ModeViews`, e.g. by the indexer's extraction workers); they must be in that mode.

        Raises:
            ValueError: pre-cut views of another mode.
        """
        view_mode = self._view_mode(images, mode)
        if self._cut_here(images):
            return self.encode_views(_cut(image, view_mode) for image in images)
        with ThreadPoolExecutor(self.workers) as pool:  # views of later batches are cut meanwhile
            return self.encode_views(pool.map(_cut, images, [view_mode] * len(images)))

    @torch.inference_mode()
    def start(
        self, images: Sequence[Image.Image | ModeViews], mode: Mode | str | None = None
    ) -> Callable[[], list[EncodedPage]]:
        """Queue the encode of `images` (as `encode` takes them) and return the call that collects their
        pages, in input order. On a GPU this returns once the forwards are queued, so a build starts batch
        k+1 while batch k is still encoding and collects each batch on the thread that writes it: the GPU
        goes from one batch to the next without waiting for the host (with one forward per build batch,
        `encode` left it idle while each batch's pixels were stacked and its rows collected). Every batch of
        the call is in flight until collected: callers bound how many calls they start ahead.

        Raises:
            ValueError: pre-cut views of another mode.
        """
        view_mode = self._view_mode(images, mode)
        if self._cut_here(images):
            views = [_cut(image, view_mode) for image in images]
        else:
            with ThreadPoolExecutor(self.workers) as pool:
                views = list(pool.map(_cut, images, [view_mode] * len(images)))
        flights = [self._launch(batch) for batch in _batches(views, self.batch_size)]

        @torch.inference_mode()
        def collect() -> list[EncodedPage]:
            return [page for flight in flights for page in _collect(flight)]

        return collect

    @torch.inference_mode()
    def encode_views(self, views: Iterable[ModeViews]) -> list[EncodedPage]:
        """Encode pages already cut into views (`encoder.modes.make_views`), batch_size pages per forward.

        One batch in flight: batch k+1's pixels are prepared and its forward queued before batch k's rows
        are collected, and on a GPU batch k's rows travel home on a side stream right behind batch k's
        forward, so collecting them does not wait for batch k+1: the host prepares batch k+2 while the GPU
        runs k+1."""
        pages: list[EncodedPage] = []
        queued = None
        for batch in _batches(views, self.batch_size):
            flight = self._launch(batch)
            if queued is not None:
                pages += _collect(queued)
            queued = flight
        if queued is not None:
            pages += _collect(queued)
        return pages

    def _view_mode(self, images: Sequence[Image.Image | ModeViews], mode: Mode | str | None) -> Mode:
        view_mode = get_mode(mode or self.view_mode)
        if any(isinstance(img, ModeViews) and img.mode != view_mode for img in images):
            raise ValueError(f"pages cut in another mode than {view_mode.name} ({view_mode.max_tiles} tiles)")
        return view_mode

    def _cut_here(self, images: Sequence[Image.Image | ModeViews]) -> bool:
        """Whether to cut views on the calling thread: nothing to cut, one page, or one worker."""
        return self.workers == 1 or len(images) <= 1 or all(isinstance(i, ModeViews) for i in images)

    def _launch(self, batch: list[ModeViews]) -> _InFlight:
        """Queue one forward of `batch` (padded to batch_size once compiled) and its rows' way home."""
        weight = _param(self.model)
        if weight.device.type == "cuda" and self._copy_stream is None:
            self._copy_stream = torch.cuda.Stream(weight.device)
            self._upload_stream = torch.cuda.Stream(weight.device)
        size = len(batch)
        if self.full_batches:
            batch = batch + [batch[-1]] * (self.batch_size - size)
        if self._upload_stream is None:
            inputs = v1_inputs(batch, weight.device, weight.dtype)
        else:
            inputs = _uploaded(batch, weight, self._upload_stream)
        out = self.model.get_image_features(**inputs)
        return _send_home(out, size, self._copy_stream)


def _uploaded(batch: list[ModeViews], weight: torch.Tensor, stream: torch.cuda.Stream) -> dict[str, Any]:
    """`v1_inputs` made on `stream` (pixels copied and normalised there), then handed to the compute stream:
    the copy engine moves batch k+1's pixels (100 MB for 32 Base pages) while the GPU computes batch k,
    instead of the copy holding the compute stream between them."""
    compute = torch.cuda.current_stream(weight.device)
    with torch.cuda.stream(stream):
        inputs = v1_inputs(batch, weight.device, weight.dtype)
    compute.wait_stream(stream)
    for value in inputs.values():
        if isinstance(value, torch.Tensor) and value.device.type == "cuda":
            value.record_stream(compute)  # the allocator keeps them until the forward has read them
    return inputs


def _cut(image: Image.Image | ModeViews, mode: Mode) -> ModeViews:
    return image if isinstance(image, ModeViews) else make_views(image, mode)


@dataclass
class _InFlight:
    """One forward's rows (its first pages, concatenated) and pooled vectors on their way to the host:
    there once `copied` has fired (None: they were computed there)."""

    rows: torch.Tensor
    pooled: torch.Tensor
    counts: list[int]
    copied: torch.cuda.Event | None


def _send_home(out: Any, size: int, copy_stream: torch.cuda.Stream | None) -> _InFlight:
    """Queue the rows and pooled vectors of the first `size` pages of a v1 forward's output, then (on a GPU)
    their copy into pinned host memory on `copy_stream`, ordered after the forward only."""
    kept = out.pooler_output[:size]
    rows = torch.cat(kept)
    pooled = F.normalize(out.last_hidden_state[:size].float().mean(dim=1), dim=-1)  # global grid only
    counts = [r.shape[0] for r in kept]
    if copy_stream is None:
        return _InFlight(rows, pooled, counts, None)
    copy_stream.wait_stream(torch.cuda.current_stream(rows.device))
    with torch.cuda.stream(copy_stream):
        home = [
            torch.empty(t.shape, dtype=t.dtype, pin_memory=True).copy_(t, non_blocking=True)
            for t in (rows, pooled)
        ]
        copied = torch.cuda.Event()
        copied.record(copy_stream)
    for t in (rows, pooled):
        t.record_stream(copy_stream)  # the allocator keeps them until the copy has read them
    return _InFlight(home[0], home[1], counts, copied)


def _collect(flight: _InFlight) -> list[EncodedPage]:
    """EncodedPages of one forward (waits for its copy on a GPU), each in storage of its own: a page kept
    by the build does not hold its batch's buffer (pinned memory, on a GPU)."""
    if flight.copied is not None:
        flight.copied.synchronize()
    pooled = flight.pooled.clone() if flight.copied is not None else flight.pooled
    rows = flight.rows.split(flight.counts)
    return [EncodedPage(rows=r.clone(), pooled=p) for r, p in zip(rows, pooled, strict=True)]


class DeepseekOcr2Encoder:
    """DeepSeek-OCR-2 (transformers' `DeepseekOcr2ForConditionalGeneration`) with its own image processor."""

    name = "deepseek-ocr-2"
    mode = "ocr2"  # one resolution policy: 1024 px global view + 768 px tiles

    def __init__(
        self, model: DeepseekOcr2ForConditionalGeneration, image_processor: Any = None, batch_size: int = 8
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.model = model
        self.image_processor = image_processor or DeepseekOcr2ImageProcessorPil()
        self.batch_size = batch_size
        self.dim = int(model.config.get_text_config().hidden_size)
        tower = model.model.vision_tower
        self.global_queries = int(tower.query_1024_resolution.num_embeddings)
        self.tile_queries = int(tower.query_768_resolution.num_embeddings)

    def row_count(self, width: int, height: int) -> int:
        ip = self.image_processor
        if not ip.crop_to_patches:
            raise ValueError("row_count assumes the processor's default crop_to_patches=True")
        return ocr2_row_count(
            width,
            height,
            self.global_queries,
            self.tile_queries,
            ip.tile_size,
            ip.min_patches,
            ip.max_patches,
        )

    @torch.inference_mode()
    def encode(self, images: Sequence[Image.Image], mode: Mode | str | None = None) -> list[EncodedPage]:
        if mode not in (None, self.mode):
            raise ValueError(
                f"DeepSeek-OCR-2 has a single resolution policy ({self.mode!r}); mode {mode!r} is v1's"
            )
        weight = _param(self.model)
        pages: list[EncodedPage] = []
        for start in range(0, len(images), self.batch_size):
            batch = [img.convert("RGB") for img in images[start : start + self.batch_size]]
            inputs = self.image_processor(images=batch, return_tensors="pt")
            local = inputs.get("pixel_values_local")
            out = self.model.get_image_features(
                pixel_values=inputs["pixel_values"].to(weight.device, weight.dtype),
                pixel_values_local=None if local is None else local.to(weight.device, weight.dtype),
                num_local_patches=inputs["num_local_patches"],
            )
            for rows in out.pooler_output:
                glob = rows[-1 - self.global_queries : -1]  # (256, hidden): the global view's queries
                pages.append(
                    EncodedPage(rows=rows.cpu(), pooled=F.normalize(glob.float().mean(0), dim=-1).cpu())
                )
        return pages
