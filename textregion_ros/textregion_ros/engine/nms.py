"""Greedy box NMS on a fixed-size candidate set, without host syncs (issue 16, item 1).

torchvision.ops.nms keeps a data-dependent number of boxes, so on CUDA its result size (and its
own kernel) round-trips through the host. Here every candidate keeps its slot: the result is a
[M] bool mask, computed from one IoU matrix by vectorised sweeps of the greedy rule.

The rule: in score order (descending, ties by index), a candidate is kept iff it is valid and no
earlier *kept* candidate overlaps it by IoU > threshold. With B[a, b] = "b is earlier than a and
overlaps it", keep = valid & !(B keep) is a fixed point; the sweep keep <- valid & !(B keep),
started from `valid`, reaches it after at most (longest chain of suppressions + 1) sweeps, and
the fixed point is unique (by induction in score order). Sweeps run in blocks; whether a block
converged is returned as a device flag, so the caller can read it together with whatever else it
copies to the host (one sync) and run another block only in the rare scene that needs it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torchvision.ops import box_iou

# Sweeps per block: enough for every scene the tests and benchmarks build (chains of suppression
# longer than this are rare; they cost one more block, i.e. one more host check).
SWEEPS_PER_BLOCK = 8


@dataclass
class Suppression:
    """The state of one NMS run: call `sweep()` until `converged` (a device bool) reads True."""

    blockers: torch.Tensor  # [M,M] float: 1 where column b is earlier in score order and overlaps row a
    valid: torch.Tensor  # [M] bool candidates taking part
    keep: torch.Tensor  # [M] bool, the current iterate (the answer once converged)
    converged: torch.Tensor  # 0-dim bool: the last sweep left `keep` unchanged

    def sweep(self, count: int = SWEEPS_PER_BLOCK) -> "Suppression":
        """`count` more sweeps, on the device; `converged` compares the last two."""
        keep, previous = self.keep, self.keep
        for _ in range(count):
            previous, keep = keep, self.valid & ((self.blockers @ keep.float()) == 0)
        self.keep, self.converged = keep, torch.eq(keep, previous).all()
        return self


def start_nms(boxes: torch.Tensor, scores: torch.Tensor, valid: torch.Tensor, threshold: float) -> Suppression:
    """Set up greedy NMS over all candidates ([M,4] x1,y1,x2,y2 boxes, [M] scores, [M] valid) and run
    one block of sweeps. Same kept set as torchvision.ops.nms on the valid candidates."""
    count = boxes.shape[0]
    order = torch.sort(scores, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank[order] = torch.arange(count, device=boxes.device)
    earlier = rank[None, :] < rank[:, None]  # [a, b]: b comes before a
    # compared in float64, as torchvision compares its float IoU with its double threshold
    blockers = ((box_iou(boxes, boxes).double() > threshold) & earlier).float()
    return Suppression(blockers, valid, valid.clone(), torch.ones((), dtype=torch.bool, device=boxes.device)).sweep()


def nms_keep(boxes: torch.Tensor, scores: torch.Tensor, valid: torch.Tensor, threshold: float) -> torch.Tensor:
    """The converged [M] keep mask (one host check per block of sweeps; for tests and simple callers)."""
    state = start_nms(boxes, scores, valid, threshold)
    while not bool(state.converged):
        state.sweep()
    return state.keep
