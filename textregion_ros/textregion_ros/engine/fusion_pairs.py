"""The pixel work of nested-mask fusion: sum(min(mi, mj)) over the box-gated pairs (DESIGN.md 1.1).

Why a host-side plan: the pairs, and how large a crop each needs, decide every tensor's shape.
Reading them from the device would cost host syncs (the pair list, the largest crop); padding
every pair to the largest crop (or to the whole mask) multiplies the pixels touched (8x at 256
masks). The proposals' low-res boxes are already on the host (select_masks copies them in its one
transfer), and they bound everything: the box-IoU gate, and where each upsampled soft mask can be
non-zero. So the host lists the candidate pairs (a superset of the exact float32 gate, which the
device applies), crops each pair to the intersection of the two bounds (min(mi, mj) vanishes
outside it, so the sum is the same), and buckets pairs of similar crop size; the device gathers
each bucket's crops with one flat index and reduces them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .uploads import to_device

# Host-side gate slack: the device applies the exact float32 `box_iou > gate`; the host plan keeps
# every pair whose float64 IoU is within this of it, a superset.
GATE_SLACK = 1e-6
# Buckets grow by sqrt(2) per axis: a crop is padded by at most ~41 % per axis.
BUCKETS_PER_OCTAVE = 2
# Elements of the [pairs, h, w] crops gathered at a time.
CROP_CHUNK_ELEMENTS = 1 << 24


@dataclass
class PairPlan:
    """Candidate pairs (first < second) and their crops, in working-resolution pixels."""

    first: np.ndarray  # [P] int64
    second: np.ndarray  # [P] int64
    origin: np.ndarray  # [P,2] int64 (y0, x0) of each pair's crop
    extent: np.ndarray  # [P,2] int64 (h, w), all >= 1
    buckets: list[np.ndarray]  # pair positions sharing one padded crop size

    def __len__(self) -> int:
        return int(self.first.shape[0])


def support_bounds(boxes: np.ndarray, lowres: tuple[int, int], work: tuple[int, int]) -> np.ndarray:
    """[M,4] (y0, x0, y1, x1), y1/x1 exclusive: where the bilinear upsampling (align_corners=False) of a
    low-res mask with inclusive box x1,y1,x2,y2 can be non-zero.

    An output pixel at x reads the low-res taps floor(s), floor(s) + 1 with weights 1 - f, f
    (s = (x + 0.5) in/out - 0.5, f its fraction), so it is non-zero only where box.x1 - 1 < s < box.x2 + 1.
    At equal sizes that is the box itself; otherwise one pixel of margin absorbs rounding.
    """
    bounds = np.zeros((boxes.shape[0], 4), dtype=np.int64)
    for axis, (low, high) in enumerate(((1, 3), (0, 2))):  # y from box columns 1,3; x from 0,2
        ratio = work[axis] / lowres[axis]
        margin = 0 if work[axis] == lowres[axis] else 1
        start = np.floor((boxes[:, low].astype(np.float64) - 0.5) * ratio - 0.5) + 1 - margin
        stop = np.ceil((boxes[:, high].astype(np.float64) + 1.5) * ratio - 0.5) + margin
        bounds[:, axis] = np.clip(start, 0, work[axis])
        bounds[:, axis + 2] = np.clip(stop, 0, work[axis])
    return bounds


def _box_iou(boxes: np.ndarray) -> np.ndarray:
    """torchvision.ops.box_iou in float64 on the host."""
    b = boxes.astype(np.float64)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    top_left = np.maximum(b[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(b[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    union = area[:, None] + area[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def plan_pairs(boxes: np.ndarray, gate: float, lowres: tuple[int, int], work: tuple[int, int]) -> PairPlan:
    """The pairs fusion must measure: gated by box IoU (with slack) and with overlapping supports."""
    first, second = np.nonzero(np.triu(_box_iou(boxes) > gate - GATE_SLACK, 1))
    bounds = support_bounds(boxes, lowres, work)
    start = np.maximum(bounds[first, :2], bounds[second, :2])
    extent = np.minimum(bounds[first, 2:], bounds[second, 2:]) - start
    overlapping = (extent > 0).all(axis=1)  # disjoint supports: min(mi, mj) = 0 everywhere
    first, second, start, extent = first[overlapping], second[overlapping], start[overlapping], extent[overlapping]
    classes = np.ceil(np.log2(extent) * BUCKETS_PER_OCTAVE).astype(np.int64)
    if len(first):
        bucket_of = classes[:, 0] * 1024 + classes[:, 1]  # one key per (height class, width class)
        order = np.argsort(bucket_of, kind="stable")
        buckets = np.split(order, np.flatnonzero(np.diff(bucket_of[order])) + 1)
    else:
        buckets = []
    return PairPlan(first.astype(np.int64), second.astype(np.int64), start, extent, buckets)


def pair_overlaps(masks: torch.Tensor, plan: PairPlan) -> torch.Tensor:
    """[P] sum over each planned crop of min(m_first, m_second), in plan order (no host sync).

    The plan goes to the device in one non-blocking copy, its pairs in bucket order, so every chunk
    of a bucket is a slice of it; the chunks' sums come back to plan order in one scatter.
    """
    device = masks.device
    _, height, width = masks.shape
    flat = masks.reshape(-1)
    if not len(plan):
        return masks.new_zeros(0)
    order = np.concatenate(plan.buckets)
    table = to_device(np.concatenate([plan.origin[order], plan.extent[order], plan.first[order, None],
                                      plan.second[order, None]], axis=1), device)  # [P,6]
    sums = []
    start = 0
    for bucket in plan.buckets:
        crop_h, crop_w = (int(v) for v in plan.extent[bucket].max(axis=0))
        rows = torch.arange(crop_h, device=device)
        cols = torch.arange(crop_w, device=device)
        step = max(1, CROP_CHUNK_ELEMENTS // (crop_h * crop_w))
        for a in range(start, start + len(bucket), step):
            part = table[a:min(a + step, start + len(bucket))]
            origin, extent, pairs = part[:, 0:2], part[:, 2:4], part[:, 4:6].T
            # padding rows / columns are clamped into the mask (valid indices) and weighted 0 below
            y = (origin[:, :1] + rows).clamp_(max=height - 1)
            x = (origin[:, 1:] + cols).clamp_(max=width - 1)[:, None, :]
            row_start = ((pairs[:, :, None] * height + y) * width)[:, :, :, None]  # [2,P,h,1]
            index = row_start + x  # [2,P,h,w]: one gather for both masks of every pair
            crops = flat.index_select(0, index.reshape(-1)).view(index.shape)  # (a 1-D index_select is the fast gather)
            smaller = torch.minimum(crops[0], crops[1])
            row_ok = (rows < extent[:, :1]).to(masks.dtype)
            col_ok = (cols < extent[:, 1:]).to(masks.dtype)
            per_row = torch.bmm(smaller, col_ok[:, :, None])[:, :, 0]  # [P,h]
            sums.append((per_row * row_ok).sum(1))
        start += len(bucket)
    overlaps = masks.new_empty(len(plan))
    overlaps[to_device(order, device)] = torch.cat(sums)
    return overlaps
