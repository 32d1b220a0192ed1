"""An input image as the models see it: validated, on the device, rescaled once (DESIGN.md 1.1-1.2).

SAM2 and the image encoder see the same image: the aspect-keeping rescale in multi_resolution
mode, the original in resize mode. Masks, boxes and labels still come out at the caller's image
size: SAM2 squashes its input to a square anyway, so its grid points and low-res masks cover the
whole image whatever its size, and the masks are upsampled to the original size afterwards.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np
import torch

from .errors import ImageError
from .rescale import rescaled_size, resize_linear_uint8

ImageLike = Union[np.ndarray, torch.Tensor]
MAX_IMAGE_PIXELS = 64_000_000


@dataclass(frozen=True)
class ModelImage:
    """One image, ready for the models."""

    size: tuple[int, int]  # (H, W) of the caller's image: what masks, boxes and labels refer to
    image: torch.Tensor  # [3,h,w] float in [0,1] on the engine's device, seen by SAM2 and the image encoder


def uint8_image(rgb: ImageLike, device: Optional[torch.device] = None) -> torch.Tensor:
    """A validated HxWx3 uint8 RGB image as a tensor on `device` (None: where it is; numpy: the CPU).

    Any numpy layout is accepted: flipped views (`rgb[..., ::-1]`, `rgb[::-1]`) have negative
    strides, which torch cannot wrap, so they are copied to a contiguous array first.
    """
    if isinstance(rgb, torch.Tensor):
        array = rgb
    else:
        contiguous = np.ascontiguousarray(rgb)  # no copy when it already is
        with warnings.catch_warnings():
            # a read-only view of a ROS message buffer is fine: the pixels are only read, then copied
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            array = torch.as_tensor(contiguous)
    if array.dim() != 3 or array.shape[-1] != 3:
        raise ImageError(f"expected an HxWx3 RGB image, got shape {tuple(array.shape)}")
    if array.dtype != torch.uint8:
        raise ImageError(f"expected uint8 pixels, got {array.dtype}")
    height, width = int(array.shape[0]), int(array.shape[1])
    if height == 0 or width == 0:
        raise ImageError(f"empty image ({height}x{width})")
    if height * width > MAX_IMAGE_PIXELS:
        raise ImageError(f"image of {height}x{width} exceeds {MAX_IMAGE_PIXELS} pixels")
    return array if device is None else array.to(device, non_blocking=True)


def image_to_float(rgb: torch.Tensor) -> torch.Tensor:
    """HxWx3 uint8 tensor -> 3xHxW float in [0, 1]."""
    return rgb.permute(2, 0, 1).float().div_(255.0)


def make_frame(rgb: torch.Tensor, scale: Optional[tuple[int, int]]) -> ModelImage:
    """The ModelImage of a validated HxWx3 uint8 tensor; `scale` None keeps the original size (resize mode)."""
    height, width = int(rgb.shape[0]), int(rgb.shape[1])
    seen = rgb if scale is None else resize_linear_uint8(rgb, rescaled_size(height, width, scale))
    return ModelImage((height, width), image_to_float(seen))
