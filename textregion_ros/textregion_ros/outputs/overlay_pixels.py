"""The overlay's per-pixel part (tint and outlines) as torch ops, on the device the label map lives on.

Why: on a GPU the label map is made on the device; tinting and outlining it there costs one upload of
the camera image and one download of the result instead of a host pass over every pixel. On a CPU the
label map is a numpy array and overlay.py keeps the numpy renderer (these ops on torch's CPU kernels
measured 1.5-3x slower: benchmarks/host_stages.py); the ops still run on CPU tensors, which is how the
tests compare the two renderers.

The arithmetic is exactly the reference renderer's (outputs/overlay.py, `tint_and_outline_numpy`):
out = (src * (256 - w) + colour * w + 128) >> 8 with w = round(256 * alpha) on labelled pixels and
w = 0 on unlabeled ones, then every labelled pixel whose 4-neighbour has another label (or none) in
its class colour. Integer ops only, so both renderers give the same bytes.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import torch

from ..engine.sync_audit import budgeted_sync
from ..engine.uploads import to_device

# Pixels per band: bounds the int32 temporaries (about 48 bytes per pixel, 12 MB a band) whatever the image size.
TENSOR_BAND_PIXELS = 1 << 18


def as_label_tensor(labels: Union[np.ndarray, torch.Tensor]) -> torch.Tensor:
    """HxW integer labels as a tensor where they already are (numpy: a zero-copy CPU view)."""
    if isinstance(labels, torch.Tensor):
        return labels
    return torch.from_numpy(np.ascontiguousarray(labels))


def label_range(labels: torch.Tensor) -> tuple[int, int]:
    """(min, max) of a non-empty label map, in one transfer."""
    low, high = torch.aminmax(labels)
    with budgeted_sync(labels.device):  # the overlay's range check: one copy of two numbers
        both = torch.stack([low, high]).cpu()
    return int(both[0]), int(both[1])


def tint_and_outline_tensor(rgb: np.ndarray, labels: torch.Tensor, palette: np.ndarray,
                            alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """(HxWx3 uint8 tinted and outlined image, bool [C] classes present) for labels in [-1, C).

    `rgb` is uploaded to `labels.device` once; the result comes back in one download.
    """
    device = labels.device
    height, width = labels.shape
    class_count = palette.shape[0]
    weight = int(round(alpha * 256))
    # Row 0 stands for label -1 (index = label + 1): weight 0, the pixel stays exactly as it was.
    terms = torch.zeros((class_count + 1, 4), dtype=torch.int32)
    terms[1:, :3] = torch.from_numpy(palette.astype(np.int32)) * weight
    terms[1:, 3] = 256 - weight
    terms[0, 3] = 256
    outline = torch.zeros((class_count + 1, 3), dtype=torch.uint8)
    outline[1:] = torch.from_numpy(np.ascontiguousarray(palette))
    # small host tables: non_blocking uploads (a blocking one waits for the device queue)
    terms, outline = terms.to(device, non_blocking=True), outline.to(device, non_blocking=True)
    source = to_device(rgb, device)
    out = torch.empty_like(source)
    present = torch.zeros(class_count + 1, dtype=torch.uint8, device=device)
    rows = max(1, TENSOR_BAND_PIXELS // max(1, width))
    for y0 in range(0, height, rows):
        y1 = min(y0 + rows, height)
        top, bottom = max(y0 - 1, 0), min(y1 + 1, height)
        window = labels[top:bottom]
        index = window[y0 - top:y0 - top + (y1 - y0)].long() + 1
        gathered = terms[index]  # [h,w,4]
        blended = (source[y0:y1].to(torch.int32) * gathered[..., 3:] + gathered[..., :3] + 128) >> 8
        edge = _boundary(window)[y0 - top:y0 - top + (y1 - y0)] & (index > 0)
        out[y0:y1] = torch.where(edge[..., None], outline[index], blended.to(torch.uint8))
        present.index_fill_(0, index.flatten(), 1)  # no bincount: its output size would need a sync
    with budgeted_sync(device):  # the picture and the classes it shows, in one download
        both = torch.cat([out.flatten(), present[1:]]).cpu().numpy()
    return both[:out.numel()].reshape(out.shape), both[out.numel():] > 0


def _boundary(window: torch.Tensor) -> torch.Tensor:
    """Bool, the window's shape: pixels whose 4-neighbour inside the window has another label."""
    edge = torch.zeros(window.shape, dtype=torch.bool, device=window.device)
    across = window[:, 1:] != window[:, :-1]
    edge[:, 1:] |= across
    edge[:, :-1] |= across
    down = window[1:] != window[:-1]
    edge[1:] |= down
    edge[:-1] |= down
    return edge
