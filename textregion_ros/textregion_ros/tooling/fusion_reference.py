"""The greedy nested-mask fusion rule (DESIGN.md 1.1) as a plain loop over masks: the reference the
engine's on-device fusion (engine/mask_fusion.py) is checked against in the tests and timed against
in benchmarks/hot_path_syncs.py.

It is the engine's own loop before fusion moved onto the device, kept verbatim: one host sync per
leader, which is what the benchmark's "before" column counts. Test and benchmark only; the engine
never calls it.
"""
from __future__ import annotations

import torch
from torchvision.ops import box_iou

from ..engine.boxes import exclusive_boxes
from ..engine.mask_fusion import BOX_IOU_GATE


def reference_groups(masks: torch.Tensor, boxes: torch.Tensor, threshold: float) -> list[list[int]]:
    """Groups of mask indices, in proposal order: each unused non-empty mask i gathers the unused masks
    j whose boxes overlap i's (IoU above BOX_IOU_GATE) and whose overlap with i covers more than
    `threshold` of the smaller of the two masks. Each group is ascending, its leader first."""
    sums = masks.flatten(1).sum(1)
    box_ious = box_iou(boxes, boxes)
    used = ~(sums > 0)
    support_boxes = exclusive_boxes(masks > 0).long()
    groups: list[list[int]] = []
    for i in range(masks.shape[0]):
        if bool(used[i]):
            continue
        candidates = torch.nonzero(~used & (box_ious[i] > BOX_IOU_GATE)).flatten()
        candidates = candidates[candidates != i]
        group = [i]
        if candidates.numel():
            x1, y1, x2, y2 = support_boxes[i].tolist()
            crop_i = masks[i, y1:y2, x1:x2]
            overlap = torch.minimum(crop_i[None], masks[candidates, y1:y2, x1:x2]).flatten(1).sum(1)
            containment = overlap / torch.minimum(sums[i], sums[candidates])
            group += candidates[containment > threshold].tolist()
        used[group] = True
        groups.append(group)
    return groups
