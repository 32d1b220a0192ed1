"""Bilinear upsampling to full image size in bands of rows, so big frames fit in memory.

A 4000 x 3000 frame with 50 channels would need 2.4 GB as one float tensor. Bilinear
interpolation (align_corners=False, edge-clamped, as F.interpolate) is separable: the width
pass runs once on the small input, the height pass per band of output rows. Consumers reduce
each band (softmax, argmax) before the next is made.
"""
from __future__ import annotations

from typing import Iterator

import torch

BAND_ELEMENTS = 1 << 23  # elements per band tensor (32 MB in fp32)


def source_taps(in_size: int, out_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(i0, i1, weight of i1) per output index, as F.interpolate's bilinear with align_corners=False."""
    scale = in_size / out_size
    source = ((torch.arange(out_size, device=device, dtype=torch.float64) + 0.5) * scale - 0.5).clamp_min(0.0)
    i0 = source.floor().long().clamp_max(in_size - 1)
    i1 = (i0 + 1).clamp_max(in_size - 1)
    return i0, i1, (source - i0).float()


def upsample_width(x: torch.Tensor, out_width: int) -> torch.Tensor:
    """[C,h,w] -> [C,h,out_width]."""
    if x.shape[-1] == out_width:
        return x
    i0, i1, w1 = source_taps(x.shape[-1], out_width, x.device)
    return x[..., i0] * (1 - w1) + x[..., i1] * w1


def bilinear_bands(x: torch.Tensor, out_size: tuple[int, int],
                   band_rows: int = 0) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield (first_row, [C,rows,W]) bands of x [C,h,w] upsampled to out_size (H,W)."""
    height, width = out_size
    wide = upsample_width(x, width)
    rows = band_rows or max(1, BAND_ELEMENTS // max(1, x.shape[0] * width))
    i0, i1, w1 = source_taps(x.shape[-2], height, x.device)
    for y0 in range(0, height, rows):
        y1 = min(y0 + rows, height)
        if x.shape[-2] == height:
            yield y0, wide[:, y0:y1]
        else:
            weight = w1[y0:y1, None]
            yield y0, wide[:, i0[y0:y1]] * (1 - weight) + wide[:, i1[y0:y1]] * weight
