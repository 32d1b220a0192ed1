"""Greedy box NMS on fixed-size tensors (engine/nms.py): the same kept set as
torchvision.ops.nms, with validity masks instead of compaction and no host sync per sweep."""
from __future__ import annotations

import pytest
import torch
from torchvision.ops import nms

from textregion_ros.engine.nms import SWEEPS_PER_BLOCK, nms_keep, start_nms
from textregion_ros.engine.sync_audit import SyncAudit


def random_boxes(count: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes on a small grid (many overlaps), scores from 6 levels (many ties), exact duplicates
    and zero-area boxes among them."""
    generator = torch.Generator().manual_seed(seed)
    corner = torch.randint(0, 30, (count, 2), generator=generator).float()
    extent = torch.randint(0, 15, (count, 2), generator=generator).float()
    boxes = torch.cat([corner, corner + extent], 1)
    scores = torch.randint(0, 6, (count,), generator=generator).float() / 6
    if count > 3:
        boxes[1] = boxes[0]  # a duplicate
        boxes[2, 2:] = boxes[2, :2]  # an empty box
    return boxes, scores


def torchvision_keep(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    keep = torch.zeros(boxes.shape[0], dtype=torch.bool)
    keep[nms(boxes, scores, threshold)] = True
    return keep


@pytest.mark.parametrize("seed", range(60))
def test_nms_keeps_what_torchvision_keeps_on_random_boxes_with_ties(seed):
    boxes, scores = random_boxes(1 + seed * 3 % 90, seed)
    threshold = (0.0, 0.3, 0.5, 0.7, 0.9)[seed % 5]
    keep = nms_keep(boxes, scores, torch.ones(len(scores), dtype=torch.bool), threshold)
    assert torch.equal(keep, torchvision_keep(boxes, scores, threshold))


def test_nms_compares_the_iou_with_the_threshold_as_torchvision_does():
    # IoU 45 / 150 is 0.3 in float32, which is above the float64 threshold 0.3: torchvision suppresses
    boxes = torch.tensor([[21.0, 28.0, 41.0, 31.0], [25.0, 28.0, 40.0, 37.0]])
    scores = torch.tensor([0.9, 0.1])
    assert nms_keep(boxes, scores, torch.ones(2, dtype=torch.bool), 0.3).tolist() == [True, False]


def test_nms_over_valid_candidates_equals_torchvision_on_the_compacted_set():
    boxes, scores = random_boxes(70, seed=7)
    valid = torch.arange(70) % 3 != 0
    keep = nms_keep(boxes, scores, valid, 0.5)
    assert not keep[~valid].any()
    assert torch.equal(keep[valid], torchvision_keep(boxes[valid], scores[valid], 0.5))


def test_nms_of_no_candidates_is_empty():
    keep = nms_keep(torch.zeros(0, 4), torch.zeros(0), torch.zeros(0, dtype=torch.bool), 0.5)
    assert keep.shape == (0,)


def test_a_suppression_chain_longer_than_one_block_converges_in_later_blocks():
    # a staircase: each box overlaps only its neighbours, scores descending, so keep/drop alternates
    # down the chain and each sweep fixes one more box
    count = 3 * SWEEPS_PER_BLOCK
    x = torch.arange(count).float() * 5
    boxes = torch.stack([x, torch.zeros(count), x + 10, torch.full((count,), 10.0)], 1)
    scores = torch.linspace(1.0, 0.5, count)
    state = start_nms(boxes, scores, torch.ones(count, dtype=torch.bool), 0.2)
    assert not bool(state.converged)
    assert torch.equal(nms_keep(boxes, scores, torch.ones(count, dtype=torch.bool), 0.2),
                       torchvision_keep(boxes, scores, 0.2))


def test_one_block_of_sweeps_runs_no_syncing_op():
    boxes, scores = random_boxes(200, seed=3)
    with SyncAudit() as audit:
        start_nms(boxes, scores, torch.ones(200, dtype=torch.bool), 0.7)
    assert audit.count.total == 0, audit.count.by_op
