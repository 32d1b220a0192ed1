"""Greedy box NMS on a fixed-size candidate set, without host syncs.

torchvision.ops.nms keeps a data-dependent number of boxes, so on CUDA its result size (and its
own kernel) round-trips through the host. Here every candidate keeps its slot: the result is a
[M] bool mask, computed from one IoU matrix by vectorised sweeps of the greedy rule.

The rule: in score order (descending, ties by index), a candidate is kept iff it is valid and no
earlier *kept* candidate overlaps it by IoU > threshold: the greedy fixed point of
greedy_sweeps.py, with B[a, b] = "b is earlier than a and overlaps it".
"""
from __future__ import annotations

import torch
from torchvision.ops import box_iou

from .greedy_sweeps import SWEEPS_PER_BLOCK, Suppression, start_sweeps

__all__ = ["SWEEPS_PER_BLOCK", "Suppression", "nms_keep", "start_nms"]


def start_nms(boxes: torch.Tensor, scores: torch.Tensor, valid: torch.Tensor, threshold: float) -> Suppression:
    """Set up greedy NMS over all candidates ([M,4] x1,y1,x2,y2 boxes, [M] scores, [M] valid) and run
    one block of sweeps. Same kept set as torchvision.ops.nms on the valid candidates."""
    count = boxes.shape[0]
    order = torch.sort(scores, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank[order] = torch.arange(count, device=boxes.device)
    earlier = rank[None, :] < rank[:, None]  # [a, b]: b comes before a
    # compared in float64, as torchvision compares its float IoU with its double threshold
    return start_sweeps((box_iou(boxes, boxes).double() > threshold) & earlier, valid)


def nms_keep(boxes: torch.Tensor, scores: torch.Tensor, valid: torch.Tensor, threshold: float) -> torch.Tensor:
    """The converged [M] keep mask (one host check per block of sweeps; for tests and simple callers)."""
    state = start_nms(boxes, scores, valid, threshold)
    while not bool(state.converged):
        state.sweep()
    return state.keep
