"""Soft region masks from SAM2 proposals, with nested-mask fusion (DESIGN.md 1.1).

Greedy, in proposal order (whole, part, sub-part): each unused mask i gathers the unused masks
whose low-res box IoU with i is > 0.2 (on SAM2's inclusive boxes, as the reference) and whose
containment sum(min(mi, mj)) / min(sum mi, sum mj) is above the threshold; the group's
element-wise max becomes one region. The containment matrix is built once and the greedy order
resolved with vectorised sweeps (no loop over masks); containment is measured on the box-gated
pairs only, each over the intersection of the two supports, planned on the host from the
proposals' boxes (fusion_pairs.py). One host sync per frame: the group labels (with the sweeps'
convergence flag; a scene whose greedy chain outlasts a block of sweeps pays one more).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from .fusion_pairs import pair_overlaps, plan_pairs
from .greedy_sweeps import start_sweeps
from .sam2_masks import MaskProposals
from .sync_audit import budgeted_sync
from .uploads import to_device

BOX_IOU_GATE = 0.2
SOFT_MASK_MAX = 3.0
# Long side of the resolution soft masks are kept at; images up to this size are exact.
MASK_WORK_MAX_SIDE = 1024


@dataclass
class FusedMasks:
    """SAM2's masks after nested masks are fused into groups: one soft mask and its best scores per group."""
    masks: torch.Tensor  # [R,hw,ww] float soft masks in [0, 3] at working resolution
    iou: torch.Tensor  # [R] best predicted IoU in each group
    stability: torch.Tensor  # [R] best stability score in each group
    groups: list[list[int]]  # proposal indices fused into each region


def working_size(image_size: tuple[int, int]) -> tuple[int, int]:
    """Image size, scaled down (keeping aspect) so the long side is at most MASK_WORK_MAX_SIDE."""
    height, width = image_size
    factor = min(1.0, MASK_WORK_MAX_SIDE / max(height, width))
    return max(1, round(height * factor)), max(1, round(width * factor))


def soft_masks(proposals: MaskProposals, size: tuple[int, int]) -> torch.Tensor:
    """clamp(low-res logits, 0, 3), bilinearly upsampled to `size`: [M,h,w] float."""
    if len(proposals) == 0:
        return torch.zeros(0, *size, device=proposals.logits.device)
    clamped = proposals.logits.float().clamp_(0.0, SOFT_MASK_MAX)
    return F.interpolate(clamped[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


def fuse(proposals: MaskProposals, masks: torch.Tensor, threshold: float, enabled: bool = True) -> FusedMasks:
    """Group nested masks; with `enabled` False every non-empty mask is its own region.

    One host sync (the group labels), plus one to copy the proposals' boxes when the producer did
    not (`proposals.host_boxes` None).
    """
    count = masks.shape[0]
    sums = masks.flatten(1).sum(1)
    nonempty = sums > 0
    if enabled and count:
        labels = _greedy_labels(proposals, masks, sums, threshold)
    else:
        with budgeted_sync(masks.device):  # the sync
            labels = torch.where(nonempty, torch.arange(count, device=masks.device), count).tolist()
    label_of = np.asarray(labels, dtype=np.int64)
    members = np.flatnonzero(label_of < count)
    leaders, group_of = np.unique(label_of[members], return_inverse=True)
    if not len(leaders):
        empty = torch.zeros(0, device=masks.device)
        return FusedMasks(masks.new_zeros((0, *masks.shape[1:])), empty, empty, [])
    group_of = group_of.reshape(-1)
    order = np.argsort(group_of, kind="stable")
    groups = [part.tolist() for part in np.split(members[order], np.flatnonzero(np.diff(group_of[order])) + 1)]
    # each group starts as its leader's mask; only the followers (few) are reduced into it
    followers = members[label_of[members] != members]
    plan = to_device(np.concatenate([np.searchsorted(leaders, label_of[followers]), followers, leaders]), masks.device)
    into, follower_t, leader_t = plan.split([len(followers), len(followers), len(leaders)])
    fused, iou, stability = (values.index_select(0, leader_t) for values in
                             (masks, proposals.iou.float(), proposals.stability.float()))
    if len(followers):
        with warnings.catch_warnings():  # "index_reduce() is in beta": it is the op this needs
            warnings.filterwarnings("ignore", message="index_reduce")
            for target, values in ((fused, masks), (iou, proposals.iou.float()),
                                   (stability, proposals.stability.float())):
                target.index_reduce_(0, into, values.index_select(0, follower_t), "amax")
    return FusedMasks(fused, iou, stability, groups)


def _greedy_labels(proposals: MaskProposals, masks: torch.Tensor, sums: torch.Tensor,
                   threshold: float) -> list[int]:
    """The leader each mask joins (M for empty masks), by the greedy rule, resolved on the device.

    Pairs fuse when box-gated and contained (a symmetric relation A). Any still-unused j at step i
    has j > i, so i leads a group iff it is non-empty and no earlier leader is A-adjacent to it,
    and each follower joins its first A-adjacent leader. The leader set is the fixed point of the
    same sweeps as greedy NMS (greedy_sweeps.py, earlier = lower index); the block's convergence
    flag comes to the host in the same copy as the labels (one sync; one more per extra block).
    """
    count = masks.shape[0]
    nonempty = sums > 0
    adjacent = _contained_pairs(proposals, masks, sums, threshold)
    index = torch.arange(count, device=masks.device)
    earlier = index[None, :] < index[:, None]  # [i, j]: j < i
    state = start_sweeps(adjacent & earlier, nonempty)
    while True:
        joins = (adjacent & state.keep[None, :] & earlier) | torch.diag(state.keep)
        owner = torch.where(joins, index[None, :], count).amin(1)  # first leader each mask joins
        owner = torch.where(nonempty, owner, count)
        with budgeted_sync(masks.device):
            host = torch.cat([state.converged.long().view(1), owner]).tolist()
        if host[0]:
            return host[1:]
        state.sweep()


def _contained_pairs(proposals: MaskProposals, masks: torch.Tensor, sums: torch.Tensor,
                     threshold: float) -> torch.Tensor:
    """[M,M] bool, symmetric: box-gated (SAM2's inclusive low-res boxes, as the reference), both
    non-empty, and containment sum(min(mi, mj)) / min(sum mi, sum mj) > threshold.

    The pairs and their crops are planned on the host (fusion_pairs.plan_pairs) from the boxes
    select_masks already copied; the exact float32 gate is applied here, on the device.
    """
    count = masks.shape[0]
    boxes = proposals.host_boxes
    if boxes is None:
        with budgeted_sync(masks.device):
            boxes = np.asarray(proposals.boxes.float().tolist(), dtype=np.float32).reshape(-1, 4)
    plan = plan_pairs(boxes, BOX_IOU_GATE, _height_width(proposals.logits), _height_width(masks))
    contained = torch.zeros(count, count, dtype=torch.bool, device=masks.device)
    if len(plan):
        first, second = to_device(np.stack([plan.first, plan.second]), masks.device)
        nonempty = sums > 0
        gate = box_iou(proposals.boxes, proposals.boxes)[first, second]
        containment = pair_overlaps(masks, plan) / torch.minimum(sums[first], sums[second])
        contained[first, second] = ((gate > BOX_IOU_GATE) & nonempty[first] & nonempty[second]
                                    & (containment > threshold))
    return contained | contained.T



def _height_width(images: torch.Tensor) -> tuple[int, int]:
    """The last two sizes of a [..., H, W] tensor."""
    return int(images.shape[-2]), int(images.shape[-1])
