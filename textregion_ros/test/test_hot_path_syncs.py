"""Host syncs in the hot path: one steady-state frame (grid, or a region_prompts tracks non-keyframe)
stays within a stated budget of host syncs whatever the number of masks or tracks; nested-mask fusion
resolves its greedy order on the device and forms the same groups as the plain greedy rule; on CUDA the frame runs under
torch.cuda.set_sync_debug_mode("error") apart from its budgeted copies."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from engine_fixtures import photo_like, small_config

from textregion_ros.engine import TextRegionEngine
from textregion_ros.engine.boxes import inclusive_boxes
from textregion_ros.engine.mask_fusion import fuse, soft_masks
from textregion_ros.engine.sam2_masks import MaskProposals, select_masks
from textregion_ros.engine.sync_audit import SyncAudit
from textregion_ros.tooling.fusion_reference import reference_groups

# Fusion's syncs: one copy of the group labels (with the sweeps' convergence flag), plus one copy
# of the proposals' boxes here, where the proposals do not come from select_masks (which copies
# them in its own transfer).
FUSION_SYNC_BUDGET = 2
# One steady-state frame (regions + segment + ground), each a copy the next step needs on the host:
#   1. select_masks: survivor count + NMS convergence flag + survivors' boxes (fusion plans from them)
#   2. fusion: group labels + the sweeps' convergence flag
#   3. finish_regions: the compaction of the regions that kept a token (one nonzero)
#   4. segment: the label map and confidence, one copy (per band of rows; one band up to 1024 px)
#   5. ground: the detection table (chosen, class, score, box per region)
# The audit counts `.cpu()` too: on the CPU it is a no-op, on CUDA a blocking copy.
FRAME_SYNC_BUDGET = 5
QUERIES = ["mug", "table", "floor"]


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
                logits[k, y1 + (y2 - y1) // 4:y2 - (y2 - y1) // 4 + 1,
                       x1 + (x2 - x1) // 4:x2 - (x2 - x1) // 4 + 1] = 3.0
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


def test_positive_control_the_sync_counter_sees_the_host_reads_of_a_plain_python_fusion_loop():
    """The budget tests above pass if the audit counts nothing; this proves it counts: the reference
    loop reads one float per mask and one bool per gated pair back to the host, every one a sync."""
    proposals = _proposals(random_scene(64, seed=64))
    masks = soft_masks(proposals, (32, 32))
    with SyncAudit() as audit:
        reference_groups(masks, proposals.boxes, 0.8)
    assert audit.count.by_op["_local_scalar_dense"] >= masks.shape[0]  # at least float(sum) of each mask
    assert audit.count.total > 10 * FUSION_SYNC_BUDGET
    assert audit.count.total > 10 * FRAME_SYNC_BUDGET  # alone, far above a whole frame's budget


def _frame(engine: TextRegionEngine, image: np.ndarray):
    regions = engine.regions(image)
    return regions, engine.ground(regions, QUERIES, segmentation=engine.segment(regions, QUERIES))


def _candidates(engine: TextRegionEngine, count: int) -> tuple[torch.Tensor, ...]:
    """`count` synthetic SAM2 candidates at its low-res size: (logits, iou, stability, granularity)."""
    lowres = engine.config.sam2_image_size // 4
    logits = random_scene(count, seed=count, size=lowres).to(engine.device)
    iou = torch.rand(count, generator=torch.Generator().manual_seed(count)).to(engine.device)
    return logits, iou, torch.ones_like(iou), torch.arange(count).remainder(3).to(engine.device)


def _injected_frame(engine: TextRegionEngine, image: np.ndarray, candidates: tuple[torch.Tensor, ...]):
    """A frame whose proposals are synthetic candidates run through the engine's own selection (NMS,
    area, order) and finish_regions, then segment and ground."""
    frame = engine.prepare_frame(image)
    proposals = select_masks(*candidates, engine.config.box_nms_thresh, engine.config.min_mask_area,
                             points=candidates[1].shape[0])
    regions = engine.finish_regions(frame, proposals)
    return regions, engine.ground(regions, QUERIES, segmentation=engine.segment(regions, QUERIES))


def test_a_steady_state_frame_stays_within_the_sync_budget(pe_engine):
    image = photo_like()
    _frame(pe_engine, image)  # the first frame encodes the queries' text
    with SyncAudit() as audit:
        regions, _ = _frame(pe_engine, image)
    assert len(regions) > 0  # a frame with regions: every stage ran
    assert audit.count.total <= FRAME_SYNC_BUDGET, audit.count.by_op


@pytest.fixture(scope="module")
def injected_syncs(pe_engine):
    """Syncs (by op) and region count of one injected-proposal frame at 8 and at 64 candidates."""
    image = photo_like()
    _frame(pe_engine, image)
    counts = {}
    for count in (8, 64):
        candidates = _candidates(pe_engine, count)
        with SyncAudit() as audit:
            regions, _ = _injected_frame(pe_engine, image, candidates)
        counts[count] = (dict(audit.count.by_op), len(regions))
    return counts


def test_a_frame_of_injected_regions_stays_within_the_sync_budget(injected_syncs):
    for by_op, regions in injected_syncs.values():
        assert regions > 0
        assert sum(by_op.values()) <= FRAME_SYNC_BUDGET, by_op


def test_a_frame_has_the_same_syncs_at_8_and_at_64_injected_masks(injected_syncs):
    assert injected_syncs[64][1] > injected_syncs[8][1]  # more masks did reach the regions
    assert injected_syncs[8][0] == injected_syncs[64][0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fusion_syncs_only_where_budgeted_on_cuda():
    """Under sync debug "error" every sync outside sync_audit.budgeted_sync raises (CUDA's own
    detector, independent of the audit's op list); the audit's count stays within the budget."""
    proposals = _proposals(random_scene(64, seed=1))
    proposals = MaskProposals(*(t.cuda() for t in (proposals.logits, proposals.iou, proposals.stability,
                                                   proposals.boxes, proposals.granularity)),
                              points=proposals.points, candidates=proposals.candidates)
    masks = soft_masks(proposals, (32, 32))
    torch.cuda.synchronize()
    with SyncAudit() as audit:
        torch.cuda.set_sync_debug_mode("error")
        try:
            groups = fuse(proposals, masks, 0.8).groups
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert groups  # fusion ran to its end
    assert audit.count.total <= FUSION_SYNC_BUDGET, audit.count.by_op


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_frame_runs_under_sync_debug_error_on_cuda_apart_from_its_budgeted_copies():
    """Every sync outside sync_audit.budgeted_sync (a stray .item(), a blocking upload, a nonzero)
    raises here. Eager (compile off): the hot path's own code, not inductor's."""
    engine = TextRegionEngine(small_config("pe", device="cuda", compile="off"))
    image = photo_like()
    _frame(engine, image)  # warm-up: text cache, lazy CUDA state, pinned upload buffer
    candidates = _candidates(engine, 64)
    _injected_frame(engine, image, candidates)
    torch.cuda.synchronize()
    with SyncAudit() as audit:
        torch.cuda.set_sync_debug_mode("error")
        try:
            regions, _ = _frame(engine, image)
            _injected_frame(engine, image, candidates)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert len(regions) > 0
    assert audit.count.total <= 2 * FRAME_SYNC_BUDGET, audit.count.by_op


def _track_prompts(engine: TextRegionEngine, count: int):
    """A region_prompts tracks non-keyframe's prompts: `count` tracked boxes and two discovery points."""
    from textregion_ros.engine.region_prompts import RegionPrompts

    size = engine.masks.input_size
    rng = np.random.default_rng(count)
    corner = rng.uniform(0, size * 0.7, (count, 2))
    extent = rng.uniform(size * 0.1, size * 0.3, (count, 2))
    boxes = np.concatenate([corner, corner + extent], axis=1).astype(np.float32)
    return RegionPrompts(full_grid=False, boxes=boxes, points=np.array([0, 1]), skipped=0)


@pytest.fixture(scope="module")
def tracks_syncs(engine_factory):
    """Syncs (by op) and decoded prompts of one tracks non-keyframe at 8 and at 64 tracks."""
    engine = engine_factory("pe", region_prompts="tracks", max_prompts=128)
    image = photo_like()
    _frame(engine, image)
    counts = {}
    for count in (8, 64):
        prompts = _track_prompts(engine, count)
        engine.regions(image, prompts)  # any lazy state of this batch size
        with SyncAudit() as audit:
            regions = engine.regions(image, prompts)
            engine.ground(regions, QUERIES, segmentation=engine.segment(regions, QUERIES))
        counts[count] = (dict(audit.count.by_op), regions.prompts)
    return counts


def test_a_tracks_frame_stays_within_the_sync_budget(tracks_syncs):
    for by_op, record in tracks_syncs.values():
        assert not record.keyframe
        assert sum(by_op.values()) <= FRAME_SYNC_BUDGET, by_op


def test_a_tracks_frame_has_the_same_syncs_at_8_and_at_64_tracks(tracks_syncs):
    assert (tracks_syncs[8][1].from_tracks, tracks_syncs[64][1].from_tracks) == (8, 64)
    assert tracks_syncs[8][0] == tracks_syncs[64][0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_tracks_frame_runs_under_sync_debug_error_on_cuda_apart_from_its_budgeted_copies():
    engine = TextRegionEngine(small_config("pe", device="cuda", compile="off", region_prompts="tracks"))
    image = photo_like()
    prompts = _track_prompts(engine, 64)
    _frame(engine, image)
    engine.regions(image, prompts)
    torch.cuda.synchronize()
    with SyncAudit() as audit:
        torch.cuda.set_sync_debug_mode("error")
        try:
            regions = engine.regions(image, prompts)
            engine.ground(regions, QUERIES, segmentation=engine.segment(regions, QUERIES))
        finally:
            torch.cuda.set_sync_debug_mode("default")
    assert audit.count.total <= FRAME_SYNC_BUDGET, audit.count.by_op
