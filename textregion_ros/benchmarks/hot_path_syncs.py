"""Host syncs per frame and nested-mask fusion time, before vs after the sync-free fusion.

    python -m benchmarks.hot_path_syncs --injected-regions 8,32,64,128,256 \
        --json docs/benchmarks/hot_path_syncs_cpu.json

Prints two tables, measured in one run:
  1. fusion for R injected masks (random rectangles, nested parts, exact ties, some empty; at
     --mask-size working resolution): host syncs (engine/sync_audit.py counts the ops that would
     block on CUDA) and median time, for the old per-mask loop ("before": tooling/fusion_reference.py,
     the reference the tests check fusion against too) and the engine's fuse() ("after"), and whether
     both formed the same groups;
  2. syncs in one steady-state frame (regions + segment + ground) on a small random-weight
     config, by op. Run it with PYTHONPATH pointing at another checkout to count that one.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import torch

from textregion_ros.engine.boxes import inclusive_boxes
from textregion_ros.engine.mask_fusion import fuse, soft_masks
from textregion_ros.engine.sam2_masks import MaskProposals
from textregion_ros.engine.sync_audit import SyncAudit
from textregion_ros.tooling.fusion_reference import reference_groups
from textregion_ros.tooling.small_models import small_config

from .common import timed_runs
from .scenes import synthetic_logits


def injected(count: int, size: int, seed: int) -> MaskProposals:
    """R low-res logit masks (injected_regions.synthetic_logits: rectangles, nested parts, ties, a few empty)."""
    tensor = torch.from_numpy(synthetic_logits(count, size, seed))
    return MaskProposals(tensor.half(), torch.linspace(0.9, 0.8, count), torch.ones(count),
                         inclusive_boxes(tensor > 0), torch.full((count,), 2), points=count, candidates=3 * count)


def timed(fn, repeats: int) -> tuple[float, int, object]:
    """(median seconds after a warm-up, host syncs of one more call, its result)."""
    times, _ = timed_runs(fn, repeats)
    with SyncAudit() as audit:
        result = fn()
    return statistics.median(times), audit.count.total, result


def fusion_rows(regions: list[int], size: int, repeats: int) -> list[dict]:
    rows = []
    for count in regions:
        proposals = injected(count, size, seed=count)
        masks = soft_masks(proposals, (size, size))
        before_s, before_syncs, before = timed(lambda: reference_groups(masks, proposals.boxes, 0.8), repeats)
        after_s, after_syncs, after = timed(lambda: fuse(proposals, masks, 0.8).groups, repeats)
        rows.append({"regions": count, "before_s": before_s, "after_s": after_s, "before_syncs": before_syncs,
                     "after_syncs": after_syncs, "same_groups": [sorted(g) for g in before] == after})
    return rows


def frame_syncs() -> dict:
    from textregion_ros.engine import TextRegionEngine

    # the small config with global-patch removal computed but removing nothing (its syncs count too)
    engine = TextRegionEngine(small_config("pe", remove_global_patches=True, global_patch_threshold=-1.0))
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
