"""Page views -> the v1 encoder's pixel inputs: uint8 stacked once in (pinned) host memory, moved as bytes,
normalised on the device."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from encoder.modes import ModeViews

IMAGE_MEAN = 0.5  # official normalisation: (x/255 - 0.5) / 0.5
IMAGE_STD = 0.5


def host_pixels(images: Sequence[Image.Image | np.ndarray], pinned: bool = False) -> torch.Tensor:
    """Same-size images (PIL, or (H, W, 3) uint8 arrays: `ModeViews.as_arrays`) -> (N, H, W, 3) uint8 in one
    host buffer, each image copied once (pinned for a GPU, so the transfer does not hold the host)."""
    first = _rgb_array(images[0])
    host = torch.empty((len(images), *first.shape), dtype=torch.uint8, pin_memory=pinned)
    for k, image in enumerate(images):  # one at a time: a PIL image's array is a copy of its own
        host[k].numpy()[...] = first if k == 0 else _rgb_array(image)
    return host


def _rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    if isinstance(image, np.ndarray):
        return image
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def stack_uint8(images: Sequence[Image.Image | np.ndarray], device: torch.device | str) -> torch.Tensor:
    """Same-size images -> (N, 3, H, W) uint8 on `device` (normalised there: 4x fewer bytes to move than
    floats); the channel swap runs on the device."""
    on_gpu = torch.device(device).type == "cuda"
    host = host_pixels(images, pinned=on_gpu)
    pixels = host.to(device, non_blocking=True) if on_gpu else host
    return pixels.permute(0, 3, 1, 2).contiguous()  # (N, 3, H, W)


def normalise(pixels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """uint8 (..., 3, H, W) -> the official input: (x/255 - 0.5)/0.5 computed in float32, then cast."""
    return ((pixels.float() / 255.0 - IMAGE_MEAN) / IMAGE_STD).to(dtype)


def v1_inputs(
    views: Sequence[ModeViews], device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor | None]:
    """The v1 pixel-path inputs for a batch of pages in one mode.

    Returns:
        {"pixel_values": (B, 3, S, S), "pixel_values_local": (T, 3, 640, 640) or None,
         "num_local_patches": (B, 2) long (across, down), (0, 0) = no tiles} — pass as `**kwargs` to
        `DeepseekOcrForConditionalGeneration.forward`/`generate`/`get_image_features`.
    """
    if not views:
        raise ValueError("no pages to encode")
    if len({v.mode.size for v in views}) != 1:
        raise ValueError("a batch must hold pages of one mode")
    pixel_values = stack_uint8([v.global_view for v in views], device)  # (B, 3, S, S)
    tiles = [t for v in views for t in v.tiles]
    layouts = [v.grid if v.tiles else (0, 0) for v in views]
    return {
        "pixel_values": normalise(pixel_values, dtype),
        "pixel_values_local": normalise(stack_uint8(tiles, device), dtype) if tiles else None,
        # Kept on the host: the model reads the layouts as numbers, and a device tensor would cost a sync.
        "num_local_patches": torch.tensor(layouts, dtype=torch.long),
    }
