"""Soft region masks from SAM2 proposals, with nested-mask fusion (DESIGN.md 1.1).

Greedy, in proposal order (whole, part, sub-part): each unused mask i gathers the unused masks
whose low-res box IoU with i is > 0.2 (on SAM2's inclusive boxes, as the reference) and whose
containment sum(min(mi, mj)) / min(sum mi, sum mj) is above the threshold; the group's
element-wise max becomes one region. The containment matrix is built once and the greedy order
resolved with vectorised sweeps (no loop over masks, a bounded number of host syncs); containment
is measured on the box-gated pairs only, each over the intersection of the two supports.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchvision.ops import box_iou

from .boxes import exclusive_boxes
from .sam2_masks import MaskProposals

BOX_IOU_GATE = 0.2
SOFT_MASK_MAX = 3.0
# Long side of the resolution soft masks are kept at; images up to this size are exact.
MASK_WORK_MAX_SIDE = 1024


@dataclass
class FusedMasks:
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
    """Group nested masks; with `enabled` False every non-empty mask is its own region."""
    count = masks.shape[0]
    sums = masks.flatten(1).sum(1)
    nonempty = sums > 0
    if not enabled or count == 0:
        groups = [[i] for i in range(count) if bool(nonempty[i])]
    else:
        gate = box_iou(proposals.boxes, proposals.boxes)  # SAM2's inclusive low-res boxes, as the reference
        groups = _greedy_groups(masks, sums, nonempty, gate, threshold)
    if not groups:
        empty = torch.zeros(0, device=masks.device)
        return FusedMasks(masks.new_zeros((0, *masks.shape[1:])), empty, empty, [])
    fused = torch.stack([masks[g].amax(0) if len(g) > 1 else masks[g[0]] for g in groups])
    iou = torch.stack([proposals.iou[g].max() for g in groups])
    stability = torch.stack([proposals.stability[g].max() for g in groups])
    return FusedMasks(fused, iou, stability, groups)


def _greedy_groups(masks: torch.Tensor, sums: torch.Tensor, nonempty: torch.Tensor,
                   box_ious: torch.Tensor, threshold: float) -> list[list[int]]:
    """The greedy rule, without a loop over masks.

    Pairs fuse when box-gated and contained (a symmetric relation A). Any still-unused j at step i
    has j > i, so i leads a group iff it is non-empty and no earlier leader is A-adjacent to it,
    and each follower joins its first A-adjacent leader. The leader set is a fixed point of one
    vectorised sweep; sweeps run in blocks, with one host check per block (one block for
    realistic scenes). One batched copy brings the group labels to the host.
    """
    count = masks.shape[0]
    adjacent = box_ious > BOX_IOU_GATE
    adjacent &= nonempty[:, None] & nonempty[None, :]
    adjacent.fill_diagonal_(False)
    adjacent = _contained_pairs(masks, sums, adjacent, threshold)
    earlier = torch.ones(count, count, dtype=torch.bool, device=masks.device).tril_(-1)  # [i, j]: j < i
    blockers = (adjacent & earlier).float()
    leader = nonempty.clone()
    while True:  # the sweep's fixed point is unique (by induction over i): stop once one sweep keeps it
        for _ in range(SWEEPS_PER_CHECK):
            previous, leader = leader, nonempty & ((blockers @ leader.float()) == 0)
        if bool(torch.equal(leader, previous)):
            break
    index = torch.arange(count, device=masks.device)
    joins = (adjacent & leader[None, :] & earlier) | (torch.diag(leader))
    owner = torch.where(joins, index[None, :], count).amin(1)  # first leader each mask joins
    owner = torch.where(nonempty, owner, count)
    labels = owner.tolist()
    groups: dict[int, list[int]] = {}
    for member, lead in enumerate(labels):
        if lead < count:
            groups.setdefault(lead, []).append(member)
    return [groups[lead] for lead in sorted(groups)]


SWEEPS_PER_CHECK = 8
# Elements of the [pairs, h, w] crops gathered at a time.
CROP_CHUNK_ELEMENTS = 1 << 25


def _contained_pairs(masks: torch.Tensor, sums: torch.Tensor, gated: torch.Tensor, threshold: float) -> torch.Tensor:
    """gated & (containment > threshold), containment measured on the box-gated pairs only.

    min(mi, mj) vanishes outside the intersection of the two supports, so each pair sums over
    that box; the boxes are gathered as one padded [pairs, h, w] tensor (validity-masked).
    Two host syncs: the pair list and the largest box.
    """
    count, height, width = masks.shape
    first, second = torch.triu(gated, 1).nonzero().unbind(1)  # the relation is symmetric
    support = exclusive_boxes(masks > 0).long()
    box = torch.cat([torch.maximum(support[first, :2], support[second, :2]),
                     torch.minimum(support[first, 2:], support[second, 2:])], 1)
    extent = (box[:, 2:] - box[:, :2]).clamp_min(0)
    crop_w, crop_h = (extent.amax(0).tolist() if first.numel() else (0, 0))
    overlap = masks.new_zeros(first.shape[0])
    step = max(1, CROP_CHUNK_ELEMENTS // max(1, crop_w * crop_h))
    cols = torch.arange(crop_w, device=masks.device)
    rows = torch.arange(crop_h, device=masks.device)
    for a in range(0, first.shape[0], step):
        b = box[a:a + step]
        xs, ys = b[:, 0:1] + cols, b[:, 1:2] + rows
        valid = (ys < b[:, 3:4])[:, :, None] & (xs < b[:, 2:3])[:, None, :]
        ys, xs = ys.clamp(max=height - 1)[:, :, None], xs.clamp(max=width - 1)[:, None, :]
        crop_i = masks[first[a:a + step, None, None], ys, xs]
        crop_j = masks[second[a:a + step, None, None], ys, xs]
        overlap[a:a + step] = (torch.minimum(crop_i, crop_j) * valid).flatten(1).sum(1)
    containment = overlap / torch.minimum(sums[first], sums[second])
    contained = torch.zeros_like(gated)
    contained[first, second] = containment > threshold
    return contained | contained.T
