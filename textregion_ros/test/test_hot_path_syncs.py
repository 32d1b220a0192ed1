"""Host syncs in the hot path (issue 16, item 1): nested-mask fusion resolves its greedy order
on the device, with a small number of host syncs that does not grow with the number of masks,
and forms the same groups as the plain greedy rule."""
from __future__ import annotations

import pytest
import torch
from torchvision.ops import box_iou

from textregion_ros.engine.boxes import inclusive_boxes
from textregion_ros.engine.mask_fusion import BOX_IOU_GATE, fuse, soft_masks
from textregion_ros.engine.sam2_masks import MaskProposals
from textregion_ros.engine.sync_audit import SyncAudit

# Fusion's syncs: one copy of the group labels (with the sweeps' convergence flag), plus one copy
# of the proposals' boxes here, where the proposals do not come from select_masks (which copies
# them in its own transfer).
FUSION_SYNC_BUDGET = 2


def reference_groups(masks: torch.Tensor, boxes: torch.Tensor, threshold: float) -> list[list[int]]:
    """The greedy rule as written in DESIGN.md 1.1, in plain Python over masks (the old loop)."""
    sums = masks.flatten(1).sum(1)
    gate = box_iou(boxes, boxes)
    used = [float(s) <= 0 for s in sums]
    groups = []
    for i in range(masks.shape[0]):
        if used[i]:
            continue
        group = [i]
        for j in range(masks.shape[0]):
            # compared in float32 tensors, as the engine does (ties at the thresholds resolve alike)
            if used[j] or j == i or not bool(gate[i, j] > BOX_IOU_GATE):
                continue
            overlap = torch.minimum(masks[i], masks[j]).sum()
            if bool(overlap / torch.minimum(sums[i], sums[j]) > threshold):
                group.append(j)
        for member in group:
            used[member] = True
        groups.append(sorted(group))
    return groups


def _proposals(logits: torch.Tensor) -> MaskProposals:
    count = logits.shape[0]
    return MaskProposals(logits.half(), torch.linspace(0.9, 0.8, count), torch.ones(count),
                         inclusive_boxes(logits > 0), torch.full((count,), 2), points=count, candidates=3 * count)


def random_scene(count: int, seed: int, size: int = 32) -> torch.Tensor:
    """Rectangles of random size and place, some nested by construction, some empty."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.full((count, size, size), -10.0)
    for k in range(count):
        kind = int(torch.randint(0, 4, (1,), generator=generator))
        if kind == 0 and k > 0:  # shrink an earlier mask: a nested part
            parent = int(torch.randint(0, k, (1,), generator=generator))
            support = (logits[parent] > 0).nonzero()
            if support.numel():
                (y1, x1), (y2, x2) = support.amin(0).tolist(), support.amax(0).tolist()
                logits[k, y1 + (y2 - y1) // 4:y2 - (y2 - y1) // 4 + 1, x1 + (x2 - x1) // 4:x2 - (x2 - x1) // 4 + 1] = 3.0
        elif kind == 1 and k > 0:  # the same mask again: a tie
            logits[k] = logits[int(torch.randint(0, k, (1,), generator=generator))]
        elif kind == 2 and k % 7 == 3:
            pass  # empty
        else:
            y, x = torch.randint(0, size - 2, (2,), generator=generator).tolist()
            h, w = torch.randint(2, size // 2, (2,), generator=generator).tolist()
            logits[k, y:y + h, x:x + w] = torch.rand((), generator=generator) * 3 + 0.5
    return logits


def nested_chain(count: int, size: int = 64) -> torch.Tensor:
    logits = torch.full((count, size, size), -10.0)
    for k in range(count):
        inset = k * (size // 2 - 1) // max(count, 1)
        logits[k, inset:size - inset, inset:size - inset] = 3.0
    return logits


def _check_same_groups(logits: torch.Tensor, threshold: float = 0.8) -> None:
    proposals = _proposals(logits)
    masks = soft_masks(proposals, tuple(logits.shape[-2:]))
    assert fuse(proposals, masks, threshold).groups == reference_groups(masks, proposals.boxes, threshold)


@pytest.mark.parametrize("seed", range(40))
def test_fusion_groups_match_the_greedy_rule_on_random_scenes(seed):
    _check_same_groups(random_scene(1 + seed % 24, seed), threshold=(0.5, 0.8, 0.95)[seed % 3])


@pytest.mark.parametrize("count", [1, 2, 5, 17, 40])
def test_fusion_groups_match_the_greedy_rule_on_nested_chains(count):
    _check_same_groups(nested_chain(count))


def test_fusion_groups_match_the_greedy_rule_for_256_masks():
    _check_same_groups(random_scene(256, seed=256))


def test_fusion_of_only_empty_masks_has_no_groups():
    proposals = _proposals(torch.full((3, 16, 16), -10.0))
    assert fuse(proposals, soft_masks(proposals, (16, 16)), 0.8).groups == []


@pytest.mark.parametrize("count", [8, 64])
def test_fusion_syncs_stay_within_budget_whatever_the_mask_count(count):
    proposals = _proposals(random_scene(count, seed=count))
    masks = soft_masks(proposals, (32, 32))
    with SyncAudit() as audit:
        fuse(proposals, masks, 0.8)
    assert audit.count.total <= FUSION_SYNC_BUDGET, audit.count.by_op


def test_the_old_fusion_loop_exceeds_the_sync_budget():
    proposals = _proposals(random_scene(64, seed=64))
    masks = soft_masks(proposals, (32, 32))
    with SyncAudit() as audit:
        reference_groups(masks, proposals.boxes, 0.8)
    assert audit.count.total > 10 * FUSION_SYNC_BUDGET


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fusion_syncs_only_where_budgeted_on_cuda():
    proposals = _proposals(random_scene(64, seed=1))
    proposals = MaskProposals(*(t.cuda() for t in (proposals.logits, proposals.iou, proposals.stability,
                                                   proposals.boxes, proposals.granularity)),
                              points=proposals.points, candidates=proposals.candidates)
    masks = soft_masks(proposals, (32, 32))
    torch.cuda.synchronize()
    with SyncAudit() as audit:
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fuse(proposals, masks, 0.8)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert audit.count.total <= FUSION_SYNC_BUDGET, audit.count.by_op
