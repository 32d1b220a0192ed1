"""The aspect-keeping rescale of a frame, as the reference does it (DESIGN.md 1.2).

The reference rescales the uint8 image with mmcv's `imrescale`: the size is
(int(w * f + 0.5), int(h * f + 0.5)) with f = min(long_bound / long_side, short_bound / short_side),
and the pixels come from `cv2.resize(..., interpolation=cv2.INTER_LINEAR)`. SAM2 and the image
encoder both see the result, so its exact pixels decide the masks and the tokens.

INTER_LINEAR is bilinear with half-pixel centres and **no antialias**: a 2x downscale takes two
taps per axis, it does not average a wider footprint. Antialiased resizing (torch's
`antialias=True`, PIL) differs by up to ~150 grey levels on the edges of a downscaled camera frame.

cv2 computes it in fixed point, and `resize_linear_uint8` repeats that arithmetic:
- per output column, fx = float32((d + 0.5) * in / out - 0.5), sx = floor(fx); taps sx, sx + 1 with
  weights 2048 - w1 and w1 = round(2048 * (fx - sx)); a tap left of the first or right of the last
  column is clamped to that column with weight 2048 (fx = 0);
- rows the same, except that the weights keep fx and only the row indices are clamped;
- horizontal pass in integers (scale 2048), then per output pixel
  ((((S0 >> 4) * b0) >> 16) + (((S1 >> 4) * b1) >> 16) + 2) >> 2, saturated to uint8.
That is bit-exact with opencv-python-headless 4.14's `cv2.resize` on 300 random sizes, up and
down. A float bilinear `F.interpolate(..., antialias=False)` rounded to uint8 is the same up to
rounding: it is off by one grey level on about 13 % of pixels.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

WEIGHT_BITS = 11
WEIGHT_ONE = 1 << WEIGHT_BITS  # cv2's INTER_RESIZE_COEF_SCALE


def rescaled_size(height: int, width: int, scale: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of the aspect-keeping rescale: long side <= scale[0], short side <= scale[1], up or down.

    mmcv's `rescale_size` rounds half up (int(x + 0.5)), not to even as Python's round() would.
    """
    long_side, short_side = max(height, width), min(height, width)
    factor = min(scale[0] / long_side, scale[1] / short_side)
    return max(1, int(height * factor + 0.5)), max(1, int(width * factor + 0.5))


@functools.lru_cache(maxsize=32)
def _taps(in_size: int, out_size: int, clamp_weights: bool) -> tuple[np.ndarray, ...]:
    """(first tap, second tap, first weight, second weight) per output index, cv2's INTER_LINEAR.

    Cached: a camera sends frames of one size, so the taps are computed once per stream.
    """
    scale = 1.0 / (out_size / in_size)  # cv2: scale_x = 1 / inv_scale_x, in double
    position = ((np.arange(out_size, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    first = np.floor(position).astype(np.int64)
    fraction = position - first
    if clamp_weights:  # columns: a source outside the image is the edge column alone
        outside = (first < 0) | (first >= in_size - 1)
        fraction = np.where(outside, 0.0, fraction)
        first = np.where(first < 0, 0, np.where(first >= in_size - 1, in_size - 1, first))
    second_weight = np.rint(fraction.astype(np.float64) * WEIGHT_ONE).astype(np.int32)
    taps = (np.clip(first, 0, in_size - 1), np.clip(first + 1, 0, in_size - 1),
            WEIGHT_ONE - second_weight, second_weight)
    return tuple(np.ascontiguousarray(t) for t in taps)


@functools.lru_cache(maxsize=32)
def _device_taps(in_size: int, out_size: int, clamp_weights: bool, device: torch.device) -> tuple[torch.Tensor, ...]:
    """_taps as tensors on `device`, cached: no host-to-device copies per frame."""
    return tuple(torch.from_numpy(t).to(device) for t in _taps(in_size, out_size, clamp_weights))


def resize_linear_uint8(rgb: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """[H,W,C] uint8 -> [h,w,C] uint8 = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_LINEAR).

    Integer arithmetic on rgb's device, vectorised over pixels; the input itself when the size
    is unchanged.
    """
    height, width = int(rgb.shape[0]), int(rgb.shape[1])
    out_height, out_width = int(size[0]), int(size[1])
    if (height, width) == (out_height, out_width):
        return rgb
    x0, x1, a0, a1 = _device_taps(width, out_width, True, rgb.device)
    y0, y1, b0, b1 = _device_taps(height, out_height, False, rgb.device)
    pixels = rgb.to(torch.int32)
    # horizontal pass, scaled by 2048; cv2 keeps S >> 4 for the vertical pass
    across = pixels.index_select(1, x0) * a0[:, None] + pixels.index_select(1, x1) * a1[:, None]
    across >>= 4
    out = (across.index_select(0, y0) * b0[:, None, None]) >> 16
    out += (across.index_select(0, y1) * b1[:, None, None]) >> 16
    out += 2
    out >>= 2
    return out.clamp_(0, 255).to(torch.uint8)
