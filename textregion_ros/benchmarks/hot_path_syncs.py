"""Host syncs per frame and nested-mask fusion time, before vs after the sync-free fusion.

    python textregion_ros/benchmarks/hot_path_syncs.py --injected-regions 8,32,64,128,256 \
        --json docs/benchmarks/hot_path_syncs_cpu.json

Prints two tables, measured in one run:
  1. fusion for R injected masks (random rectangles, nested parts, exact ties, some empty; at
     --mask-size working resolution): host syncs (engine/sync_audit.py counts the ops that would
     block on CUDA) and median time, for the old per-mask loop ("before", kept here verbatim as
     the reference) and the engine's fuse() ("after"), and whether both formed the same groups;
  2. syncs in one steady-state frame (regions + segment + ground) on a small random-weight
     config, by op. Run it with PYTHONPATH pointing at another checkout to count that one.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

try:
    import textregion_ros.engine  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from injected_regions import synthetic_logits
from torchvision.ops import box_iou

from textregion_ros.engine.boxes import exclusive_boxes, inclusive_boxes
from textregion_ros.engine.mask_fusion import BOX_IOU_GATE, fuse, soft_masks
from textregion_ros.engine.sam2_masks import MaskProposals
from textregion_ros.engine.sync_audit import SyncAudit


def old_greedy_groups(masks: torch.Tensor, proposals: MaskProposals, threshold: float) -> list[list[int]]:
    """The loop over masks the engine ran before the sync-free fusion (mask_fusion._greedy_groups), verbatim."""
    sums = masks.flatten(1).sum(1)
    box_ious = box_iou(proposals.boxes, proposals.boxes)
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


def injected(count: int, size: int, seed: int) -> MaskProposals:
    """R low-res logit masks (injected_regions.synthetic_logits: rectangles, nested parts, ties, a few empty)."""
    tensor = torch.from_numpy(synthetic_logits(count, size, seed))
    return MaskProposals(tensor.half(), torch.linspace(0.9, 0.8, count), torch.ones(count),
                         inclusive_boxes(tensor > 0), torch.full((count,), 2), points=count, candidates=3 * count)


def timed(fn, repeats: int) -> tuple[float, int, object]:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    with SyncAudit() as audit:
        result = fn()
    return statistics.median(times), audit.count.total, result


def fusion_rows(regions: list[int], size: int, repeats: int) -> list[dict]:
    rows = []
    for count in regions:
        proposals = injected(count, size, seed=count)
        masks = soft_masks(proposals, (size, size))
        before_s, before_syncs, before = timed(lambda: old_greedy_groups(masks, proposals, 0.8), repeats)
        after_s, after_syncs, after = timed(lambda: fuse(proposals, masks, 0.8).groups, repeats)
        rows.append({"regions": count, "before_s": before_s, "after_s": after_s, "before_syncs": before_syncs,
                     "after_syncs": after_syncs, "same_groups": [sorted(g) for g in before] == after})
    return rows


def frame_syncs() -> dict:
    from textregion_ros.engine import EngineConfig, TextRegionEngine

    config = EngineConfig(backbone="pe", model="PE-Core-T-16-384", weights="random", sam2_weights="random",
                          sam2_image_size=256, points_per_side=4, device="cpu", pred_iou_thresh=0.0,
                          stability_score_thresh=0.0, min_mask_area=0, global_patch_threshold=-1.0)
    engine = TextRegionEngine(config)
    image = np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    queries = ["mug", "table", "floor"]

    def frame():
        regions = engine.regions(image)
        engine.ground(regions, queries, segmentation=engine.segment(regions, queries))
        return regions

    frame()
    with SyncAudit() as audit:
        regions = frame()
    return {"total": audit.count.total, "by_op": dict(audit.count.by_op), "regions": int(regions.masks.shape[0])}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--injected-regions", default="8,32,64,128,256")
    parser.add_argument("--mask-size", type=int, default=128, help="working resolution of the injected masks")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-frame", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    rows = fusion_rows([int(r) for r in args.injected_regions.split(",")], args.mask_size, args.repeats)
    print(f"fusion, {args.mask_size}x{args.mask_size} masks, torch threads {torch.get_num_threads()}")
    print(f"{'R':>5} {'syncs before':>12} {'syncs after':>11} {'before ms':>10} {'after ms':>9} {'ratio':>6} same")
    for r in rows:
        print(f"{r['regions']:>5} {r['before_syncs']:>12} {r['after_syncs']:>11} {r['before_s'] * 1e3:>10.2f} "
              f"{r['after_s'] * 1e3:>9.2f} {r['before_s'] / r['after_s']:>6.2f} {r['same_groups']}")
    result = {"fusion": rows, "mask_size": args.mask_size, "torch": torch.__version__}
    if not args.no_frame:
        result["frame_syncs"] = frame_syncs()
        print("syncs in one steady-state frame (regions + segment + ground):", result["frame_syncs"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
