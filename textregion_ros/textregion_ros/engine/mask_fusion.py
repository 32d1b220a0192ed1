"""Soft region masks from SAM2 proposals, with nested-mask fusion (DESIGN.md 1.1).

Greedy, in proposal order (whole, part, sub-part): each unused mask i gathers the unused masks
whose low-res box IoU with i is > 0.2 (on SAM2's inclusive boxes, as the reference) and whose
containment sum(min(mi, mj)) / min(sum mi, sum mj) is above the threshold; the group's
element-wise max becomes one region. The loop runs over masks; each step is vectorised over the
candidates and over the pixels of i's box.
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
    used = ~nonempty.clone()
    support_boxes = exclusive_boxes(masks > 0).long()  # pixel slices of each mask's support
    groups: list[list[int]] = []
    for i in range(masks.shape[0]):
        if bool(used[i]):
            continue
        candidates = torch.nonzero(~used & (box_ious[i] > BOX_IOU_GATE)).flatten()
        candidates = candidates[candidates != i]
        group = [i]
        if candidates.numel():
            x1, y1, x2, y2 = support_boxes[i].tolist()
            # min(mi, mj) vanishes outside mi's support, so i's box holds the whole overlap
            crop_i = masks[i, y1:y2, x1:x2]
            overlap = torch.minimum(crop_i[None], masks[candidates, y1:y2, x1:x2]).flatten(1).sum(1)
            containment = overlap / torch.minimum(sums[i], sums[candidates])
            group += candidates[containment > threshold].tolist()
        used[group] = True
        groups.append(group)
    return groups
